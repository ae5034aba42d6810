import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { FileSlice } from '../../src/data/fileSlice.js';
import { tempDir } from '../helpers/cleanup.js';

const data = randomBytes(3 * 1024 * 1024 + 123);
function fileWith(bytes: Buffer): string {
  const path = join(tempDir('imago-slice-'), 'f');
  writeFileSync(path, bytes);
  return path;
}

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

test('file slice: streams exactly its range, then closes the file', async () => {
  const path = fileWith(data);
  for (const [start, length] of [[0, data.length], [5, 1_500_000], [data.length - 7, 7], [100, 0]] as const) {
    const fh = await open(path, 'r');
    const slice = new FileSlice(fh, start, length);
    assert.ok((await readAll(slice)).equals(data.subarray(start, start + length)), `${start}+${length}`);
    if (!slice.closed) await once(slice, 'close');
    assert.equal(fh.fd, -1, 'file handle closed');
  }
});

test('file slice: positional reads into the caller\'s buffer', async () => {
  const slice = new FileSlice(await open(fileWith(data), 'r'), 1000, 70_000);
  const buf = Buffer.alloc(65_536);
  assert.equal(await slice.readAt(buf, 0), 65_536);
  assert.ok(buf.equals(data.subarray(1000, 1000 + 65_536)));
  assert.equal(await slice.readAt(buf, 65_536), 70_000 - 65_536, 'stops at the end of the slice, not of the file');
  assert.ok(buf.subarray(0, 70_000 - 65_536).equals(data.subarray(1000 + 65_536, 1000 + 70_000)));
  assert.equal(await slice.readAt(buf, 70_000), 0);
  slice.destroy();
});

test('file slice: a file shorter than the slice is an error, never a short success', async () => {
  const path = fileWith(data);
  const slice = new FileSlice(await open(path, 'r'), 0, data.length);
  truncateSync(path, 2_000_000);
  await assert.rejects(readAll(slice), /ended 1145851 bytes before the image did/);
  const other = new FileSlice(await open(path, 'r'), 0, data.length);
  await assert.rejects(other.readAt(Buffer.alloc(10), 2_000_000), /ended/);
  other.destroy();
});

test('file slice: an abort signal ends the stream with an AbortError and closes the file', async () => {
  const fh = await open(fileWith(data), 'r');
  const ac = new AbortController();
  const slice = new FileSlice(fh, 0, data.length, ac.signal);
  const it = slice[Symbol.asyncIterator]();
  await it.next();
  ac.abort();
  await assert.rejects(it.next(), { name: 'AbortError' });
  if (!slice.closed) await once(slice, 'close');
  assert.equal(fh.fd, -1);
});
