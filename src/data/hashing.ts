// Hashing of image data: md5 (`checksum`) plus the `os_hash_algo` multihash,
// computed over one pass. Data moves in 1 MiB batches of shared memory: the
// bytes are copied once, from the socket's small chunks into a batch, and the
// same batch is then hashed by worker threads (one per algorithm, in
// parallel, off the event loop) and written by the store. Small images are
// hashed inline, where a round trip to the workers would cost more.

import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './hashWorker.js';

export const BATCH_SIZE = 1 << 20;
/** Below this known size, hashing inline beats posting batches to workers. */
const INLINE_LIMIT = 4 << 20;

/** A pooled batch: `buf` views shared memory; give it back with release() once every reader is done. */
export interface Batch {
  buf: Buffer;
  release(): void;
}

/** A bounded pool of shared-memory batches: bounds memory per stream and gives back-pressure. */
export class BatchPool {
  private free: SharedArrayBuffer[] = [];
  private created = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly max = 8) {}

  async acquire(): Promise<SharedArrayBuffer> {
    for (;;) {
      const sab = this.free.pop();
      if (sab) return sab;
      if (this.created < this.max) {
        this.created++;
        return new SharedArrayBuffer(BATCH_SIZE);
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  give(sab: SharedArrayBuffer): void {
    this.free.push(sab);
    this.waiters.shift()?.();
  }
}

/**
 * Regroups a stream's chunks into full batches (the last one partial). `onChunk`
 * sees every original chunk first, e.g. for size limits and format inspection.
 */
export async function* batches(source: AsyncIterable<Buffer>, pool: BatchPool, onChunk?: (c: Buffer) => void): AsyncIterable<Batch> {
  let sab: SharedArrayBuffer | undefined;
  let used = 0;
  const emit = (): Batch => {
    const mine = sab!;
    const batch = { buf: Buffer.from(mine, 0, used), release: () => pool.give(mine) };
    sab = undefined;
    used = 0;
    return batch;
  };
  for await (const chunk of source) {
    onChunk?.(chunk);
    let off = 0;
    while (off < chunk.length) {
      sab ??= await pool.acquire();
      const n = Math.min(chunk.length - off, BATCH_SIZE - used);
      new Uint8Array(sab, used, n).set(chunk.subarray(off, off + n));
      used += n;
      off += n;
      if (used === BATCH_SIZE) yield emit();
    }
  }
  if (sab && used > 0) yield emit();
  else if (sab) pool.give(sab);
}

class HashPool {
  private workers: Worker[] = [];
  private next = 0;
  private nextSession = 1;
  private listeners = new Map<number, (m: FromWorker) => void>();

  constructor(private readonly size: number) {}

  private spawn(): Worker {
    // A hashing worker holds no JavaScript data to speak of: keep its heap small.
    const w = new Worker(new URL('./hashWorker.js', import.meta.url), {
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    });
    w.unref();
    w.on('message', (m: FromWorker) => this.listeners.get(m.session)?.(m));
    w.on('error', (e) => {
      for (const [session, l] of this.listeners) l({ type: 'error', session, message: e.message });
    });
    return w;
  }

  /** A worker for one algorithm of one stream, round-robin over the pool. */
  acquire(listener: (m: FromWorker) => void): { worker: Worker; session: number } {
    if (this.workers.length < this.size) this.workers.push(this.spawn());
    const worker = this.workers[this.next++ % this.workers.length]!;
    const session = this.nextSession++;
    this.listeners.set(session, listener);
    return { worker, session };
  }

  release(session: number): void {
    this.listeners.delete(session);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

let pool: HashPool | undefined;
const sharedPool = () => (pool ??= new HashPool(2));

export async function closeHashPool(): Promise<void> {
  await pool?.close();
  pool = undefined;
}

interface Remote {
  algorithm: string;
  worker: Worker;
  session: number;
  digest?: (hex: string) => void;
}

export class MultiHasher {
  private inline: Hash[] | undefined;
  private remote: Remote[] | undefined;
  private seq = 0;
  /** batch number -> [acks still expected, resolve] */
  private pending = new Map<number, { left: number; done: () => void; fail: (e: Error) => void }>();
  private failure: Error | undefined;

  /** `expectedSize`, when known and small, keeps the hashing inline. */
  constructor(
    private readonly algorithms: string[],
    opts: { expectedSize?: number | undefined } = {},
  ) {
    const hashes = algorithms.map((a) => createHash(a)); // unknown algorithms fail here, not in a worker
    if (opts.expectedSize !== undefined && opts.expectedSize <= INLINE_LIMIT) this.inline = hashes;
  }

  private start(): Remote[] {
    return (this.remote ??= this.algorithms.map((algorithm) => {
      const r: Remote = { algorithm, worker: undefined as unknown as Worker, session: 0 };
      const { worker, session } = sharedPool().acquire((m) => this.onMessage(r, m));
      r.worker = worker;
      r.session = session;
      worker.postMessage({ type: 'init', session, algorithm } satisfies ToWorker);
      return r;
    }));
  }

  private onMessage(r: Remote, m: FromWorker): void {
    if (m.type === 'ack') {
      const p = this.pending.get(m.batch);
      if (p && --p.left === 0) {
        this.pending.delete(m.batch);
        p.done();
      }
    } else if (m.type === 'digest') {
      r.digest?.(m.hex);
    } else {
      this.failure = new Error(`hashing failed: ${m.message}`);
      for (const p of this.pending.values()) p.fail(this.failure);
      this.pending.clear();
    }
  }

  /**
   * Hashes a batch. Resolves when the batch may be reused. Batches must view a
   * SharedArrayBuffer (from BatchPool) unless hashing is inline.
   */
  submit(batch: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inline) {
      for (const h of this.inline) h.update(batch);
      return Promise.resolve();
    }
    const remote = this.start();
    const n = this.seq++;
    return new Promise<void>((done, fail) => {
      this.pending.set(n, { left: remote.length, done, fail });
      for (const r of remote) {
        r.worker.postMessage({ type: 'data', session: r.session, batch: n, buffer: batch.buffer as SharedArrayBuffer, offset: batch.byteOffset, length: batch.length } satisfies ToWorker);
      }
    });
  }

  /** Hex digests by algorithm name, once every submitted batch is hashed. */
  async digest(): Promise<Record<string, string>> {
    if (this.failure) throw this.failure;
    if (this.inline) return Object.fromEntries(this.algorithms.map((a, i) => [a, this.inline![i]!.digest('hex')]));
    const remote = this.start();
    const hexes = await Promise.all(
      remote.map(
        (r) =>
          new Promise<string>((resolve) => {
            r.digest = resolve;
            r.worker.postMessage({ type: 'digest', session: r.session } satisfies ToWorker);
          }),
      ),
    );
    for (const r of remote) sharedPool().release(r.session);
    return Object.fromEntries(remote.map((r, i) => [r.algorithm, hexes[i]!]));
  }

  /** Releases worker-side state of an abandoned stream. */
  dispose(): void {
    for (const r of this.remote ?? []) {
      r.worker.postMessage({ type: 'drop', session: r.session } satisfies ToWorker);
      sharedPool().release(r.session);
    }
    this.remote = undefined;
  }
}

/** md5 + another algorithm of a whole stream, e.g. the bytes behind a location. */
export async function hashStream(source: AsyncIterable<Buffer>, algorithms: string[], onChunk?: (c: Buffer) => void): Promise<{ size: number; digests: Record<string, string> }> {
  const hasher = new MultiHasher(algorithms);
  const pool = new BatchPool();
  let size = 0;
  try {
    for await (const b of batches(source, pool, onChunk)) {
      size += b.buf.length;
      void hasher.submit(b.buf).then(b.release, b.release);
    }
    return { size, digests: await hasher.digest() };
  } catch (e) {
    hasher.dispose();
    throw e;
  }
}
