// The one upload pipeline every ingest path shares (PUT /file today; stage,
// web-download and copy reuse it): source stream -> size limits -> hashes ->
// store writer, committed only when everything succeeded and aborted (no bytes
// left behind) on any failure, including the client going away.

import type { CommittedData, StoreWriter } from '../stores/store.js';
import { batches, BatchPool, MultiHasher } from './hashing.js';
import { ChecksumMismatchError, SizeLimitError, SizeMismatchError } from '../errors/index.js';

/** Sees every chunk in order, e.g. the format inspector; throwing from feed() or finish() aborts the upload. */
export interface StreamObserver {
  feed(chunk: Buffer): void;
  /** After the last chunk, before the store commits. */
  finish?(): void;
}

export interface IngestOptions {
  /** md5 for `checksum` plus os_hash_algo (sha512 by default). */
  hashAlgorithm: string;
  /** Hard cap: image_size_cap. */
  sizeCap: number;
  /** Bytes left in the owner's storage quota, when one applies. */
  quotaRemaining?: number | undefined;
  /** x-openstack-image-size: the upload must be exactly this long. */
  declaredSize?: number | undefined;
  observers?: StreamObserver[];
  signal?: AbortSignal | undefined;
  /** The md5 the data must have (copies of existing data, e.g. the image cache): checked before commit. */
  expectedChecksum?: string | undefined;
}

/** Options of one ingest: [DEFAULT] hashing_algorithm and image_size_cap, then the path's own. */
export function ingestOptions(
  api: { hashingAlgorithm: string; imageSizeCap: number },
  own: Omit<IngestOptions, 'hashAlgorithm' | 'sizeCap'>,
): IngestOptions {
  return { hashAlgorithm: api.hashingAlgorithm, sizeCap: api.imageSizeCap, ...own };
}

export interface IngestResult extends CommittedData {
  checksum: string;
  hashAlgorithm: string;
  hashValue: string;
}

export async function ingest(source: AsyncIterable<Buffer>, writer: StoreWriter, opts: IngestOptions): Promise<IngestResult> {
  const hasher = new MultiHasher(opts.hashAlgorithm === 'md5' ? ['md5'] : ['md5', opts.hashAlgorithm], { expectedSize: opts.declaredSize });
  const pool = new BatchPool();
  let size = 0;
  // Limits and inspection look at every chunk as it arrives; the rest works on 1 MiB batches.
  const onChunk = (chunk: Buffer) => {
    opts.signal?.throwIfAborted();
    size += chunk.length;
    if (size > opts.sizeCap) throw new SizeLimitError('image_size_cap', opts.sizeCap);
    if (opts.quotaRemaining !== undefined && size > opts.quotaRemaining) throw new SizeLimitError('storage_quota', opts.quotaRemaining);
    if (opts.declaredSize !== undefined && size > opts.declaredSize) throw new SizeMismatchError(opts.declaredSize, size);
    for (const o of opts.observers ?? []) o.feed(chunk);
  };
  try {
    if (opts.declaredSize !== undefined && opts.declaredSize > opts.sizeCap) throw new SizeLimitError('image_size_cap', opts.sizeCap);
    if (opts.declaredSize !== undefined && opts.quotaRemaining !== undefined && opts.declaredSize > opts.quotaRemaining) {
      throw new SizeLimitError('storage_quota', opts.quotaRemaining);
    }
    for await (const batch of batches(source, pool, onChunk)) {
      // The workers hash while the store writes the same batch; it returns to the pool when both are done.
      const hashed = hasher.submit(batch.buf);
      // A hashing failure surfaces at the next submit() or at digest().
      hashed.then(batch.release, batch.release);
      await writer.write(batch.buf);
    }
    if (opts.declaredSize !== undefined && size !== opts.declaredSize) throw new SizeMismatchError(opts.declaredSize, size);
    for (const o of opts.observers ?? []) o.finish?.();
    const digests = await hasher.digest();
    if (opts.expectedChecksum !== undefined && digests.md5 !== opts.expectedChecksum) {
      throw new ChecksumMismatchError(opts.expectedChecksum, digests.md5!);
    }
    const committed = await writer.commit();
    return {
      ...committed,
      size,
      checksum: digests.md5!,
      hashAlgorithm: opts.hashAlgorithm,
      hashValue: digests[opts.hashAlgorithm]!,
    };
  } catch (e) {
    hasher.dispose();
    await writer.abort().catch(() => undefined);
    throw e;
  }
}
