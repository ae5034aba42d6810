// Worker thread side of MultiHasher: keeps one running hash per session and
// hashes batches straight out of shared memory, acknowledging each batch so
// the uploader knows when a buffer may be reused.

import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export type ToWorker =
  | { type: 'init'; session: number; algorithm: string }
  | { type: 'data'; session: number; batch: number; buffer: SharedArrayBuffer; offset: number; length: number }
  | { type: 'digest'; session: number }
  | { type: 'drop'; session: number };

export type FromWorker =
  | { type: 'ack'; session: number; batch: number }
  | { type: 'digest'; session: number; hex: string }
  | { type: 'error'; session: number; message: string };

const hashes = new Map<number, Hash>();
const port = parentPort!;

port.on('message', (msg: ToWorker) => {
  try {
    switch (msg.type) {
      case 'init':
        hashes.set(msg.session, createHash(msg.algorithm));
        break;
      case 'data':
        hashes.get(msg.session)?.update(new Uint8Array(msg.buffer, msg.offset, msg.length));
        port.postMessage({ type: 'ack', session: msg.session, batch: msg.batch } satisfies FromWorker);
        break;
      case 'digest': {
        const h = hashes.get(msg.session);
        hashes.delete(msg.session);
        port.postMessage({ type: 'digest', session: msg.session, hex: h ? h.digest('hex') : '' } satisfies FromWorker);
        break;
      }
      case 'drop':
        hashes.delete(msg.session);
        break;
    }
  } catch (e) {
    port.postMessage({ type: 'error', session: msg.session, message: (e as Error).message } satisfies FromWorker);
  }
});
