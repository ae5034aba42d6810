// One upload into an RBD image, as glance_store's rbd driver writes it: the image is created at
// the declared size (or grown in doubling steps, at most 8 GiB a step, and trimmed to the bytes
// written when the size is unknown), written in chunks of rbd_store_chunk_size (all-zero chunks
// skipped with rbd_thin_provisioning), then snapshot `snap` is created and protected.
//
// Unlike Glance, the bytes go to a temporary image (`imago-partial.<id>.<random>`) that is
// renamed to the image id only once complete, snapshot included: Nova and Cinder never see a
// half-written image under the id, a second upload of the same id fails at the rename
// (duplicate) instead of overwriting, and a crashed writer's leftovers are recognisable by
// name (RbdStore.sweep). Abort, a failure or the AbortSignal remove the temporary image.
//
// Memory is bounded: IN_FLIGHT chunks are being written by librbd while one more fills up;
// write() waits (back-pressure) when all are busy. Chunk buffers are reused.

import type { CommittedData, StoreWriter } from '../store.js';
import { StoreError } from '../store.js';
import type { Cluster, RbdImage } from './cluster.js';
import { isErrno, storeErrorOf } from './errors.js';

/** Chunks librbd writes at once. 4 × 8 MiB reached rbd import's speed here (see bench/stores.ts). */
export const IN_FLIGHT = 4;
/** Glance's cap on one resize step of an image of unknown size. */
const MAX_RESIZE_STEP = 8 * 1024 ** 3;

export interface WriterParts {
  cluster: Cluster;
  pool: string;
  image: RbdImage;
  tempName: string;
  finalName: string;
  chunkSize: number;
  thinProvisioning: boolean;
  snapshot: string;
  /** Declared size (created at it); undefined: unknown, grown while writing. */
  sizeHint: number | undefined;
  signal: AbortSignal | undefined;
  url: string;
  metadata: Record<string, unknown>;
  /** Removes the temporary image (now, or in the background while the cluster is unreachable). */
  discard(name: string): Promise<void>;
}

export class RbdWriter implements StoreWriter {
  private batch: Buffer | undefined;
  private fill = 0;
  /** Bytes accepted so far (written, in flight or in the batch). */
  private offset = 0;
  /** Current size of the image. */
  private provisioned: number;
  private step: number;
  private readonly inflight = new Set<Promise<void>>();
  private readonly spare: Buffer[] = [];
  private failure: Error | undefined;
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  private aborting: Promise<void> | undefined;
  private readonly onSignal = () => {
    this.failure ??= this.p.signal?.reason instanceof Error ? this.p.signal.reason : new Error('The upload was aborted');
    // a commit in progress sees the failure before its rename and cleans up itself
    if (this.state !== 'committing') void this.abort();
  };

  constructor(private readonly p: WriterParts) {
    this.provisioned = p.sizeHint ?? 0;
    this.step = p.chunkSize;
    p.signal?.addEventListener('abort', this.onSignal, { once: true });
  }

  async write(chunk: Buffer): Promise<void> {
    this.assertOpen();
    if (this.p.sizeHint !== undefined && this.offset + chunk.length > this.p.sizeHint) {
      throw (this.failure = new StoreError('invalid', `Size exceeds: the image was declared as ${this.p.sizeHint} bytes`));
    }
    for (let pos = 0; pos < chunk.length; ) {
      this.batch ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(this.p.chunkSize);
      const n = chunk.copy(this.batch, this.fill, pos);
      this.fill += n;
      this.offset += n;
      pos += n;
      if (this.fill === this.p.chunkSize) await this.flushBatch();
    }
  }

  async commit(): Promise<CommittedData> {
    this.assertOpen();
    this.state = 'committing';
    const { image } = this.p;
    try {
      if (this.fill > 0) await this.flushBatch();
      await this.drain();
      if (this.p.sizeHint !== undefined && this.offset !== this.p.sizeHint) {
        throw new StoreError('invalid', `Size mismatch: ${this.offset} bytes written, ${this.p.sizeHint} declared`);
      }
      if (this.provisioned !== this.offset) await image.resize(this.offset); // trim the last growth step
      await image.flush();
      await image.snap('create', this.p.snapshot);
      await image.snap('protect', this.p.snapshot);
      await image.close();
      if (this.failure) throw this.failure;
      const duplicate = () => new StoreError('duplicate', `RBD image ${this.p.pool}/${this.p.finalName} already exists`);
      await this.p.cluster.rename(this.p.pool, this.p.tempName, this.p.finalName).catch((e) => {
        throw isErrno(e, 'EEXIST') ? duplicate() : e;
      });
      // Two renames onto one name from the same client can both answer 0, the loser's doing
      // nothing (librbd 16.2.15, seen here): a source that still exists lost the race.
      if (await this.p.cluster.exists(this.p.pool, this.p.tempName)) throw duplicate();
    } catch (e) {
      this.failure ??= storeErrorOf(e, `Writing RBD image ${this.p.pool}/${this.p.finalName}`);
      this.state = 'open';
      await this.abort();
      throw this.failure;
    }
    this.state = 'committed';
    this.p.signal?.removeEventListener('abort', this.onSignal);
    return { url: this.p.url, size: this.offset, metadata: this.p.metadata };
  }

  abort(): Promise<void> {
    if (this.state === 'committed') return Promise.resolve();
    this.state = 'aborted';
    this.p.signal?.removeEventListener('abort', this.onSignal);
    this.aborting ??= (async () => {
      await Promise.allSettled(this.inflight);
      await this.p.image.close().catch(() => undefined);
      await this.p.discard(this.p.tempName);
    })();
    return this.aborting;
  }

  private assertOpen(): void {
    this.assertNotAborted();
    if (this.state !== 'open') throw new StoreError('invalid', `The writer of ${this.p.finalName} is ${this.state}`);
  }

  private assertNotAborted(): void {
    if (this.failure) throw this.failure;
    if (this.state === 'aborted') throw new StoreError('invalid', `The upload of ${this.p.finalName} was aborted`);
    this.p.signal?.throwIfAborted();
  }

  /** Hands the full (or last) batch to librbd; waits while IN_FLIGHT writes are pending. */
  private async flushBatch(): Promise<void> {
    const buf = this.batch!;
    const len = this.fill;
    const at = this.offset - len;
    this.batch = undefined;
    this.fill = 0;
    try {
      await this.grow(at + len);
    } catch (e) {
      throw (this.failure ??= storeErrorOf(e, `Growing RBD image ${this.p.pool}/${this.p.tempName} to ${at + len} bytes`));
    }
    const data = len === buf.length ? buf : buf.subarray(0, len);
    if (this.p.thinProvisioning && isZero(data)) {
      this.spare.push(buf);
      return;
    }
    const op: Promise<void> = this.p.image
      .write(at, data)
      .catch((e) => {
        this.failure ??= storeErrorOf(e, `Writing ${len} bytes at ${at} of RBD image ${this.p.pool}/${this.p.tempName}`);
      })
      .finally(() => {
        this.inflight.delete(op);
        this.spare.push(buf);
      });
    this.inflight.add(op);
    while (this.inflight.size >= IN_FLIGHT) await Promise.race(this.inflight);
    this.assertNotAborted();
  }

  private async drain(): Promise<void> {
    await Promise.all(this.inflight);
    this.assertNotAborted();
  }

  /** Unknown size: grows the image in doubling steps (Glance's resize-on-write). */
  private async grow(end: number): Promise<void> {
    if (this.p.sizeHint !== undefined || end <= this.provisioned) return;
    let size = this.provisioned;
    while (size < end) {
      size += this.step;
      this.step = Math.min(this.step * 2, MAX_RESIZE_STEP);
    }
    await this.p.image.resize(size);
    this.provisioned = size;
  }
}

const ZEROS = Buffer.alloc(1 << 20);

function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off);
    if (!b.subarray(off, off + n).equals(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}
