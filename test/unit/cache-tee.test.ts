import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DownloadEndedEarly, Handoff, TeeStream } from '../../src/cache/tee.js';

const chunks = (n: number, size: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(size, i));

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

test('tee: the client and the consumer both get every byte, in order', async () => {
  const data = chunks(50, 1000);
  const handoff = new Handoff(4096);
  const tee = pipeline(Readable.from(data), new TeeStream(handoff), () => undefined);
  const [client, consumer] = await Promise.all([collect(tee), collect(handoff)]);
  assert.ok(client.equals(Buffer.concat(data)));
  assert.ok(consumer.equals(Buffer.concat(data)));
});

test('tee: memory is bounded; a stalled consumer stalls the download past the limit', async () => {
  const handoff = new Handoff(4096);
  const source = new PassThrough();
  const tee = pipeline(source, new TeeStream(handoff), () => undefined);
  let delivered = 0;
  tee.on('data', (c: Buffer) => (delivered += c.length));
  for (const c of chunks(40, 1000)) source.write(c);
  await sleep(50);
  // The consumer never read: at most the limit plus one chunk got through to the client.
  assert.ok(delivered <= 4096 + 1000, `delivered ${delivered}`);
  assert.ok(delivered > 0);
  const consumed = collect(handoff);
  source.end();
  assert.equal((await consumed).length, 40_000);
  await new Promise((r) => tee.once('end', r));
  assert.equal(delivered, 40_000);
});

test('tee: a download that ends early makes the consumer fail, not commit', async () => {
  const handoff = new Handoff(4096);
  const source = new PassThrough();
  const tee = pipeline(source, new TeeStream(handoff), () => undefined);
  tee.resume();
  const consumed = collect(handoff);
  source.write(Buffer.alloc(1000));
  await sleep(10);
  tee.destroy(); // the client went away
  await assert.rejects(consumed, DownloadEndedEarly);
  await sleep(10);
  assert.ok(source.destroyed, 'the store stream is closed too');
});

test('tee: when the consumer gives up, the download goes on alone', async () => {
  const data = chunks(100, 1000);
  const handoff = new Handoff(2048);
  const tee = pipeline(Readable.from(data), new TeeStream(handoff), () => undefined);
  const consumer = (async () => {
    for await (const _ of handoff) {
      handoff.abandon(); // e.g. the cache disk is full
      return;
    }
  })();
  assert.ok((await collect(tee)).equals(Buffer.concat(data)));
  await consumer;
});
