// Several stores at once, chosen per image: enabled_backends, store weights,
// X-Image-Meta-Store, the stores discovery API, DELETE /v2/stores, locations
// edited by clients (show_multiple_locations) and download failover.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { client, startImago, type Imago } from '../helpers/server.js';
import { serveBytes, startHttpServer, type TestServer } from '../helpers/servers.js';

let imago: Imago;
let web: TestServer;
let api: ReturnType<typeof client>;
const remote = randomBytes(300_000);
const remoteUrl = (path = '/image.raw') => `http://127.0.0.1:${web.port}${path}`;

before(async () => {
  web = await startHttpServer((req, res) => {
    if (req.url?.startsWith('/image.raw')) return serveBytes(remote, req, res);
    res.writeHead(404).end();
  });
  imago = await startImago({
    conf: `
[DEFAULT]
enabled_backends = fast:file, cheap:file, web:http
show_multiple_locations = true
show_image_direct_url = true
image_location_quota = 3

[glance_store]
default_backend = fast

[fast]
filesystem_store_datadir = {data}/fast
store_description = Fast local disk
weight = 100

[cheap]
filesystem_store_datadir = {data}/cheap
weight = 10

[web]
store_description = Read-only web store

[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [${web.port}]
`,
  });
  api = client(imago.url);
});
after(async () => {
  await imago.stop();
  await web.close();
});

const files = (store: string) => (existsSync(join(imago.dataDir, store)) ? readdirSync(join(imago.dataDir, store)) : []);

describe('discovery', () => {
  test('GET /v2/info/stores and /detail', async () => {
    const r = await api.get('/v2/info/stores');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.stores, [
      { id: 'fast', description: 'Fast local disk', default: 'true' },
      { id: 'cheap' },
      { id: 'web', description: 'Read-only web store', 'read-only': 'true' },
    ]);
    const d = await api.get('/v2/info/stores/detail');
    assert.equal(d.status, 200);
    const fast = d.json.stores.find((s: { id: string }) => s.id === 'fast');
    assert.equal(fast.type, 'file');
    assert.equal(fast.weight, 100);
    assert.equal(fast.properties.data_dir, join(imago.dataDir, 'fast'));
    assert.equal(d.json.stores.find((s: { id: string }) => s.id === 'web').type, 'http');
    const member = client(imago.url, { project: 'p1', roles: 'member,reader' });
    assert.equal((await member.get('/v2/info/stores')).status, 200);
    assert.equal((await member.get('/v2/info/stores/detail')).status, 403);
  });

  test('versions list the multistore microversions; create names the stores', async () => {
    const ids = (await api.get('/versions')).json.versions.map((v: { id: string }) => v.id);
    assert.ok(ids.includes('v2.8') && ids.includes('v2.13'));
    const r = await api.post('/v2/images', { disk_format: 'raw', container_format: 'bare' });
    assert.equal(r.headers.get('openstack-image-store-ids'), 'fast,cheap,web');
  });
});

describe('choosing a store per image', () => {
  test('default store, X-Image-Meta-Store, unknown and read-only stores', async () => {
    const a = await api.create();
    assert.equal((await api.upload(`/v2/images/${a.id}/file`, Buffer.from('default'))).status, 204);
    const shownA = (await api.get(`/v2/images/${a.id}`)).json;
    assert.equal(shownA.stores, 'fast');
    assert.equal(shownA.locations[0].metadata.store, 'fast');
    assert.equal(shownA.direct_url, `file://${join(imago.dataDir, 'fast', a.id)}`);
    assert.ok(files('fast').includes(a.id));

    const b = await api.create();
    assert.equal((await api.upload(`/v2/images/${b.id}/file`, Buffer.from('cheap'), { 'X-Image-Meta-Store': 'cheap' })).status, 204);
    assert.equal((await api.get(`/v2/images/${b.id}`)).json.stores, 'cheap');
    assert.ok(files('cheap').includes(b.id));

    const c = await api.create();
    assert.equal((await api.upload(`/v2/images/${c.id}/file`, Buffer.from('x'), { 'X-Image-Meta-Store': 'nope' })).status, 400);
    assert.equal((await api.upload(`/v2/images/${c.id}/file`, Buffer.from('x'), { 'X-Image-Meta-Store': 'web' })).status, 410);
    assert.equal((await api.get(`/v2/images/${c.id}`)).json.status, 'queued');
  });
});

describe('locations edited by clients', () => {
  test('adding an http location activates a queued image with the remote size', async () => {
    const img = await api.create();
    const r = await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: remoteUrl(), metadata: { note: 'x' } } }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'active');
    assert.equal(r.json.size, remote.length);
    assert.deepEqual(r.json.locations, [{ url: remoteUrl(), metadata: { note: 'x' } }]);
    const dl = await fetch(`${imago.url}/v2/images/${img.id}/file`);
    assert.equal(dl.status, 200);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(remote));
    const part = await fetch(`${imago.url}/v2/images/${img.id}/file`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(remote.subarray(10, 20)), 'Range passes through to the remote');
  });

  test('bad, restricted, unreachable and duplicate locations are refused', async () => {
    const img = await api.create();
    const add = (url: string, metadata: object = {}) => api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url, metadata } }]);
    assert.equal((await add('gopher://info.cern.ch')).status, 400);
    assert.equal((await add(`file://${join(imago.dataDir, 'fast')}/x`)).status, 400, 'file locations are restricted');
    assert.equal((await add(remoteUrl('/missing'))).status, 400);
    assert.equal((await add('http://169.254.169.254/latest/meta-data')).status, 400, 'metadata service: URL policy');
    assert.equal((await add(remoteUrl())).status, 200);
    assert.equal((await add(remoteUrl())).status, 400, 'duplicate');
    assert.equal((await add(`${remoteUrl()}#2`)).status, 200);
    assert.equal((await add(`${remoteUrl()}#3`)).status, 200);
    assert.equal((await add(`${remoteUrl()}#4`)).status, 413, 'image_location_quota');
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/x', value: { url: `${remoteUrl()}#5`, metadata: {} } }])).status, 400);
  });

  test('replace may only change metadata; remove never takes the last location', async () => {
    const img = await api.create();
    await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: remoteUrl(), metadata: {} } }]);
    await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: `${remoteUrl()}#b`, metadata: {} } }]);
    const locs = (await api.get(`/v2/images/${img.id}`)).json.locations;
    locs[0].metadata.date = '2015-10-15';
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/locations', value: locs }])).status, 200);
    assert.deepEqual((await api.get(`/v2/images/${img.id}`)).json.locations, locs);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/locations', value: [locs[0]] }])).status, 400);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/locations', value: [] }])).status, 403);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/locations/0' }])).status, 200);
    const left = (await api.get(`/v2/images/${img.id}`)).json;
    assert.deepEqual(left.locations.map((l: { url: string }) => l.url), [`${remoteUrl()}#b`]);
    assert.equal(left.direct_url, `${remoteUrl()}#b`);
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/locations/0' }])).status, 403);
  });

  test('validation_data fills the hashes of a queued image, once', async () => {
    const img = await api.create();
    const value = {
      url: remoteUrl(),
      metadata: {},
      validation_data: { checksum: createHash('md5').update(remote).digest('hex'), os_hash_algo: 'sha512', os_hash_value: createHash('sha512').update(remote).digest('hex') },
    };
    const r = await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.checksum, value.validation_data.checksum);
    assert.equal(r.json.os_hash_value, value.validation_data.os_hash_value);
    assert.equal(r.json.locations[0].validation_data, undefined);
    const other = { ...value, url: `${remoteUrl()}#2`, validation_data: { ...value.validation_data, os_hash_value: 'ab'.repeat(64) } };
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: other }])).status, 409);
    const fresh = await api.create();
    const wrongAlgo = { ...value, validation_data: { os_hash_algo: 'sha256', os_hash_value: 'ab'.repeat(32) } };
    assert.equal((await api.patch(`/v2/images/${fresh.id}`, [{ op: 'add', path: '/locations/-', value: wrongAlgo }])).status, 409);
  });
});

describe('copies in several stores', () => {
  test('downloads fail over to the next location; DELETE /v2/stores removes one copy, never the last', async () => {
    const img = await api.create();
    const data = Buffer.from('in two places');
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, data)).status, 204);
    // A second copy, served by the web store.
    assert.equal((await api.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: remoteUrl(), metadata: {} } }])).status, 200);
    // The fast copy vanishes behind imago's back: the download uses the web copy.
    rmSync(join(imago.dataDir, 'fast', img.id));
    const dl = await fetch(`${imago.url}/v2/images/${img.id}/file`);
    assert.equal(dl.status, 200);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(remote));

    assert.equal((await api.del(`/v2/stores/cheap/${img.id}`)).status, 404, 'not stored there');
    assert.equal((await api.del(`/v2/stores/nowhere/${img.id}`)).status, 409);
    assert.equal((await api.del(`/v2/stores/fast/${img.id}`)).status, 204);
    const left = (await api.get(`/v2/images/${img.id}`)).json;
    assert.deepEqual(left.locations.map((l: { url: string }) => l.url), [remoteUrl()]);
    assert.equal(left.stores, undefined, 'http locations belong to no store id, as in Glance');

    const only = await api.create();
    await api.upload(`/v2/images/${only.id}/file`, data);
    assert.equal((await api.del(`/v2/stores/fast/${only.id}`)).status, 403);
  });

  test('a location whose server is down answers 503', async () => {
    const down = await startHttpServer((req, res) => serveBytes(remote, req, res));
    const url = `http://127.0.0.1:${down.port}/image.raw`;
    // The store policy only allows the web server's port: add through a second imago that allows any port.
    const other = await startImago({
      conf: `
[DEFAULT]
enabled_backends = fast:file, web:http
show_multiple_locations = true
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = {data}/fast
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [${down.port}]
`,
    });
    try {
      const c = client(other.url);
      const img = await c.create();
      assert.equal((await c.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url, metadata: {} } }])).status, 200);
      await down.close();
      assert.equal((await c.get(`/v2/images/${img.id}/file`)).status, 503);
    } finally {
      await other.stop();
    }
  });
});
