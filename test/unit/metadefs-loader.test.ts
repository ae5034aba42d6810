// The metadefs file loader (imago db load-metadefs) against a real SQLite
// database, with small definition files written here, and the property-type
// coercion the API applies to what it reads back.

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../../src/db/connect.js';
import { describeReport, loadMetadefs, LoadError, metadefFiles } from '../../src/metadefs/loader.js';
import { MetadefRepository } from '../../src/metadefs/repository.js';
import { ModelError, propertyType } from '../../src/metadefs/model.js';
import { tempDir } from '../helpers/cleanup.js';

let dir: string;
let db: Db;
let repo: MetadefRepository;

const COMPUTE = {
  namespace: 'Test::Compute',
  display_name: 'Compute things',
  description: 'For the loader test',
  visibility: 'public',
  protected: true,
  resource_type_associations: [
    { name: 'OS::Glance::Image', prefix: 'hw_' },
    { name: 'OS::Nova::Flavor', prefix: 'hw:', properties_target: 'flavor' },
  ],
  properties: {
    cpu_policy: { title: 'CPU policy', type: 'string', enum: ['shared', 'dedicated'], default: 'shared' },
    port: { title: 'Port', type: 'integer', default: 6379 },
  },
  objects: [{ name: 'Limits', required: ['max'], properties: { max: { title: 'Max', type: 'integer', minimum: 1 } } }],
  tags: [{ name: 'fast' }, { name: 'small' }],
};
const PRIVATE = { namespace: 'Test::Private', visibility: 'private', owner: 'project-x', resource_type_associations: [{ name: 'OS::Glance::Image' }] };

function writeDefs(defs: Record<string, unknown>): string {
  const d = mkdtempSync(join(dir, 'defs-'));
  for (const [file, doc] of Object.entries(defs)) writeFileSync(join(d, file), typeof doc === 'string' ? doc : JSON.stringify(doc));
  return d;
}

beforeEach(async () => {
  dir = tempDir('imago-metadefs-');
  db = openDatabase(`sqlite:///${join(dir, 'db.sqlite')}`);
  await migrate(db);
  repo = new MetadefRepository(db, true);
});
afterEach(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('loadMetadefs', () => {
  test('loads namespaces with their resource types, properties, objects and tags', async () => {
    const path = writeDefs({ 'compute.json': COMPUTE, 'private.json': PRIVATE, 'README.txt': 'not a definition' });
    const report = await loadMetadefs(repo, { path });
    assert.deepEqual(report, { created: ['Test::Compute', 'Test::Private'], merged: [], skipped: [], failed: [] });

    const ns = (await repo.namespace('Test::Compute'))!;
    assert.equal(ns.owner, 'admin', 'unowned definitions belong to "admin", as with glance-manage');
    assert.equal(ns.visibility, 'public');
    assert.equal(ns.protected, 1);
    assert.equal(ns.updated_at, null, 'loaded rows have no updated_at until they change');
    assert.equal((await repo.namespace('Test::Private'))!.owner, 'project-x');

    const types = await repo.resourceTypes();
    assert.deepEqual(types.map((t) => [t.name, t.protected]), [['OS::Glance::Image', 1], ['OS::Nova::Flavor', 1]], 'seeded resource types are protected');
    const assoc = await repo.associations(ns.id);
    assert.deepEqual(assoc.map((a) => [a.name, a.prefix, a.properties_target]), [['OS::Glance::Image', 'hw_', null], ['OS::Nova::Flavor', 'hw:', 'flavor']]);

    const props = await repo.properties(ns.id);
    assert.deepEqual(props.map((p) => [p.name, JSON.parse(p.json_schema)]), Object.entries(COMPUTE.properties), 'property documents are kept as given');
    const [obj] = await repo.objects(ns.id);
    assert.equal(obj!.name, 'Limits');
    assert.deepEqual(JSON.parse(obj!.required!), ['max']);
    assert.deepEqual(JSON.parse(obj!.json_schema), COMPUTE.objects[0]!.properties);
    assert.deepEqual((await repo.tags(ns.id)).map((t) => t.name), ['fast', 'small']);
  });

  test('is idempotent: namespaces already there are skipped', async () => {
    const path = writeDefs({ 'compute.json': COMPUTE });
    await loadMetadefs(repo, { path });
    const again = await loadMetadefs(repo, { path });
    assert.deepEqual(again, { created: [], merged: [], skipped: ['Test::Compute'], failed: [] });
    const ns = (await repo.namespace('Test::Compute'))!;
    assert.equal((await repo.properties(ns.id)).length, 2);
    assert.equal((await repo.tags(ns.id)).length, 2);
    assert.equal((await repo.resourceTypes()).length, 2);
    assert.match(describeReport(again)[0]!, /0 namespaces loaded, 0 merged, 1 already present/);
  });

  test('--merge adds what is missing, --prefer-new also updates, --overwrite replaces', async () => {
    await loadMetadefs(repo, { path: writeDefs({ 'compute.json': COMPUTE }) });
    const changed = {
      ...COMPUTE,
      description: 'changed',
      properties: { cpu_policy: { title: 'Changed', type: 'string' }, threads: { title: 'Threads', type: 'integer' } },
      tags: [{ name: 'new-tag' }],
    };
    const path = writeDefs({ 'compute.json': changed });
    const ns = (await repo.namespace('Test::Compute'))!;

    assert.deepEqual((await loadMetadefs(repo, { path, merge: true })).merged, ['Test::Compute']);
    let props = Object.fromEntries((await repo.properties(ns.id)).map((p) => [p.name, JSON.parse(p.json_schema)]));
    assert.equal(props.cpu_policy.title, 'CPU policy', 'merge keeps what exists');
    assert.equal(props.threads.title, 'Threads', 'merge adds what is missing');
    assert.deepEqual((await repo.tags(ns.id)).map((t) => t.name), ['fast', 'small', 'new-tag']);
    assert.equal((await repo.namespace('Test::Compute'))!.description, 'For the loader test');

    await loadMetadefs(repo, { path, merge: true, preferNew: true });
    props = Object.fromEntries((await repo.properties(ns.id)).map((p) => [p.name, JSON.parse(p.json_schema)]));
    assert.equal(props.cpu_policy.title, 'Changed', 'prefer-new overwrites what both have');
    const updated = (await repo.namespace('Test::Compute'))!;
    assert.equal(updated.description, 'changed');
    assert.notEqual(updated.updated_at, null);

    await loadMetadefs(repo, { path, merge: true, overwrite: true });
    const replaced = (await repo.namespace('Test::Compute'))!;
    assert.deepEqual((await repo.properties(replaced.id)).map((p) => p.name), ['cpu_policy', 'threads'], 'overwrite drops what the file no longer has');
    assert.deepEqual((await repo.tags(replaced.id)).map((t) => t.name), ['new-tag']);
    assert.equal((await repo.namespace('Test::Compute'))!.updated_at, null);
  });

  test('one file, bad files and bad options', async () => {
    const path = writeDefs({ 'a.json': PRIVATE, 'b.json': '{not json', 'c.json': { display_name: 'no namespace' }, 'd.json': { namespace: 'X', tags: 'nope' } });
    assert.deepEqual(metadefFiles(join(path, 'a.json')), [join(path, 'a.json')]);
    const report = await loadMetadefs(repo, { path });
    assert.deepEqual(report.created, ['Test::Private']);
    assert.deepEqual(report.failed.map((f) => f.file.slice(path.length + 1)), ['b.json', 'c.json', 'd.json']);
    assert.match(report.failed[1]!.error, /no "namespace"/);
    assert.equal(describeReport(report).length, 4);

    await assert.rejects(loadMetadefs(repo, { path, preferNew: true }), LoadError);
    await assert.rejects(loadMetadefs(repo, { path, merge: true, preferNew: true, overwrite: true }), LoadError);
    await assert.rejects(loadMetadefs(repo, { path: join(dir, 'missing') }), /cannot read/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(loadMetadefs(repo, { path: empty }), /no metadata definition files/);
  });
});

describe('property types as Glance reads and writes them', () => {
  test('values are coerced the way WSME does', () => {
    assert.deepEqual(
      propertyType({ title: 'T', type: 'string', default: 5, minimum: 1.9, maximum: '7', readonly: 'yes', enum: ['a'], name: 'n' }, true),
      { name: 'n', type: 'string', title: 'T', default: '5', readonly: true, minimum: 1, maximum: 7, enum: ['a'] },
    );
    assert.deepEqual(propertyType({ title: 'T', type: 'boolean', default: true }, true), { type: 'boolean', title: 'T', default: 'True' });
    assert.deepEqual(propertyType({ title: 'T', type: 'array', default: [1], items: { enum: ['x'], type: 'string' } }, true), {
      type: 'array',
      title: 'T',
      default: null,
      items: { type: 'string', enum: ['x'] },
    });
  });

  test('requests that do not fit are refused; stored documents are read leniently', () => {
    assert.throws(() => propertyType({ title: 'T', type: 'string', bogus: 1 }, true), ModelError);
    assert.throws(() => propertyType({ title: 'T' }, true), /Mandatory field missing/);
    assert.throws(() => propertyType({ title: 'T', type: 'string', enum: ['a', 1] }, true), /Wrong type/);
    assert.throws(() => propertyType({ title: 'T', type: 'array', items: { enum: [] } }, true), /items.type/);
    assert.deepEqual(propertyType({ title: 'T', type: 'string', bogus: 1, enum: ['a', 1] }, false), { type: 'string', title: 'T' });
    assert.deepEqual(propertyType('nonsense', false), {});
  });
});
