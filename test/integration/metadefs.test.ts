// The Metadata Definitions API (/v2/metadefs/*) over HTTP against the real
// server, with the no-auth identity headers: an admin, and members of two
// projects. Definitions are loaded with the real `imago db load-metadefs`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, client, rawRequest, startImago, type Imago } from '../helpers/server.js';
import { tempDir } from '../helpers/cleanup.js';

const run = promisify(execFile);
type Client = ReturnType<typeof client>;

let imago: Imago;
let fixtures: string;
let admin: Client;
let a: Client;
let b: Client;
let noRole: Client;

const NS = '/v2/metadefs/namespaces';

/** A definition file as Glance ships them (small, written here). */
const SEED = {
  namespace: 'Seed::Compute',
  display_name: 'Seeded compute',
  description: 'Loaded from a file',
  visibility: 'public',
  protected: true,
  resource_type_associations: [
    { name: 'OS::Glance::Image', prefix: 'hw_' },
    { name: 'OS::Nova::Flavor', prefix: 'hw:' },
  ],
  properties: { cpu_policy: { title: 'CPU Policy', type: 'string', enum: ['shared', 'dedicated'] }, port: { title: 'Port', type: 'integer', default: 6379 } },
  objects: [{ name: 'Limits', required: ['max'], properties: { max: { title: 'Max', type: 'integer' } } }],
  tags: [{ name: 'seeded' }],
};

before(async () => {
  imago = await startImago();
  admin = client(imago.url, { project: 'admin-project', roles: 'admin,member,reader', user: 'admin-user' });
  a = client(imago.url, { project: 'project-a', roles: 'member,reader', user: 'a-user' });
  b = client(imago.url, { project: 'project-b', roles: 'member,reader', user: 'b-user' });
  noRole = client(imago.url, { project: 'project-a', roles: '', user: 'nobody' });
  fixtures = tempDir('imago-metadefs-fixtures-');
  writeFileSync(join(fixtures, 'seed.json'), JSON.stringify(SEED));
});
after(async () => {
  await imago.stop();
  rmSync(fixtures, { recursive: true, force: true });
});

const names = (r: { json: { namespaces: { namespace: string }[] } }) => r.json.namespaces.map((n) => n.namespace);

async function createNs(body: Record<string, unknown>, who: Client = admin) {
  const r = await who.post(NS, body);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

describe('db load-metadefs', () => {
  test('loads definition files into the running service, once', async () => {
    const load = () => run(process.execPath, [CLI, 'db', 'load-metadefs', '--data-dir', imago.dataDir, '--path', fixtures]);
    assert.match((await load()).stdout, /1 namespaces loaded, 0 merged, 0 already present/);
    assert.match((await load()).stdout, /0 namespaces loaded, 0 merged, 1 already present/);
    const ns = await a.get(`${NS}/Seed::Compute`);
    assert.equal(ns.status, 200);
    assert.equal(ns.json.owner, 'admin');
    assert.equal(ns.json.protected, true);
    assert.equal(ns.json.updated_at, undefined, 'never changed since it was loaded');
    assert.deepEqual(ns.json.properties.port, { type: 'integer', title: 'Port', default: '6379' }, 'a default reads back as text, as in Glance');
    assert.deepEqual(ns.json.objects[0].required, ['max']);
    assert.deepEqual(ns.json.tags, [{ name: 'seeded' }]);
    const types = (await a.get('/v2/metadefs/resource_types')).json.resource_types.map((t: { name: string }) => t.name);
    assert.deepEqual(types, ['OS::Glance::Image', 'OS::Nova::Flavor']);
  });

  test('bad options fail without touching anything', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'db', 'load-metadefs', '--data-dir', imago.dataDir, '--path', fixtures, '--overwrite']), /only go with --merge/);
    await assert.rejects(run(process.execPath, [CLI, 'db', 'load-metadefs', '--data-dir', imago.dataDir, '--path', join(fixtures, 'none')]), /cannot read/);
  });
});

describe('schemas', () => {
  test('every metadefs schema, for anyone, read-only', async () => {
    const expected: Record<string, string> = {
      namespace: 'namespace',
      namespaces: 'namespaces',
      resource_type: 'resource_type_association',
      resource_types: 'resource_type_associations',
      property: 'property',
      properties: 'properties',
      object: 'object',
      objects: 'objects',
      tag: 'tag',
      tags: 'tags',
    };
    for (const [path, name] of Object.entries(expected)) {
      const r = await b.get(`/v2/schemas/metadefs/${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.json.name, name);
    }
    assert.deepEqual((await b.get('/v2/schemas/metadefs/property')).json.required, ['type', 'title', 'name']);
    const post = await b.post('/v2/schemas/metadefs/tags', {});
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
  });
});

describe('namespaces', () => {
  test('create, show, update (a full replace), delete', async () => {
    const created = await admin.post(NS, { namespace: 'crud-ns', display_name: 'CRUD', description: 'first' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), `${imago.url}${NS}/crud-ns`);
    assert.deepEqual(
      { ...created.json, created_at: undefined, updated_at: undefined },
      {
        namespace: 'crud-ns',
        display_name: 'CRUD',
        description: 'first',
        visibility: 'private',
        protected: false,
        owner: 'admin-project',
        created_at: undefined,
        updated_at: undefined,
        self: `${NS}/crud-ns`,
        schema: '/v2/schemas/metadefs/namespace',
      },
    );
    assert.match(created.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((await admin.post(NS, { namespace: 'crud-ns' })).status, 409);
    assert.equal((await admin.get(`${NS}/crud-ns`)).json.description, 'first');

    const renamed = await admin.put(`${NS}/crud-ns`, { namespace: 'crud-ns2', visibility: 'public', protected: true, owner: 'project-a' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.namespace, 'crud-ns2');
    assert.equal(renamed.json.description, undefined, 'what the PUT leaves out is reset');
    assert.equal(renamed.json.owner, 'project-a');
    assert.equal((await admin.get(`${NS}/crud-ns`)).status, 404);
    assert.equal((await admin.put(`${NS}/crud-ns2`, { namespace: 'Seed::Compute' })).status, 409);

    const reset = await admin.put(`${NS}/crud-ns2`, { namespace: 'crud-ns2' });
    assert.deepEqual([reset.json.visibility, reset.json.protected, reset.json.owner], ['private', false, 'admin-project']);
    assert.equal((await admin.del(`${NS}/crud-ns2`)).status, 204);
    assert.equal((await admin.get(`${NS}/crud-ns2`)).status, 404);
    assert.equal((await admin.del(`${NS}/crud-ns2`)).status, 404);
    assert.equal((await admin.put(`${NS}/crud-ns2`, { namespace: 'x' })).status, 404);
  });

  test('created with contents; ?resource_type= shows names with that type’s prefix', async () => {
    const body = {
      namespace: 'full-ns',
      visibility: 'public',
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'img_' }, { name: 'Test::Brand::New', properties_target: 'meta' }],
      properties: { speed: { title: 'Speed', type: 'integer', minimum: 1.5, default: 3 } },
      objects: [{ name: 'Disk', required: ['size'], properties: { size: { title: 'Size', type: 'integer' } } }],
      tags: [{ name: 'blue' }, { name: 'green' }],
    };
    const created = await createNs(body);
    assert.deepEqual(created.resource_type_associations, body.resource_type_associations);
    assert.deepEqual(created.properties, { speed: { type: 'integer', title: 'Speed', default: '3', minimum: 1 } });
    assert.deepEqual(created.objects, [{ name: 'Disk', required: ['size'], properties: { size: { type: 'integer', title: 'Size' } } }]);
    assert.deepEqual(created.tags, [{ name: 'blue' }, { name: 'green' }]);

    const shown = (await b.get(`${NS}/full-ns`)).json;
    assert.deepEqual(shown.resource_type_associations.map((x: { name: string }) => x.name), ['OS::Glance::Image', 'Test::Brand::New']);
    assert.deepEqual(Object.keys(shown.properties), ['speed']);
    assert.equal(shown.objects[0].self, `${NS}/full-ns/objects/Disk`);
    assert.deepEqual(shown.tags.map((t: { name: string }) => t.name).sort(), ['blue', 'green']);
    const prefixed = (await b.get(`${NS}/full-ns?resource_type=OS::Glance::Image`)).json;
    assert.deepEqual(Object.keys(prefixed.properties), ['img_speed']);
    assert.deepEqual(Object.keys(prefixed.objects[0].properties), ['img_size']);
    assert.deepEqual(prefixed.objects[0].required, ['img_size']);
    assert.deepEqual(Object.keys((await b.get(`${NS}/full-ns?resource_type=Test::Brand::New`)).json.properties), ['speed'], 'no prefix, no change');
    assert.ok((await b.get('/v2/metadefs/resource_types')).json.resource_types.some((t: { name: string }) => t.name === 'Test::Brand::New'));

    // Several of the same name in one create: 409, and nothing is left behind.
    const dup = await admin.post(NS, { namespace: 'dup-ns', objects: [{ name: 'o' }, { name: 'o' }] });
    assert.equal(dup.status, 409);
    assert.equal((await admin.get(`${NS}/dup-ns`)).status, 404);
  });

  test('lists: filters, sorting, paging and the links', async () => {
    for (const n of ['list-c', 'list-a', 'list-b']) await createNs({ namespace: n, visibility: 'public', resource_type_associations: [{ name: 'Test::List' }] });
    const q = '?resource_types=Test::List&sort_key=namespace&sort_dir=asc&limit=2';
    const first = await b.get(`${NS}${q}`);
    assert.equal(first.status, 200);
    assert.deepEqual(names(first), ['list-a', 'list-b']);
    assert.equal(first.json.first, `${NS}?resource_types=Test%3A%3AList&sort_key=namespace&sort_dir=asc&limit=2`);
    assert.equal(first.json.schema, '/v2/schemas/metadefs/namespaces');
    assert.equal(first.json.next, `${NS}?resource_types=Test%3A%3AList&sort_key=namespace&sort_dir=asc&limit=2&marker=list-b`);
    assert.deepEqual(first.json.namespaces[0].resource_type_associations.map((x: { name: string }) => x.name), ['Test::List']);
    const second = await b.get(first.json.next);
    assert.deepEqual(names(second), ['list-c']);
    assert.equal(second.json.next, undefined);

    assert.deepEqual(names(await b.get(`${NS}?resource_types=Test::List&sort_key=namespace&sort_dir=desc`)), ['list-c', 'list-b', 'list-a']);
    assert.deepEqual(names(await b.get(`${NS}?resource_types=Test::List,OS::Nova::Flavor&sort_key=namespace&sort_dir=asc`)), ['Seed::Compute', 'list-a', 'list-b', 'list-c']);
    assert.deepEqual(names(await b.get(`${NS}?resource_types=Nothing::Here`)), []);
    assert.ok(names(await admin.get(`${NS}?visibility=public&limit=1000`)).includes('list-a'));
    assert.ok(!names(await admin.get(`${NS}?visibility=private&limit=1000`)).includes('list-a'));
    assert.deepEqual(names(await b.get(`${NS}?limit=0`)), []);

    for (const [query, status] of [
      ['?sort_dir=up', 400],
      ['?sort_key=bogus', 400],
      ['?limit=-1', 400],
      ['?limit=many', 400],
      ['?visibility=shared', 400],
      ['?marker=no-such-namespace', 404],
    ] as const) {
      assert.equal((await b.get(`${NS}${query}`)).status, status, query);
    }
  });
});

describe('visibility and policy', () => {
  before(async () => {
    await createNs({ namespace: 'a-private', owner: 'project-a', objects: [{ name: 'obj' }], properties: { p: { title: 'P', type: 'string' } }, tags: [{ name: 't' }] });
    await createNs({ namespace: 'a-public', owner: 'project-a', visibility: 'public', objects: [{ name: 'obj' }] });
  });

  test('a private namespace is its project’s (and admins’); to others it does not exist', async () => {
    assert.equal((await a.get(`${NS}/a-private`)).status, 200);
    assert.ok(names(await a.get(`${NS}?limit=1000`)).includes('a-private'));
    assert.ok(!names(await b.get(`${NS}?limit=1000`)).includes('a-private'));
    assert.ok(names(await b.get(`${NS}?limit=1000`)).includes('a-public'));
    for (const path of ['', '/objects', '/objects/obj', '/properties', '/properties/p', '/tags', '/tags/t', '/resource_types']) {
      assert.equal((await b.get(`${NS}/a-private${path}`)).status, 404, `GET ${path}`);
    }
    assert.equal((await b.put(`${NS}/a-private`, { namespace: 'a-private' })).status, 404);
    assert.equal((await b.del(`${NS}/a-private`)).status, 404);
    assert.equal((await b.post(`${NS}/a-private/tags/x`)).status, 404);
    assert.equal((await b.post(`${NS}/a-private/objects`, { name: 'x' })).status, 404);
    assert.equal((await b.get(`${NS}?marker=a-private`)).status, 404);
  });

  test('writes are for admins: members get 403 on what they can see', async () => {
    assert.equal((await a.post(NS, { namespace: 'by-member' })).status, 403);
    assert.equal((await a.put(`${NS}/a-private`, { namespace: 'a-private' })).status, 403);
    assert.equal((await a.del(`${NS}/a-private`)).status, 403);
    assert.equal((await a.post(`${NS}/a-private/objects`, { name: 'x' })).status, 403);
    assert.equal((await a.post(`${NS}/a-private/properties`, { name: 'x', title: 'X', type: 'string' })).status, 403);
    assert.equal((await a.post(`${NS}/a-private/tags/x`)).status, 403);
    assert.equal((await a.post(`${NS}/a-private/tags`, { tags: [{ name: 'x' }] })).status, 403);
    assert.equal((await a.post(`${NS}/a-private/resource_types`, { name: 'X' })).status, 403);
    assert.equal((await a.del(`${NS}/a-private/objects`)).status, 403);
    assert.equal((await b.put(`${NS}/a-public`, { namespace: 'a-public' })).status, 403);
    assert.equal((await b.del(`${NS}/a-public/objects/obj`)).status, 403);
  });

  test('reading needs the reader role (secure RBAC defaults); admins need nothing else', async () => {
    assert.equal((await noRole.get(`${NS}/a-public`)).status, 404);
    assert.equal((await noRole.get(`${NS}`)).status, 404, "Glance hides the list too when even get_metadef_namespace is denied");
    assert.equal((await admin.get(`${NS}/a-private`)).status, 200);
  });
});

describe('protected namespaces', () => {
  test('nothing in them can be deleted until they are unprotected', async () => {
    await createNs({
      namespace: 'guarded',
      protected: true,
      resource_type_associations: [{ name: 'OS::Glance::Image' }],
      properties: { p: { title: 'P', type: 'string' } },
      objects: [{ name: 'o' }],
      tags: [{ name: 't' }],
    });
    for (const path of ['', '/objects', '/properties', '/tags', '/objects/o', '/properties/p', '/tags/t', '/resource_types/OS::Glance::Image']) {
      const r = await admin.del(`${NS}/guarded${path}`);
      assert.equal(r.status, 403, `DELETE ${path}`);
      assert.match(r.json.message, /is protected and cannot be deleted/);
    }
    assert.equal((await admin.put(`${NS}/guarded`, { namespace: 'guarded', protected: false })).status, 200);
    for (const path of ['/objects/o', '/properties/p', '/tags/t', '/resource_types/OS::Glance::Image', '']) {
      assert.equal((await admin.del(`${NS}/guarded${path}`)).status, 204, `DELETE ${path}`);
    }
  });
});

describe('objects', () => {
  before(async () => {
    await createNs({ namespace: 'obj-ns', visibility: 'public' });
  });
  const O = `${NS}/obj-ns/objects`;

  test('create, list, show, update, delete', async () => {
    const created = await admin.post(O, { name: 'vm', description: 'A VM', required: ['cores'], properties: { cores: { title: 'Cores', type: 'integer', minimum: 1 } } });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.json), ['name', 'required', 'description', 'properties', 'created_at', 'updated_at', 'self', 'schema']);
    assert.equal(created.json.self, `${O}/vm`);
    const bare = await admin.post(O, { name: 'bare' });
    assert.deepEqual(Object.keys(bare.json), ['name', 'created_at', 'updated_at', 'self', 'schema'], 'the answer echoes what was sent');
    assert.equal((await admin.post(O, { name: 'vm' })).status, 409);

    const list = await b.get(O);
    assert.equal(list.status, 200);
    assert.equal(list.json.schema, 'v2/schemas/metadefs/objects', "Glance's link, leading slash missing");
    assert.deepEqual(list.json.objects.map((o: { name: string }) => o.name), ['vm', 'bare']);
    assert.deepEqual(list.json.objects[1].required, [], 'read back, an object always has required and properties');
    assert.deepEqual(list.json.objects[1].properties, {});

    const shown = await b.get(`${O}/vm`);
    assert.deepEqual(shown.json.properties, { cores: { type: 'integer', title: 'Cores', minimum: 1 } });
    assert.equal((await b.get(`${O}/nope`)).status, 404);

    const updated = await admin.put(`${O}/vm`, { name: 'server', description: 'renamed' });
    assert.equal(updated.status, 200);
    assert.equal(updated.json.name, 'server');
    assert.deepEqual((await b.get(`${O}/server`)).json.properties, {}, 'PUT replaces the properties too');
    assert.equal((await admin.put(`${O}/server`, { name: 'bare' })).status, 409);
    assert.equal((await admin.put(`${O}/nope`, { name: 'x' })).status, 404);
    assert.equal((await admin.del(`${O}/server`)).status, 204);
    assert.equal((await admin.del(`${O}/server`)).status, 404);
    assert.equal((await admin.del(O)).status, 204);
    assert.deepEqual((await b.get(O)).json.objects, []);
  });

  test('bad objects', async () => {
    assert.equal((await admin.post(O, { description: 'no name' })).status, 400);
    assert.equal((await admin.post(O, { name: 'x', self: '/v2/x' })).status, 403);
    assert.equal((await admin.post(O, { name: 'x', bogus: 1 })).status, 400);
    assert.equal((await admin.post(O, { name: 'x', properties: { p: { title: 'P' } } })).status, 400, 'a property needs a type');
    assert.equal((await admin.post(O, { name: 'x', properties: { p: { title: 'P', type: 'string', colour: 'red' } } })).status, 400);
    assert.equal((await admin.post(O, { name: 'x', required: ['a', 'a'] })).status, 400);
    assert.equal((await admin.post(O, { name: 'x'.repeat(81) })).status, 400);
    assert.equal((await b.get(`${O}?limit=0`)).status, 400);
    assert.equal((await b.get(`${O}?sort_dir=sideways`)).status, 400);
    assert.equal((await b.get(`${NS}/nope/objects`)).status, 404);
  });
});

describe('properties', () => {
  before(async () => {
    await createNs({ namespace: 'prop-ns', visibility: 'public', resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'img_' }] });
  });
  const P = `${NS}/prop-ns/properties`;

  test('create, list, show (also by prefixed name), update, delete', async () => {
    const created = await admin.post(P, { name: 'os_type', title: 'OS', type: 'string', enum: ['linux', 'windows'], default: 'linux' });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json, { name: 'os_type', type: 'string', title: 'OS', default: 'linux', enum: ['linux', 'windows'] });
    assert.equal((await admin.post(P, { name: 'os_type', title: 'OS', type: 'string' })).status, 409);
    assert.deepEqual((await b.get(P)).json, { properties: { os_type: created.json } });
    assert.deepEqual((await b.get(`${P}/os_type`)).json, created.json);
    assert.deepEqual((await b.get(`${P}/img_os_type?resource_type=OS::Glance::Image`)).json, created.json);
    assert.equal((await b.get(`${P}/os_type?resource_type=OS::Glance::Image`)).status, 404, 'the prefix is expected');
    assert.equal((await b.get(`${P}/os_type?resource_type=OS::Nova::Flavor`)).status, 404, 'not associated');
    assert.equal((await b.get(`${P}/nope`)).status, 404);

    const updated = await admin.put(`${P}/os_type`, { name: 'os_family', title: 'Family', type: 'string' });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.json, { name: 'os_family', type: 'string', title: 'Family' });
    assert.equal((await b.get(`${P}/os_type`)).status, 404);
    await admin.post(P, { name: 'other', title: 'O', type: 'boolean' });
    assert.equal((await admin.put(`${P}/other`, { name: 'os_family', title: 'O', type: 'boolean' })).status, 409);
    assert.equal((await admin.del(`${P}/other`)).status, 204);
    assert.equal((await admin.del(`${P}/other`)).status, 404);
    assert.equal((await admin.del(P)).status, 204);
    assert.deepEqual((await b.get(P)).json, { properties: {} });
  });

  test('bad properties', async () => {
    assert.equal((await admin.post(P, { title: 'no name', type: 'string' })).status, 400);
    assert.equal((await admin.post(P, { name: 'x', title: 'X', type: 'text' })).status, 400);
    assert.equal((await admin.post(P, { name: 'x', title: 'X', type: 'string', extra: 1 })).status, 400);
    assert.equal((await admin.post(P, { name: 'x', title: 'X', type: 'string', enum: ['a', 1] })).status, 400);
    assert.equal((await admin.post(P, { name: 'x', title: 'X', type: 'string', created_at: 'now' })).status, 403);
    assert.equal((await admin.put(`${P}/x`, { title: 'X', type: 'string' })).status, 400);
  });
});

describe('tags', () => {
  before(async () => {
    await createNs({ namespace: 'tag-ns', visibility: 'public' });
  });
  const T = `${NS}/tag-ns/tags`;
  const tagNames = async (q = '?sort_key=name&sort_dir=asc') => (await b.get(`${T}${q}`)).json.tags.map((t: { name: string }) => t.name);

  test('one at a time: create, show, rename, delete', async () => {
    const created = await admin.post(`${T}/solo`);
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.json), ['name', 'created_at', 'updated_at']);
    assert.equal((await admin.post(`${T}/solo`)).status, 409);
    assert.equal((await admin.post(`${T}/${'x'.repeat(81)}`)).status, 400);
    assert.equal((await rawRequest(imago.url, 'POST', `${T}/with-body`, '{}', { 'Content-Type': 'application/json' })).status, 400);
    assert.equal((await b.get(`${T}/solo`)).json.name, 'solo');
    const renamed = await admin.put(`${T}/solo`, { name: 'duo' });
    assert.equal(renamed.json.name, 'duo');
    assert.equal((await b.get(`${T}/solo`)).status, 404);
    assert.equal((await admin.put(`${T}/duo`, { name: 'd', created_at: 'x' })).status, 403);
    assert.equal((await admin.del(`${T}/duo`)).status, 204);
    assert.equal((await admin.del(`${T}/duo`)).status, 404);
  });

  test('many at once: replace, or append with X-Openstack-Append; all or nothing', async () => {
    await admin.post(`${T}/old`);
    const replaced = await admin.post(T, { tags: [{ name: 'x1' }, { name: 'x2' }] });
    assert.equal(replaced.status, 201);
    assert.deepEqual(replaced.json, { tags: [{ name: 'x1' }, { name: 'x2' }] });
    assert.deepEqual(await tagNames(), ['x1', 'x2']);
    assert.equal((await admin.post(T, { tags: [{ name: 'x3' }] }, { 'X-Openstack-Append': 'true' })).status, 201);
    assert.deepEqual(await tagNames(), ['x1', 'x2', 'x3']);
    assert.equal((await admin.post(T, { tags: [{ name: 'y' }, { name: 'y' }] })).status, 409);
    assert.deepEqual(await tagNames(), ['x1', 'x2', 'x3'], 'a failed replace changes nothing');
    assert.equal((await admin.post(T, { tags: [{ name: 'x1' }] }, { 'X-Openstack-Append': 'yes' })).status, 409);
    assert.equal((await admin.post(T, { tags: [{ name: 'z', colour: 'red' }] })).status, 400);
    assert.equal((await admin.post(T, { tags: [] })).status, 201);
    assert.deepEqual(await tagNames(), ['x1', 'x2', 'x3'], 'an empty list replaces nothing');

    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=desc&limit=2'), ['x3', 'x2']);
    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=asc&marker=x1'), ['x2', 'x3']);
    assert.deepEqual(await tagNames('?limit=0'), []);
    assert.equal((await b.get(`${T}?marker=nope`)).status, 404);
    assert.equal((await b.get(`${T}?sort_key=colour`)).status, 400);
    assert.equal((await b.get(`${T}?limit=-1`)).status, 400);
    assert.equal((await admin.del(T)).status, 204);
    assert.deepEqual(await tagNames(), []);
  });
});

describe('resource types', () => {
  test('list them; associate, list, dissociate', async () => {
    await createNs({ namespace: 'rt-ns', visibility: 'public' });
    const R = `${NS}/rt-ns/resource_types`;
    assert.deepEqual((await b.get(R)).json, { resource_type_associations: [] });
    const created = await admin.post(R, { name: 'OS::Nova::Flavor', prefix: 'f:', properties_target: 'extra' });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.json), ['name', 'prefix', 'properties_target', 'created_at', 'updated_at']);
    assert.equal((await admin.post(R, { name: 'OS::Nova::Flavor' })).status, 409);
    assert.equal((await admin.post(R, { name: 'Test::Fresh::Type' })).status, 201);
    assert.deepEqual((await b.get(R)).json.resource_type_associations.map((x: { name: string }) => x.name), ['OS::Nova::Flavor', 'Test::Fresh::Type']);
    const all = (await b.get('/v2/metadefs/resource_types')).json.resource_types;
    assert.ok(all.some((t: { name: string }) => t.name === 'Test::Fresh::Type'));
    assert.equal((await admin.post(R, { prefix: 'no name' })).status, 400);
    assert.equal((await admin.post(R, { name: 'X', updated_at: 'now' })).status, 403);
    assert.equal((await admin.del(`${R}/OS::Nova::Flavor`)).status, 204);
    assert.equal((await admin.del(`${R}/OS::Nova::Flavor`)).status, 404);
    assert.deepEqual((await b.get(R)).json.resource_type_associations.map((x: { name: string }) => x.name), ['Test::Fresh::Type']);
    assert.equal((await admin.del(`${NS}/rt-ns`)).status, 204);
    assert.ok((await b.get('/v2/metadefs/resource_types')).json.resource_types.some((t: { name: string }) => t.name === 'Test::Fresh::Type'), 'resource types outlive namespaces');
  });
});

describe('malformed requests', () => {
  test('bodies, read-only attributes, schema violations', async () => {
    assert.equal((await admin.call('POST', NS)).status, 400);
    assert.equal((await admin.call('POST', NS, { raw: '{"namespace":', headers: { 'Content-Type': 'application/json' } })).status, 400);
    assert.equal((await admin.post(NS, ['namespace'])).status, 400);
    for (const key of ['self', 'schema', 'created_at', 'updated_at']) assert.equal((await admin.post(NS, { namespace: 'ro', [key]: 'x' })).status, 403, key);
    assert.equal((await admin.post(NS, { display_name: 'no namespace' })).status, 400);
    assert.equal((await admin.post(NS, { namespace: 'v', visibility: 'shared' })).status, 400);
    assert.equal((await admin.post(NS, { namespace: 'x'.repeat(81) })).status, 400);
    assert.equal((await admin.post(NS, { namespace: 'u', unknown: true })).status, 400);
    assert.equal((await admin.post(NS, { namespace: 'u', properties: { p: { title: 'P', type: 'string', colour: 'red' } } })).status, 400);
    assert.equal((await admin.post(NS, { namespace: 'u', resource_type_associations: [{ prefix: 'no name' }] })).status, 400);
    assert.equal((await admin.call('PUT', `${NS}/Seed::Compute`)).status, 400);
    assert.equal((await rawRequest(imago.url, 'GET', `${NS}/Seed::Compute`, '{}', { 'Content-Type': 'application/json' })).status, 400);
  });

  test('405 with the methods Glance allows', async () => {
    for (const [method, path, allow] of [
      ['PATCH', NS, 'GET, POST'],
      ['POST', `${NS}/Seed::Compute`, 'GET, PUT, DELETE'],
      ['PUT', `${NS}/Seed::Compute/objects`, 'GET, POST, DELETE'],
      ['PATCH', `${NS}/Seed::Compute/tags/x`, 'GET, POST, PUT, DELETE'],
      ['PUT', `${NS}/Seed::Compute/resource_types`, 'GET, POST'],
      ['GET', `${NS}/Seed::Compute/resource_types/OS::Glance::Image`, 'DELETE'],
      ['DELETE', '/v2/metadefs/resource_types', 'GET'],
    ] as const) {
      const r = await admin.call(method, path);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow);
    }
  });
});

describe('legacy policy defaults', () => {
  test('anyone reads, admins write', async () => {
    const legacy = await startImago({ set: ['oslo_policy.enforce_new_defaults=false', 'oslo_policy.enforce_scope=false', 'DEFAULT.enforce_secure_rbac=false'] });
    try {
      const root = client(legacy.url, { project: 'admin-project', roles: 'admin' });
      const nobody = client(legacy.url, { project: 'project-b', roles: '' });
      const member = client(legacy.url, { project: 'project-b', roles: 'member' });
      assert.equal((await root.post(NS, { namespace: 'legacy-public', visibility: 'public' })).status, 201);
      assert.equal((await root.post(NS, { namespace: 'legacy-private', owner: 'project-a' })).status, 201);
      assert.equal((await nobody.get(`${NS}/legacy-public`)).status, 200);
      assert.deepEqual(names(await nobody.get(NS)), ['legacy-public']);
      assert.equal((await nobody.get(`${NS}/legacy-private`)).status, 404);
      assert.equal((await member.post(`${NS}/legacy-public/tags/x`)).status, 403);
      assert.equal((await member.del(`${NS}/legacy-public`)).status, 403);
    } finally {
      await legacy.stop();
    }
  });
});
