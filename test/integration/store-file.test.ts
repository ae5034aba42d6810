// The file store against a real folder: the shared conformance suite plus
// what only a file system has (crash leftovers, permissions, several folders).

import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { FileStore, type FileStoreOptions } from '../../src/stores/file.js';
import { readAll, runStoreConformance } from '../stores/conformance.js';

const root = await mkdtemp(join(tmpdir(), 'imago-filestore-'));
after(() => rm(root, { recursive: true, force: true }));

function optionsFor(dir: string): FileStoreOptions {
  return { id: 'file', dirs: [{ path: dir, priority: 0 }], filePerm: 0, chunkSize: 65536, thinProvisioning: false, locationMetadata: {} };
}

runStoreConformance(
  'file',
  async () => {
    const store = new FileStore(optionsFor(root));
    await store.init();
    return store;
  },
  {
    // every name in the folder that mentions the image id: the image file or a temp file
    artifacts: async (imageId) => (await readdir(root)).filter((n) => n.includes(imageId)),
    chunkSize: 1 << 20,
    maxBufferedBytes: 2 << 20,
    detailKeys: ['data_dir', 'chunk_size', 'thin_provisioning'],
    exclusiveCommit: true,
  },
);

test('file: init() removes only stale temp files (other workers may be writing theirs)', async () => {
  const dir = await mkdtemp(join(root, 'init-'));
  const stale = join(dir, '.imago-partial-aaa-000000000000');
  const live = join(dir, '.imago-partial-bbb-111111111111');
  await writeFile(stale, 'x');
  await writeFile(live, 'y');
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  await utimes(stale, twoHoursAgo, twoHoursAgo);
  await new FileStore(optionsFor(dir)).init();
  assert.deepEqual(await readdir(dir), ['.imago-partial-bbb-111111111111']);
});

test('file: an empty range reads nothing', async () => {
  const dir = await mkdtemp(join(root, 'range-'));
  const store = new FileStore(optionsFor(dir));
  await store.init();
  const w = await store.createWriter('img');
  await w.write(Buffer.from('hello'));
  const c = await w.commit();
  const o = await store.open(c.url, { offset: 2, length: 0 });
  assert.equal(o.size, 5);
  assert.equal((await readAll(o.stream)).length, 0);
});
