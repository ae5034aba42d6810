// Copies a download into the cache while it streams to the client: the bytes
// go on to the client at once and are handed, one chunk at a time, to a
// consumer (the cache writer). Memory stays bounded: the next chunk is only
// accepted once the writer took the previous one. The writer learns when the
// download ended early (client gone, store error) and then drops what it has;
// if the writer gives up (disk full, bad checksum) the download goes on alone.

import { Transform, type TransformCallback } from 'node:stream';

/** What the consumer sees when the download stopped before its last byte (client gone, store error). */
export class DownloadEndedEarly extends Error {
  constructor(cause: Error | null) {
    super('the download ended before its last byte', cause ? { cause } : undefined);
  }
}

/** A one-slot hand-over from a stream to an async consumer. */
export class Handoff implements AsyncIterable<Buffer> {
  private slot: { chunk: Buffer; taken: () => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  /** The consumer stopped reading: chunks are no longer handed over. */
  private abandoned = false;
  private wake: (() => void) | undefined;

  /** Resolves once the consumer took the chunk (at once if it is gone). */
  put(chunk: Buffer): Promise<void> {
    if (this.abandoned || this.ended) return Promise.resolve();
    return new Promise((taken) => {
      this.slot = { chunk, taken };
      this.notify();
    });
  }

  /** The stream completed: the consumer sees the end after the last chunk. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The stream ended early: the consumer's next read throws. No effect after end(). */
  fail(e: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = e;
    this.release();
    this.notify();
  }

  /** Called by the consumer when it stops reading, whatever the reason. */
  abandon(): void {
    this.abandoned = true;
    this.release();
  }

  private release(): void {
    this.slot?.taken();
    this.slot = undefined;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const s = this.slot;
      if (s) {
        this.slot = undefined;
        s.taken();
        yield s.chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** The pass-through stream put between the store and the HTTP response. */
export class TeeStream extends Transform {
  private finished = false;

  constructor(private readonly handoff: Handoff) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.push(chunk);
    this.handoff.put(chunk).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.finished = true;
    this.handoff.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // Also called after a normal end (autoDestroy), when fail() no longer matters.
    if (!this.finished) this.handoff.fail(new DownloadEndedEarly(err));
    cb(err);
  }
}
