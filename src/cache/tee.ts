// Copies a download into the cache while it streams to the client: the bytes
// go on to the client at once and are handed to a consumer (the cache writer).
// Memory stays bounded: once 8 MiB wait for the writer, the download waits for
// it too (as Glance's tee, whose writes are inline). The writer learns when the
// download ended early (client gone, store error) and then drops what it has;
// if the writer gives up (disk full, bad checksum) the download goes on alone.

import { Transform, type TransformCallback } from 'node:stream';

/** What the consumer sees when the download stopped before its last byte (client gone, store error). */
export class DownloadEndedEarly extends Error {
  constructor(cause: Error | null) {
    super('the download ended before its last byte', cause ? { cause } : undefined);
  }
}

/** Bytes handed over but not yet taken by the consumer, at most (beyond one chunk). */
const HANDOFF_LIMIT = 8 << 20;

/**
 * A bounded hand-over from a stream to an async consumer: up to `limit` bytes wait
 * for the consumer, so that a disk write in progress does not stall the download.
 */
export class Handoff implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  /** The consumer stopped reading: chunks are no longer handed over. */
  private abandoned = false;
  /** The consumer waiting for a chunk, the producer waiting for room. */
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly limit = HANDOFF_LIMIT) {}

  /** Resolves once there is room for more (at once if the consumer is gone). */
  put(chunk: Buffer): Promise<void> {
    if (this.abandoned || this.ended) return Promise.resolve();
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.notifyConsumer();
    if (this.queued <= this.limit) return Promise.resolve();
    return new Promise((room) => (this.wakeProducer = room));
  }

  /** The stream completed: the consumer sees the end after the last chunk. */
  end(): void {
    this.ended = true;
    this.notifyConsumer();
  }

  /** The stream ended early: the consumer's next read throws. No effect after end(). */
  fail(e: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = e;
    this.drop();
    this.notifyConsumer();
  }

  /** Called by the consumer when it stops reading, whatever the reason. */
  abandon(): void {
    this.abandoned = true;
    this.drop();
  }

  private drop(): void {
    this.queue = [];
    this.queued = 0;
    this.notifyProducer();
  }

  private notifyConsumer(): void {
    const w = this.wakeConsumer;
    this.wakeConsumer = undefined;
    w?.();
  }

  private notifyProducer(): void {
    const w = this.wakeProducer;
    this.wakeProducer = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.length;
        if (this.queued <= this.limit) this.notifyProducer();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wakeConsumer = r));
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
