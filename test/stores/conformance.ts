// The behaviour every Store driver must show against its real backend. A
// driver's integration test calls runStoreConformance() once with a factory
// for a configured store and a probe that sees the backend's raw state, so
// "nothing left behind" is checked against the server, not the driver's word.
//
// What it holds a driver to (the Store contract in src/stores/store.ts, made precise):
// - committed bytes read back identical, for sizes 0, 1, odd, around and above the driver's
//   chunk/part size and several MiB, with the size known (sizeHint) or not; stat() agrees;
// - write() resolves only when the caller may reuse its buffer;
// - ranged reads (offset, offset+length, to the end) when capabilities.rangeRead;
// - abort() and a fired AbortSignal leave nothing on the backend (the signal alone suffices);
// - a missing object is StoreError('not_found') for open, stat and delete;
// - a second writer for a committed image id fails with 'duplicate' and the original stays;
// - concurrent writers and readers do not mix bytes; a read AbortSignal errors the stream;
// - back-pressure: a fast source never makes a writer hold more than maxBufferedBytes;
// - detail() is a flat object with exactly the driver's Glance keys.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Readable } from 'node:stream';
import { StoreError, type CommittedData, type Store, type StoreWriter, type WriteOptions } from '../../src/stores/store.js';

export interface ConformanceOptions {
  /**
   * Everything the backend holds for one image id, read from the backend itself: the committed
   * object plus any temp file, multipart upload or segment. [] means nothing is left.
   */
  artifacts(imageId: string): Promise<string[]>;
  /** The driver's unit of buffering (write batch or multipart part size): sizes around it are tested. */
  chunkSize: number;
  /** Most bytes one writer may hold in memory, e.g. (parts in flight + 1) × part size. */
  maxBufferedBytes: number;
  /** Keys detail() must return (exactly these). */
  detailKeys: readonly string[];
  /**
   * Two writers racing on one image id: exactly one commit wins and the other fails with
   * 'duplicate'. Without it, the stored bytes must still be one writer's payload, whole.
   */
  exclusiveCommit?: boolean;
  /** Bytes pushed through one writer in the back-pressure test (default 256 MiB). */
  backPressureBytes?: number;
  /** Per-test timeout in ms (default 120 s). */
  timeoutMs?: number;
  /** How long a driver may take to clean up after its AbortSignal fires (default 10 s). */
  cleanupWithinMs?: number;
}

const MiB = 1 << 20;

export function runStoreConformance(name: string, makeStore: () => Promise<Store>, opts: ConformanceOptions): void {
  const timeout = opts.timeoutMs ?? 120_000;
  const cleanupWithin = opts.cleanupWithinMs ?? 10_000;
  const chunk = opts.chunkSize;

  describe(`store conformance: ${name}`, { timeout: timeout * 20 }, () => {
    let store: Store;
    /** URLs committed by tests and not yet deleted: removed at the end whatever happened. */
    const leftovers = new Set<string>();

    before(async () => {
      store = await makeStore();
    });

    after(async () => {
      for (const url of leftovers) await store.delete(url).catch(() => undefined);
      await store.close?.();
    });

    async function put(imageId: string, data: Buffer, writeSize = 65536, wopts: WriteOptions = {}): Promise<CommittedData> {
      const w = await store.createWriter(imageId, wopts);
      try {
        await writeAll(w, data, writeSize);
      } catch (e) {
        await w.abort();
        throw e;
      }
      const c = await w.commit();
      leftovers.add(c.url);
      return c;
    }

    async function remove(url: string): Promise<void> {
      await store.delete(url);
      leftovers.delete(url);
    }

    it('identity and detail() shape', { timeout }, () => {
      assert.equal(typeof store.id, 'string');
      assert.ok(store.id.length > 0);
      assert.equal(typeof store.type, 'string');
      assert.equal(typeof store.weight, 'number');
      assert.ok(store.schemes.length > 0, 'schemes must not be empty');
      for (const k of ['write', 'delete', 'rangeRead'] as const) assert.equal(typeof store.capabilities[k], 'boolean');
      assert.ok(store.capabilities.write, 'conformance needs a writable store');
      const d = store.detail();
      assert.deepEqual(Object.keys(d).sort(), [...opts.detailKeys].sort());
      for (const [k, v] of Object.entries(d)) {
        assert.ok(['string', 'number', 'boolean'].includes(typeof v), `detail().${k} must be a scalar, got ${typeof v}`);
      }
      assert.doesNotThrow(() => JSON.stringify(d));
    });

    const sizes = [0, 1, 4099, chunk - 1, chunk, chunk + 1, 2 * chunk + 12_345, 3 * MiB + 17, 7 * MiB + 3];
    for (const size of [...new Set(sizes)].sort((a, b) => a - b)) {
      for (const hinted of [true, false]) {
        it(`write+commit ${size} bytes (${hinted ? 'size known' : 'size unknown'}) reads back identical`, { timeout }, async () => {
          const id = randomUUID();
          const data = randomBytes(size);
          // odd write sizes so chunk boundaries never line up with the driver's
          const c = await put(id, data, size < 10_000 ? 7 : 65_521, hinted ? { sizeHint: size } : {});
          assert.equal(c.size, size);
          assert.ok(store.schemes.includes(c.url.slice(0, c.url.indexOf(':'))), `url scheme of ${c.url} not in schemes`);
          assert.equal(typeof c.metadata, 'object');
          assert.equal((await store.stat(c.url)).size, size);
          const o = await store.open(c.url);
          assert.equal(o.size, size);
          assert.equal(sha(await readAll(o.stream)), sha(data));
          assert.ok((await opts.artifacts(id)).length > 0, 'the backend shows nothing for a committed image');
          await remove(c.url);
          assert.deepEqual(await opts.artifacts(id), []);
        });
      }
    }

    it('write() may reuse its buffer once the promise resolves', { timeout }, async () => {
      const id = randomUUID();
      const size = 2 * chunk + 777;
      const data = randomBytes(size);
      const scratch = Buffer.alloc(65_536);
      const w = await store.createWriter(id);
      for (let off = 0; off < size; off += scratch.length) {
        const n = data.copy(scratch, 0, off, off + scratch.length);
        await w.write(scratch.subarray(0, n));
        scratch.fill(0xa5); // a driver that kept a reference now holds garbage
      }
      const c = await w.commit();
      leftovers.add(c.url);
      assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
      await remove(c.url);
    });

    it('ranged reads', { timeout }, async (t) => {
      if (!store.capabilities.rangeRead) {
        t.diagnostic('store has no rangeRead capability: ranged reads not tested');
        return;
      }
      const id = randomUUID();
      const size = 2 * chunk + 4321;
      const data = randomBytes(size);
      const c = await put(id, data);
      const cases: Array<[number, number | undefined]> = [
        [0, 1],
        [0, size],
        [1, 10],
        [chunk - 3, 7],
        [chunk, chunk],
        [size - 1, 1],
        [size - 1, undefined],
        [12_345, undefined],
        [0, undefined],
        [size - 100, 100],
      ];
      for (const [offset, length] of cases) {
        const o = await store.open(c.url, { offset, length });
        assert.equal(o.size, size, 'size is the object size, not the range size');
        const got = await readAll(o.stream);
        const want = data.subarray(offset, length === undefined ? undefined : offset + length);
        assert.equal(got.length, want.length, `range ${offset}+${length}`);
        assert.ok(got.equals(want), `range ${offset}+${length} content`);
      }
      await remove(c.url);
    });

    it('abort() leaves nothing behind', { timeout }, async () => {
      for (const bytes of [0, 100, 3 * chunk + 5]) {
        const id = randomUUID();
        const w = await store.createWriter(id, { sizeHint: bytes || undefined });
        await writeAll(w, randomBytes(bytes), 65_536);
        await w.abort();
        await w.abort(); // idempotent
        assert.deepEqual(await opts.artifacts(id), [], `after abort of ${bytes} bytes`);
      }
    });

    it('delete, then open/stat/delete give not_found', { timeout }, async () => {
      const id = randomUUID();
      const c = await put(id, randomBytes(1000));
      await remove(c.url);
      await assertKind(store.open(c.url), 'not_found');
      await assertKind(store.stat(c.url), 'not_found');
      await assertKind(store.delete(c.url), 'not_found');
      assert.deepEqual(await opts.artifacts(id), []);
    });

    it('an image the store never had: not_found', { timeout }, async (t) => {
      const id = randomUUID();
      const c = await put(id, randomBytes(10));
      if (!c.url.includes(id)) {
        t.diagnostic('location does not contain the image id: cannot derive a URL for a missing image');
      } else {
        const missing = c.url.replace(id, randomUUID());
        await assertKind(store.open(missing), 'not_found');
        await assertKind(store.stat(missing), 'not_found');
        await assertKind(store.delete(missing), 'not_found');
      }
      await remove(c.url);
    });

    it('a second write to a committed image id is a duplicate and keeps the original', { timeout }, async () => {
      const id = randomUUID();
      const first = randomBytes(5000);
      const c = await put(id, first);
      await assertKind(
        (async () => {
          const w = await store.createWriter(id);
          try {
            await writeAll(w, randomBytes(3000), 1000);
            await w.commit();
          } catch (e) {
            await w.abort();
            throw e;
          }
        })(),
        'duplicate',
      );
      assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(first));
      await remove(c.url);
      assert.deepEqual(await opts.artifacts(id), []);
    });

    it('two writers racing on one image id', { timeout }, async () => {
      const id = randomUUID();
      const payloads = [randomBytes(chunk + 99), randomBytes(chunk + 77)];
      const writers = await Promise.allSettled(payloads.map(() => store.createWriter(id)));
      const results = await Promise.allSettled(
        writers.map(async (w, i) => {
          if (w.status === 'rejected') throw w.reason;
          try {
            await writeAll(w.value, payloads[i]!, 4096);
            return await w.value.commit();
          } catch (e) {
            await w.value.abort();
            throw e;
          }
        }),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ c: r.value, i }] : []));
      for (const r of results) if (r.status === 'rejected') assert.equal(kindOf(r.reason), 'duplicate', String(r.reason));
      assert.ok(won.length >= 1, 'one writer must win');
      if (opts.exclusiveCommit) assert.equal(won.length, 1, 'exactly one writer may commit');
      for (const { c } of won) leftovers.add(c.url);
      const stored = sha(await readAll((await store.open(won[0]!.c.url)).stream));
      assert.ok(
        won.some(({ i }) => sha(payloads[i]!) === stored),
        'stored bytes must be one winner payload, whole',
      );
      await remove(won[0]!.c.url);
      for (const { c } of won.slice(1)) leftovers.delete(c.url);
      assert.deepEqual(await opts.artifacts(id), []);
    });

    it('concurrent writers of different images', { timeout }, async () => {
      const jobs = Array.from({ length: 4 }, (_, i) => ({ id: randomUUID(), data: randomBytes(chunk + 1000 * i + 1) }));
      const committed = await Promise.all(jobs.map((j, i) => put(j.id, j.data, 8192 + i * 1111)));
      for (const [i, c] of committed.entries()) {
        assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(jobs[i]!.data));
      }
      await Promise.all(committed.map((c) => remove(c.url)));
    });

    it('concurrent readers', { timeout }, async () => {
      const id = randomUUID();
      const data = randomBytes(2 * chunk + 3);
      const c = await put(id, data);
      const ranged = store.capabilities.rangeRead;
      const reads = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const offset = ranged ? i * 1000 : 0;
          return { offset, got: await readAll((await store.open(c.url, ranged ? { offset } : {})).stream) };
        }),
      );
      for (const r of reads) assert.ok(r.got.equals(data.subarray(r.offset)), `reader at ${r.offset}`);
      await remove(c.url);
    });

    it('AbortSignal during write: write/commit reject and the driver cleans up by itself', { timeout }, async () => {
      const id = randomUUID();
      const ac = new AbortController();
      const w = await store.createWriter(id, { signal: ac.signal });
      await writeAll(w, randomBytes(2 * chunk + 10), 65_536);
      ac.abort();
      await assert.rejects(writeAll(w, randomBytes(2 * chunk), 65_536), 'write after the signal fired');
      await assert.rejects(w.commit(), 'commit after the signal fired');
      await waitFor(async () => (await opts.artifacts(id)).length === 0, cleanupWithin, async () => `left: ${await opts.artifacts(id)}`);
      await w.abort(); // harmless afterwards
      assert.deepEqual(await opts.artifacts(id), []);
    });

    it('an already aborted signal refuses the write', { timeout }, async () => {
      const id = randomUUID();
      const signal = AbortSignal.abort();
      await assert.rejects(async () => {
        const w = await store.createWriter(id, { signal });
        try {
          await writeAll(w, randomBytes(1000), 100);
          await w.commit();
        } catch (e) {
          await w.abort();
          throw e;
        }
      });
      assert.deepEqual(await opts.artifacts(id), []);
    });

    it('AbortSignal during read ends the stream with an error', { timeout }, async () => {
      const id = randomUUID();
      const c = await put(id, randomBytes(3 * chunk));
      const ac = new AbortController();
      const o = await store.open(c.url, { signal: ac.signal });
      const it = o.stream[Symbol.asyncIterator]();
      await it.next();
      ac.abort();
      await assert.rejects(
        (async () => {
          const deadline = Date.now() + 10_000;
          for (;;) {
            const r = await it.next();
            if (r.done) throw new Error('stream ended normally after abort: reader would see a truncated image as complete');
            assert.ok(Date.now() < deadline, 'stream kept flowing 10 s after abort');
          }
        })(),
        (e: Error) => !/ended normally/.test(e.message),
      );
      await remove(c.url);
    });

    it('back-pressure: memory stays bounded while a fast source writes', { timeout: Math.max(timeout, 600_000) }, async (t) => {
      const total = opts.backPressureBytes ?? 256 * MiB;
      const m = await measureWrite(store, randomUUID(), total);
      leftovers.add(m.committed.url);
      t.diagnostic(describeMeasure(m, opts.maxBufferedBytes));
      assert.equal((await store.stat(m.committed.url)).size, total);
      assert.ok(
        m.peakLiveBytes <= opts.maxBufferedBytes + MEASURE_SLACK,
        `writer held ${(m.peakLiveBytes / MiB).toFixed(1)} MiB, more than its bound ${(opts.maxBufferedBytes / MiB).toFixed(0)} MiB + slack`,
      );
      await remove(m.committed.url);
    });
  });
}

/** Allowance over a driver's declared buffer bound: SDK and socket buffers, GC timing. */
export const MEASURE_SLACK = 16 * MiB;

export interface WriteMeasure {
  committed: CommittedData;
  seconds: number;
  /** Most Buffer/ArrayBuffer memory alive (after a GC) above the starting point. */
  peakLiveBytes: number;
  /** Most RSS above the starting point. */
  peakRssBytes: number;
}

/**
 * Writes `total` bytes from a fast source (one reused 1 MiB buffer) and samples memory every
 * 16 MiB after a forced GC, so the figure is what the writer really holds, not garbage.
 * The samples pause the source for ~10 ms each: far too little to hide a writer that runs ahead.
 */
export async function measureWrite(store: Store, imageId: string, total: number, wopts: WriteOptions = {}): Promise<WriteMeasure> {
  const gc = exposeGc();
  const buf = randomBytes(MiB);
  // Buffers' memory is released by a sweeper thread after the GC: give it a moment, or
  // freed garbage still counts as live
  const collect = async () => {
    gc();
    await sleep(10);
    gc();
  };
  await collect();
  const base = process.memoryUsage();
  let peakLiveBytes = 0;
  let peakRssBytes = 0;
  const sample = async () => {
    await collect();
    const m = process.memoryUsage();
    peakLiveBytes = Math.max(peakLiveBytes, m.arrayBuffers - base.arrayBuffers);
    peakRssBytes = Math.max(peakRssBytes, m.rss - base.rss);
  };
  const started = performance.now();
  const w = await store.createWriter(imageId, wopts);
  let committed: CommittedData;
  try {
    for (let written = 0; written < total; written += buf.length) {
      await w.write(written + buf.length <= total ? buf : buf.subarray(0, total - written));
      if ((written / MiB) % 16 === 15) await sample();
    }
    committed = await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return { committed, seconds: (performance.now() - started) / 1000, peakLiveBytes, peakRssBytes };
}

export function describeMeasure(m: WriteMeasure, bound?: number): string {
  const mb = (n: number) => (n / MiB).toFixed(1);
  return (
    `${mb(m.committed.size)} MiB in ${m.seconds.toFixed(2)} s (${(m.committed.size / MiB / m.seconds).toFixed(0)} MiB/s); ` +
    `peak live buffers +${mb(m.peakLiveBytes)} MiB, peak RSS +${mb(m.peakRssBytes)} MiB` +
    (bound !== undefined ? ` (bound ${mb(bound)} MiB)` : '')
  );
}

export async function writeAll(w: StoreWriter, data: Buffer, writeSize: number): Promise<void> {
  for (let off = 0; off < data.length; off += writeSize) await w.write(data.subarray(off, off + writeSize));
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function kindOf(e: unknown): string | undefined {
  return e instanceof StoreError ? e.kind : undefined;
}

export async function assertKind(p: Promise<unknown>, kind: StoreError['kind']): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected StoreError('${kind}'), got ${String(e)}`);
    assert.equal(e.kind, kind, `expected StoreError('${kind}'), got '${e.kind}': ${e.message}`);
    return e;
  }
  assert.fail(`expected StoreError('${kind}'), but it succeeded`);
}

export async function waitFor(cond: () => Promise<boolean>, ms: number, describe: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`not done within ${ms} ms: ${await describe()}`);
    await sleep(100);
  }
}

/** gc() without a command-line flag, so `node --test` runs as is. */
function exposeGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
