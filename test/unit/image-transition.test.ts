// ImageRepository.transition(): the one way an image changes status. Checked
// against the status table, guarded by the current status, and written in one
// transaction with the fields, properties and locations that go with the move.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { migrate, openDatabase, type Db } from '../../src/db/connect.js';
import { ImageRepository } from '../../src/images/repository.js';
import { nowStamp, type Image } from '../../src/images/model.js';

let db: Db;
let repo: ImageRepository;

before(async () => {
  db = openDatabase('sqlite://');
  await migrate(db);
  repo = new ImageRepository(db);
});
after(async () => db.destroy());

async function newImage(props: Record<string, string> = {}): Promise<string> {
  const now = nowStamp();
  const image: Image = {
    id: randomUUID(),
    name: 't',
    status: 'queued',
    visibility: 'shared',
    protected: false,
    os_hidden: false,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    owner: 'p1',
    size: null,
    virtual_size: null,
    min_ram: 0,
    min_disk: 0,
    container_format: 'bare',
    disk_format: 'raw',
    created_at: now,
    updated_at: now,
    properties: props,
    tags: ['t1'],
    locations: [],
  };
  await repo.create(image);
  return image.id;
}

test('a move the status table forbids is a bug: it throws and writes nothing', async () => {
  const id = await newImage();
  await assert.rejects(repo.transition(id, 'queued', 'deactivated'), /not an allowed transition/);
  await assert.rejects(repo.transition(id, ['queued', 'killed'], 'saving'), /killed -> saving/);
  assert.equal((await repo.get(id))!.status, 'queued');
});

test('the status, fields, properties and the new location are written together', async () => {
  const id = await newImage({ keep: 'k', old: 'o' });
  assert.equal(await repo.transition(id, 'queued', 'saving'), true);
  const ok = await repo.transition(id, 'saving', 'active', {
    fields: { size: 5, checksum: 'c' },
    setProperties: { keep: 'k2', added: 'a' },
    removeProperties: ['old'],
    addLocations: [{ url: 'file:///x', metadata: { store: 'fast' } }],
  });
  assert.equal(ok, true);
  const img = (await repo.get(id))!;
  assert.equal(img.status, 'active');
  assert.equal(img.size, 5);
  assert.equal(img.checksum, 'c');
  assert.deepEqual(img.properties, { keep: 'k2', added: 'a' });
  assert.deepEqual(
    img.locations.map((l) => [l.url, l.metadata, l.status]),
    [['file:///x', { store: 'fast' }, 'active']],
  );
  // appended after the existing ones
  await repo.transition(id, 'active', 'active', { addLocations: [{ url: 'file:///y', metadata: {} }] });
  assert.deepEqual((await repo.get(id))!.locations.map((l) => l.url), ['file:///x', 'file:///y']);
});

test('a lost race changes nothing: not the status, not the properties, not the locations', async () => {
  const id = await newImage({ p: '1' });
  assert.equal(await repo.transition(id, 'queued', 'saving'), true);
  // a second uploader still thinks the image is queued
  const lost = await repo.transition(id, 'queued', 'active', {
    fields: { size: 9 },
    setProperties: { p: '2' },
    addLocations: [{ url: 'file:///lost', metadata: {} }],
  });
  assert.equal(lost, false);
  const img = (await repo.get(id))!;
  assert.equal(img.status, 'saving');
  assert.equal(img.size, null);
  assert.deepEqual(img.properties, { p: '1' });
  assert.deepEqual(img.locations, []);
});

test('a guarded write keeps the status; the whole location list can be replaced', async () => {
  const id = await newImage();
  await repo.transition(id, 'queued', 'active', { locations: [{ url: 'http://a/1', metadata: {}, status: 'active' }] });
  const [first] = (await repo.get(id))!.locations;
  await repo.transition(id, 'active', 'active', {
    locations: [
      { url: 'http://a/2', metadata: {}, status: 'active' },
      { id: first!.id, url: first!.url, metadata: { note: 'kept' }, status: 'active' },
    ],
  });
  const img = (await repo.get(id))!;
  assert.equal(img.status, 'active');
  assert.deepEqual(
    img.locations.map((l) => [l.url, l.metadata]),
    [['http://a/2', {}], ['http://a/1', { note: 'kept' }]],
  );
  assert.equal(img.locations[1]!.id, first!.id, 'an existing row is updated, not replaced');
  assert.equal(await repo.transition(id, 'queued', 'queued', { fields: { name: 'x' } }), false, 'guarded by the status');
  assert.equal((await repo.get(id))!.name, 't');
});

test('deleted: the row stays (ids are never reused), everything hanging off it goes', async () => {
  const id = await newImage({ p: '1' });
  await repo.transition(id, 'queued', 'active', { addLocations: [{ url: 'http://a/1', metadata: {} }] });
  assert.equal(await repo.transition(id, ['queued', 'active'], 'deleted'), true);
  assert.equal(await repo.get(id), undefined);
  assert.equal(await repo.idTaken(id), true);
  const row = await db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  assert.equal(row.status, 'deleted');
  assert.equal(row.deleted, 1);
  assert.ok(row.deleted_at);
  for (const table of ['image_properties', 'image_tags', 'image_locations'] as const) {
    assert.equal((await db.selectFrom(table).selectAll().where('image_id', '=', id).execute()).length, 0, table);
  }
  assert.equal(await repo.transition(id, ['queued', 'active'], 'deleted'), false, 'already deleted');
});
