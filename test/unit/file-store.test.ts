import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileStore } from '../../src/stores/file.js';
import { StoreError } from '../../src/stores/store.js';
import { tempDir } from '../helpers/cleanup.js';

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

function makeStore(opts: Partial<ConstructorParameters<typeof FileStore>[0]> = {}) {
  const dir = tempDir('imago-fs-');
  const store = new FileStore({ id: 'file', dirs: [{ path: dir, priority: 0 }], filePerm: 0, chunkSize: 65536, thinProvisioning: false, locationMetadata: {}, ...opts });
  return { store, dir };
}

test('file store: nothing is visible before commit, abort leaves nothing', async () => {
  const { store, dir } = makeStore();
  await store.init();
  const w = await store.createWriter('img-1');
  await w.write(Buffer.from('hello '));
  assert.deepEqual(readdirSync(dir).filter((f) => f === 'img-1'), [], 'not visible before commit');
  await w.write(Buffer.from('world'));
  const c = await w.commit();
  assert.equal(c.size, 11);
  assert.equal(c.url, `file://${join(dir, 'img-1')}`);
  assert.equal(readFileSync(join(dir, 'img-1'), 'utf8'), 'hello world');
  const { stream, size } = await store.open(c.url, { offset: 6, length: 3 });
  assert.equal(size, 11);
  assert.equal((await readAll(stream)).toString(), 'wor');

  const w2 = await store.createWriter('img-2');
  await w2.write(Buffer.alloc(3 << 20, 1));
  await w2.abort();
  assert.deepEqual(readdirSync(dir), ['img-1']);
  await assert.rejects(store.createWriter('img-1'), (e: unknown) => e instanceof StoreError && e.kind === 'duplicate');
  await store.delete(c.url);
  await assert.rejects(store.open(c.url), (e: unknown) => e instanceof StoreError && e.kind === 'not_found');
});

test('file store: refuses locations outside its folders', async () => {
  const { store } = makeStore();
  await store.init();
  await assert.rejects(store.open('file:///etc/passwd'), (e: unknown) => e instanceof StoreError && e.kind === 'bad_uri');
  await assert.rejects(store.delete('file:///etc/hostname'), (e: unknown) => e instanceof StoreError && e.kind === 'bad_uri');
});

test('file store: thin provisioning leaves holes, file_perm applies', async () => {
  const { store, dir } = makeStore({ thinProvisioning: true, filePerm: 0o640 });
  await store.init();
  const w = await store.createWriter('thin');
  await w.write(Buffer.from('start'));
  for (let i = 0; i < 8; i++) await w.write(Buffer.alloc(1 << 20));
  await w.write(Buffer.from('end'));
  const c = await w.commit();
  const st = statSync(join(dir, 'thin'));
  assert.equal(st.size, 5 + 8 * (1 << 20) + 3);
  assert.equal(c.size, st.size);
  assert.ok(st.blocks * 512 < st.size / 2, `expected a sparse file, got ${st.blocks * 512} bytes allocated`);
  assert.equal(st.mode & 0o777, 0o640);
  const data = readFileSync(join(dir, 'thin'));
  assert.equal(data.subarray(0, 5).toString(), 'start');
  assert.equal(data.subarray(-3).toString(), 'end');
});

test('file store: filesystem_store_datadirs — highest priority first, a folder without room is passed over', async () => {
  const low = tempDir('imago-fs-low-');
  const high = tempDir('imago-fs-high-');
  const store = new FileStore({ id: 'file', dirs: [{ path: low, priority: 100 }, { path: high, priority: 200 }], filePerm: 0, chunkSize: 65536, thinProvisioning: false, locationMetadata: {} });
  await store.init();
  const w = await store.createWriter('prio', { sizeHint: 10 });
  await w.write(Buffer.from('0123456789'));
  const c = await w.commit();
  assert.equal(c.url, `file://${join(high, 'prio')}`);
  await assert.rejects(store.createWriter('huge', { sizeHint: Number.MAX_SAFE_INTEGER }), (e: unknown) => e instanceof StoreError && e.kind === 'storage_full');
});

test('file store options: datadirs with priorities, octal permissions, and their mistakes', async () => {
  const { fileStoreOptionsFrom } = await import('../../src/stores/file.js');
  const { OptionReader } = await import('../../src/config/options.js');
  const { parseIni } = await import('../../src/config/ini.js');
  const reader = (text: string) => new OptionReader(parseIni(`[glance_store]\n${text}`), 'glance_store');
  const o = fileStoreOptionsFrom('file', reader('filesystem_store_datadirs = /a:100\nfilesystem_store_datadirs = /b:200\nfilesystem_store_file_perm = 640'), '/d', false);
  assert.deepEqual(o.dirs, [{ path: '/a', priority: 100 }, { path: '/b', priority: 200 }]);
  assert.equal(o.filePerm, 0o640);
  assert.throws(() => fileStoreOptionsFrom('file', reader('filesystem_store_datadir = /x\nfilesystem_store_datadirs = /a:1'), '/d', false), /mutually exclusive/);
  assert.throws(() => fileStoreOptionsFrom('file', reader('filesystem_store_file_perm = 200'), '/d', false), /owner read/);
  assert.equal(fileStoreOptionsFrom('file', reader(''), '/default', true).locationMetadata.store, 'file');
});
