import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, rawRequest, startImago, type Imago } from '../helpers/server.js';

let imago: Imago;
let api: ReturnType<typeof client>;

before(async () => {
  imago = await startImago({ set: ['DEFAULT.image_tag_quota=3', 'DEFAULT.image_property_quota=5'] });
  api = client(imago.url);
});
after(async () => imago.stop());

describe('versions and wire conventions', () => {
  test('GET / lists versions with 300, /versions with 200', async () => {
    const root = await api.get('/');
    assert.equal(root.status, 300);
    const ids = root.json.versions.map((v: { id: string }) => v.id);
    assert.ok(ids.includes('v2.0') && ids.includes('v2.15') && ids.includes('v2.17'));
    assert.equal(root.json.versions.find((v: { status: string }) => v.status === 'CURRENT').id, 'v2.17');
    assert.match(root.json.versions[0].links[0].href, /^http:\/\/127\.0\.0\.1:\d+\/v2\/$/);
    const v = await api.get('/versions');
    assert.equal(v.status, 200);
    assert.deepEqual(v.json, root.json);
    assert.equal((await api.get('/v1/images')).status, 300);
    assert.equal((await api.get('/v3/')).status, 300);
  });

  test('versioned prefixes reach the v2 API', async () => {
    assert.equal((await api.get('/v2.15/images')).status, 200);
    assert.equal((await api.get('/v2.0/images')).status, 200);
    assert.equal((await api.get('/images', { Accept: 'application/vnd.openstack.images-v2' })).status, 200);
  });

  test('every response carries x-openstack-request-id; a given one is echoed', async () => {
    const r = await api.get('/v2/images');
    assert.match(r.headers.get('x-openstack-request-id')!, /^req-[0-9a-f-]{36}$/);
    const mine = await api.get('/v2/images', { 'X-Openstack-Request-Id': 'req-1234' });
    assert.equal(mine.headers.get('x-openstack-request-id'), 'req-1234');
    const tooLong = await api.get('/v2/images', { 'X-Openstack-Request-Id': 'x'.repeat(65) });
    assert.equal(tooLong.status, 431);
  });

  test('unknown paths 404, wrong methods 405 with Allow, bodies on GET 400', async () => {
    assert.equal((await api.get('/v2/nothing-here')).status, 404);
    const r = await api.call('PUT', '/v2/images');
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
    const img = await api.create();
    const withBody = await rawRequest(imago.url, 'GET', `/v2/images/${img.id}`, 'x');
    assert.equal(withBody.status, 400);
    assert.match(withBody.body, /body is not expected/);
  });

  test('errors are webob-shaped JSON for JSON clients and HTML for browsers', async () => {
    const r = await api.get('/v2/images/00000000-0000-0000-0000-000000000000');
    assert.equal(r.status, 404);
    assert.equal(r.json.code, '404 Not Found');
    assert.equal(r.json.title, 'Not Found');
    const html = await api.get('/v2/images/00000000-0000-0000-0000-000000000000', { Accept: 'text/html' });
    assert.match(html.headers.get('content-type')!, /text\/html/);
    assert.match(html.text, /<h1>404 Not Found<\/h1>/);
  });

  test('schemas', async () => {
    const image = await api.get('/v2/schemas/image');
    assert.equal(image.status, 200);
    assert.equal(image.json.name, 'image');
    assert.deepEqual(image.json.additionalProperties, { type: 'string' });
    assert.deepEqual(image.json.properties.disk_format.enum.slice(0, 3), [null, 'ami', 'ari']);
    assert.equal(image.json.properties.os_distro.type, 'string', 'Glance schema-image.json properties are served');
    const images = await api.get('/v2/schemas/images');
    assert.equal(images.json.properties.images.items.name, 'image');
    for (const name of ['member', 'members', 'task', 'tasks']) {
      const r = await api.get(`/v2/schemas/${name}`);
      assert.equal(r.status, 200, name);
      assert.equal(r.json.name, name);
    }
    assert.equal((await api.post('/v2/schemas/image', {})).status, 405);
  });
});

describe('create and show', () => {
  test('201 with Location, Glance defaults and null base attributes', async () => {
    const r = await api.post('/v2/images', { name: 'cirros', disk_format: 'qcow2', container_format: 'bare', os_distro: 'cirros', tags: ['a', 'a', 'b'] });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('location'), `${imago.url}/v2/images/${r.json.id}`);
    const i = r.json;
    assert.equal(i.status, 'queued');
    assert.equal(i.visibility, 'shared');
    assert.equal(i.protected, false);
    assert.equal(i.os_hidden, false);
    assert.equal(i.size, null);
    assert.equal(i.checksum, null);
    assert.equal(i.min_ram, 0);
    assert.equal(i.os_distro, 'cirros');
    assert.deepEqual([...i.tags].sort(), ['a', 'b']);
    assert.match(i.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(i.self, `/v2/images/${i.id}`);
    assert.equal(i.file, `/v2/images/${i.id}/file`);
    assert.equal(i.schema, '/v2/schemas/image');
    const shown = await api.get(`/v2/images/${i.id}`);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.json, i);
  });

  test('a client-chosen id is kept; reusing it (even after delete) is 409', async () => {
    const id = 'e7d4c2b1-0a9f-4e1d-8c3b-2a1f0e9d8c7b';
    assert.equal((await api.post('/v2/images', { id })).status, 201);
    assert.equal((await api.post('/v2/images', { id })).status, 409);
    assert.equal((await api.del(`/v2/images/${id}`)).status, 204);
    assert.equal((await api.post('/v2/images', { id })).status, 409);
  });

  test('read-only, reserved and invalid input', async () => {
    for (const k of ['direct_url', 'self', 'file', 'schema', 'stores', 'status', 'checksum', 'size', 'created_at', 'os_hash_value']) {
      const r = await api.post('/v2/images', { [k]: k === 'size' ? 1 : 'x' });
      // status/size/... fail the schema for their types before the read-only check when the type is wrong
      assert.ok([400, 403].includes(r.status), `${k}: ${r.status}`);
    }
    assert.equal((await api.post('/v2/images', { status: 'active' })).status, 403);
    assert.equal((await api.post('/v2/images', { self: '/x' })).status, 403);
    for (const k of ['location', 'deleted', 'deleted_at', 'os_glance_import_task']) {
      const r = await api.post('/v2/images', { [k]: 'x' });
      assert.equal(r.status, 403, k);
      assert.match(r.json.message, /reserved/);
    }
    assert.equal((await api.post('/v2/images', { disk_format: 'floppy' })).status, 400);
    assert.equal((await api.post('/v2/images', { name: 'n'.repeat(256) })).status, 400);
    assert.equal((await api.post('/v2/images', { foo: 42 })).status, 400, 'extra properties must be strings');
    assert.equal((await api.post('/v2/images', { ['k'.repeat(256)]: 'v' })).status, 400);
    assert.equal((await api.post('/v2/images', { min_ram: -1 })).status, 400);
    assert.equal((await api.post('/v2/images', { visibility: 'everyone' })).status, 400);
    assert.equal((await api.post('/v2/images', { id: 'not-a-uuid' })).status, 400);
    assert.equal((await api.post('/v2/images', { kernel_id: 'not-a-uuid' })).status, 400);
    const malformed = await api.call('POST', '/v2/images', { raw: '{"name": ', headers: { 'Content-Type': 'application/json' } });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.message, /Malformed JSON/);
    assert.equal((await api.call('POST', '/v2/images', { raw: '"just a string"' })).status, 400);
    assert.equal((await api.post('/v2/images', { tags: ['t'.repeat(256)] })).status, 400);
  });

  test('quotas on properties and tags are 413', async () => {
    assert.equal((await api.post('/v2/images', { a: '1', b: '2', c: '3', d: '4', e: '5', f: '6' })).status, 413);
    assert.equal((await api.post('/v2/images', { tags: ['1', '2', '3', '4'] })).status, 413);
  });

  test('unknown, malformed and over-long ids are 404', async () => {
    assert.equal((await api.get('/v2/images/3f2a7c0e-0000-4000-8000-000000000000')).status, 404);
    assert.equal((await api.get('/v2/images/not-a-uuid')).status, 404);
    assert.equal((await api.get(`/v2/images/${'a'.repeat(100)}`)).status, 404);
  });
});

describe('PATCH', () => {
  test('v2.1 media type: add, replace, remove', async () => {
    const img = await api.create({ name: 'before', foo: 'bar' });
    const r = await api.patch(`/v2/images/${img.id}`, [
      { op: 'replace', path: '/name', value: 'after' },
      { op: 'add', path: '/hw_disk_bus', value: 'scsi' },
      { op: 'replace', path: '/foo', value: 'baz' },
      { op: 'add', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/protected', value: true },
      { op: 'replace', path: '/os_hidden', value: true },
      { op: 'replace', path: '/tags', value: ['x', 'y'] },
    ]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'after');
    assert.equal(r.json.hw_disk_bus, 'scsi');
    assert.equal(r.json.foo, 'baz');
    assert.equal(r.json.min_ram, 512);
    assert.equal(r.json.protected, true);
    assert.equal(r.json.os_hidden, true);
    assert.deepEqual([...r.json.tags].sort(), ['x', 'y']);
    const removed = await api.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/foo' }]);
    assert.equal(removed.status, 200);
    assert.equal(removed.json.foo, undefined);
    const shown = await api.get(`/v2/images/${img.id}`);
    assert.equal(shown.json.name, 'after');
    assert.equal(shown.json.foo, undefined);
    assert.equal(shown.json.hw_disk_bus, 'scsi');
  });

  test('v2.0 media type: add of an existing property is 409', async () => {
    const img = await api.create({ foo: 'bar' });
    const v20 = 'application/openstack-images-v2.0-json-patch';
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ add: '/new', value: '1' }], v20)).status, 200);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ add: '/foo', value: '1' }], v20)).status, 409);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ replace: '/foo', value: 'q' }], v20)).status, 200);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ add: '/a', remove: '/b' }], v20)).status, 400);
  });

  test('wrong media type is 415 with Accept-Patch', async () => {
    const img = await api.create();
    const r = await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/name', value: 'x' }], 'application/json');
    assert.equal(r.status, 415);
    assert.equal(r.headers.get('accept-patch'), 'application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch');
  });

  test('forbidden, unknown and malformed changes', async () => {
    const img = await api.create();
    const p = (ops: unknown) => api.patch(`/v2/images/${img.id}`, ops);
    for (const path of ['/status', '/id', '/checksum', '/size', '/created_at', '/direct_url', '/os_hash_value']) {
      assert.equal((await p([{ op: 'replace', path, value: 'x' }])).status, 403, path);
    }
    assert.equal((await p([{ op: 'add', path: '/os_glance_foo', value: 'x' }])).status, 403);
    assert.equal((await p([{ op: 'add', path: '/deleted', value: 'x' }])).status, 403);
    assert.equal((await p([{ op: 'remove', path: '/name' }])).status, 403, 'base properties may not be removed');
    assert.equal((await p([{ op: 'replace', path: '/nope', value: 'x' }])).status, 409);
    assert.equal((await p([{ op: 'remove', path: '/nope' }])).status, 409);
    assert.equal((await p([{ op: 'move', path: '/name', value: 'x' }])).status, 400);
    assert.equal((await p([{ path: '/name', value: 'x' }])).status, 400);
    assert.equal((await p([{ op: 'replace', path: 'name', value: 'x' }])).status, 400);
    assert.equal((await p([{ op: 'replace', path: '/name/x', value: 'x' }])).status, 400);
    assert.equal((await p([{ op: 'replace', path: '/name' }])).status, 400);
    assert.equal((await p([{ op: 'replace', path: '/disk_format', value: 'bogus' }])).status, 400);
    assert.equal((await p([{ op: 'add', path: '/foo', value: 1 }])).status, 400);
    assert.equal((await p({ op: 'replace', path: '/name', value: 'x' })).status, 400);
    assert.equal((await p(['x'])).status, 400);
    assert.equal((await p([{ op: 'replace', path: '/visibility', value: 'nope' }])).status, 400);
    assert.equal((await p([{ op: 'replace', path: '/locations', value: [] }])).status, 403);
  });

  test('disk and container formats can only change while queued', async () => {
    const img = await api.create();
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/disk_format', value: 'ami' }])).status, 200);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('data'))).status, 204);
    const r = await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/disk_format', value: 'raw' }]);
    assert.equal(r.status, 403);
  });

  test('property quota on update', async () => {
    const img = await api.create({ a: '1', b: '2', c: '3', d: '4', e: '5' });
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/f', value: '6' }])).status, 413);
  });
});

describe('delete, protect, deactivate, tags', () => {
  test('delete then 404; protected images are 403', async () => {
    const img = await api.create({ protected: true });
    const r = await api.del(`/v2/images/${img.id}`);
    assert.equal(r.status, 403);
    await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/protected', value: false }]);
    assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
    assert.equal((await api.get(`/v2/images/${img.id}`)).status, 404);
    assert.equal((await api.del(`/v2/images/${img.id}`)).status, 404);
  });

  test('deactivate and reactivate', async () => {
    const img = await api.create({ owner: 'some-project' });
    assert.equal((await api.post(`/v2/images/${img.id}/actions/deactivate`)).status, 403, 'only active images');
    await api.upload(`/v2/images/${img.id}/file`, Buffer.from('hello'));
    assert.equal((await api.post(`/v2/images/${img.id}/actions/deactivate`)).status, 204);
    assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'deactivated');
    assert.equal((await api.post(`/v2/images/${img.id}/actions/deactivate`)).status, 204, 'idempotent');
    const user = client(imago.url, { project: 'p1', roles: 'member,reader' });
    assert.equal((await user.get(`/v2/images/${img.id}/file`)).status, 404, 'not visible to another project');
    assert.equal((await api.get(`/v2/images/${img.id}/file`)).status, 200, 'admins may still download');
    assert.equal((await api.post(`/v2/images/${img.id}/actions/reactivate`)).status, 204);
    assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'active');
    assert.equal((await api.call('GET', `/v2/images/${img.id}/actions/reactivate`)).status, 405);
  });

  test('deactivated images cannot be downloaded by their non-admin owner', async () => {
    const owner = client(imago.url, { project: 'downloader', roles: 'member,reader' });
    const img = await owner.create();
    await owner.upload(`/v2/images/${img.id}/file`, Buffer.from('abc'));
    assert.equal((await owner.post(`/v2/images/${img.id}/actions/deactivate`)).status, 204);
    assert.equal((await owner.get(`/v2/images/${img.id}/file`)).status, 403);
  });

  test('tags: add is idempotent, delete of a missing tag is 404, quota is 413', async () => {
    const img = await api.create();
    assert.equal((await api.put(`/v2/images/${img.id}/tags/one`)).status, 204);
    assert.equal((await api.put(`/v2/images/${img.id}/tags/one`)).status, 204);
    assert.equal((await api.put(`/v2/images/${img.id}/tags/two%20words`)).status, 204);
    assert.deepEqual([...(await api.get(`/v2/images/${img.id}`)).json.tags].sort(), ['one', 'two words']);
    assert.equal((await api.put(`/v2/images/${img.id}/tags/three`)).status, 204);
    assert.equal((await api.put(`/v2/images/${img.id}/tags/four`)).status, 413);
    assert.equal((await api.del(`/v2/images/${img.id}/tags/one`)).status, 204);
    assert.equal((await api.del(`/v2/images/${img.id}/tags/one`)).status, 404);
    assert.equal((await api.put(`/v2/images/${img.id}/tags/${'t'.repeat(256)}`)).status, 400);
    assert.equal((await api.put(`/v2/images/00000000-0000-4000-8000-000000000000/tags/x`)).status, 404);
  });
});

describe('several worker processes', () => {
  test('workers = 2 share the port, the database and the store', async () => {
    const multi = await startImago({ set: ['DEFAULT.workers=2'] });
    try {
      const c = client(multi.url);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const img = await c.create({ name: `w${i}` });
        assert.equal((await c.upload(`/v2/images/${img.id}/file`, Buffer.from(`data ${i}`))).status, 204);
        ids.push(img.id);
      }
      const listed = (await c.get('/v2/images?limit=100')).json.images.map((i: { id: string }) => i.id);
      for (const id of ids) assert.ok(listed.includes(id));
      const got = await Promise.all(ids.map(async (id) => (await c.get(`/v2/images/${id}/file`)).text));
      assert.deepEqual(got, ids.map((_, i) => `data ${i}`));
      assert.match(multi.output(), /2 workers/);
    } finally {
      await multi.stop();
    }
  });
});
