// Sends a FileSlice (image bytes in a local file) as the response body by reading into a few
// reused buffers: each goes back to the download when the socket says it has written it. A
// piped stream would allocate a new buffer per chunk and leave the memory to the garbage
// collector; this keeps a download's memory at BUFFERS × BUFFER_SIZE whatever the image size.

import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FileSlice } from '../data/fileSlice.js';
import { stampRequestId } from './route.js';

const BUFFER_SIZE = 1 << 20;
/** Two: one being filled from the disk while the other is on its way to the client. */
const BUFFERS = 2;
/** Buffers kept for the next downloads. */
const KEEP = 16;
const spare: Buffer[] = [];

/**
 * Writes the status and headers set on `reply`, then the slice; ends when the last byte is
 * written or the client went away (`signal`). A read error after the headers cuts the
 * connection, so the client sees a short body rather than a complete-looking one.
 */
export async function sendFileSlice(req: FastifyRequest, reply: FastifyReply, slice: FileSlice, signal: AbortSignal): Promise<void> {
  stampRequestId(req, reply);
  reply.hijack();
  const res = reply.raw;
  const free: Buffer[] = [];
  let owned = 0;
  let done = false;
  let wake: (() => void) | undefined;
  const give = (buf: Buffer) => {
    if (!done) {
      free.push(buf);
      wake?.();
    } else if (spare.length < KEEP) spare.push(buf);
  };
  const take = async (): Promise<Buffer> => {
    for (;;) {
      const buf = free.pop() ?? (owned < BUFFERS ? (owned++, spare.pop() ?? Buffer.allocUnsafeSlow(BUFFER_SIZE)) : undefined);
      if (buf) return buf;
      signal.throwIfAborted();
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  };
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
    res.writeHead(reply.statusCode);
    for (let at = 0; at < slice.length; ) {
      const buf = await take();
      const n = await slice.readAt(buf, at);
      at += n;
      // the callback runs once the socket is done with the bytes (or failed): the buffer is free
      const more = res.write(n === buf.length ? buf : buf.subarray(0, n), () => give(buf));
      if (!more) await once(res, 'drain', { signal });
    }
    res.end();
  } catch (e) {
    if (!signal.aborted) console.warn(`imago: GET ${req.url} cut short: ${(e as Error).message}`);
    res.destroy();
  } finally {
    signal.removeEventListener('abort', onAbort);
    done = true;
    spare.push(...free.splice(0, Math.max(0, KEEP - spare.length)));
    slice.destroy();
  }
}
