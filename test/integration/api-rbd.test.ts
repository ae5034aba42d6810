// imago with its bytes in Ceph RBD (ceph-mini), seen through the API and from Ceph's side:
// - the proof the store serves its purpose: Nova's and Cinder's cloneability rules hold for the
//   location imago publishes, and the real `rbd clone` makes a copy-on-write clone from it whose
//   bytes are the image's; deleting the image while the clone exists is refused (409);
// - discovery (/v2/info/stores, /detail with the fsid), Range downloads, multi-store import
//   (`stores`, `all_stores`), copy-image and delete-from-store;
// - the OSD frozen mid-upload (5xx, image back to queued, nothing left in the pool) and on read
//   (failover to the other copy, else 503);
// - the seed's [glance_store] snippet verbatim, with /etc/ceph/ceph.conf and the glance keyring
//   where a deployment has them (in a private mount namespace: the real /etc is not touched);
// - librbd missing: the server refuses to start and names the Debian packages.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, client, startImago, type Imago } from '../helpers/server.js';
import { rbdBackend, type RbdBackend } from './backends.js';

const MiB = 1 << 20;
let be: RbdBackend;
let imago: Imago;
let api: ReturnType<typeof client>;

before(async () => {
  be = rbdBackend();
  imago = await startImago({
    conf: `
[DEFAULT]
enabled_backends = ceph:rbd, local:file
enabled_import_methods = [glance-direct, copy-image]
show_image_direct_url = true
show_multiple_locations = true
[glance_store]
default_backend = ceph
[ceph]
store_description = Ceph RBD
rbd_store_pool = ${be.pool}
rbd_store_user = ${be.user}
rbd_store_ceph_conf = ${be.conf}
rbd_store_chunk_size = 4
# short: a test should not wait out production timeouts when it freezes the OSD
rados_connect_timeout = 4
weight = 100
[local]
filesystem_store_datadir = {data}/local
`,
  });
  api = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
});
after(async () => {
  await imago?.stop();
  be?.resumeOsd();
  be?.stop();
});

const images = () => be.rbd(['ls', be.pool]).toString().split('\n').filter(Boolean);
const waitImport = async (id: string) => {
  for (let i = 0; i < 200 && (await api.get(`/v2/images/${id}`)).json.os_glance_importing_to_stores !== ''; i++) await sleep(100);
};

test('stores discovery shows the rbd store with its pool, chunk size, thin provisioning and fsid', async () => {
  const r = await api.get('/v2/info/stores');
  assert.deepEqual(r.json.stores, [{ id: 'ceph', description: 'Ceph RBD', default: 'true' }, { id: 'local' }]);
  const ceph = (await api.get('/v2/info/stores/detail')).json.stores.find((s: { id: string }) => s.id === 'ceph');
  assert.equal(ceph.type, 'rbd');
  assert.equal(ceph.weight, 100);
  assert.deepEqual(ceph.properties, { pool: be.pool, chunk_size: 4 * MiB, thin_provisioning: false, fsid: be.fsid });
});

test("Nova's and Cinder's cloneability rules hold, `rbd clone` from the published location reads the image's bytes, and delete waits for the clone", async () => {
  const data = randomBytes(9 * MiB + 123);
  const img = await api.create({ disk_format: 'raw', container_format: 'bare' });
  assert.equal((await api.upload(`/v2/images/${img.id}/file`, data)).status, 204);
  const shown = (await api.get(`/v2/images/${img.id}`)).json;
  assert.equal(shown.status, 'active');
  assert.equal(shown.stores, 'ceph');

  // The rules of nova.virt.libvirt.storage.rbd_utils (is_cloneable) and cinder.volume.drivers.rbd
  // (_is_cloneable), applied to what a client sees: direct_url (and locations)
  const url: string = shown.direct_url;
  assert.deepEqual(shown.locations.map((l: { url: string }) => l.url), [url]);
  assert.ok(url.startsWith('rbd://'), 'rbd:// scheme');
  const parts = url.slice('rbd://'.length).split('/').map(decodeURIComponent);
  assert.equal(parts.length, 4, 'fsid/pool/image/snapshot');
  assert.ok(parts.every((p) => p !== ''), 'no empty part');
  const [fsid, pool, name, snap] = parts as [string, string, string, string];
  assert.equal(fsid, be.fsid, "the fsid of the cluster Nova/Cinder are connected to (`ceph fsid`)");
  assert.equal(shown.disk_format, 'raw', 'only raw images are cloned');
  const snapInfo = JSON.parse(be.rbd(['info', '--format', 'json', `${pool}/${name}@${snap}`]).toString());
  assert.equal(snapInfo.size, data.length, 'the snapshot opens, at the image size');
  assert.equal(snapInfo.protected, 'true', 'the snapshot is protected (clone v1 requires it)');

  const clone = `vm-disk-${img.id}`;
  be.rbd(['clone', `${pool}/${name}@${snap}`, `${be.pool}/${clone}`]);
  const cloneInfo = JSON.parse(be.rbd(['info', '--format', 'json', `${be.pool}/${clone}`]).toString());
  assert.equal(cloneInfo.parent.image, name, 'a copy-on-write child of the image');
  assert.ok(be.rbd(['export', '--no-progress', `${be.pool}/${clone}`, '-']).equals(data), 'the clone reads the image bytes');

  const del = await api.del(`/v2/images/${img.id}`);
  assert.equal(del.status, 409, del.text);
  assert.match(del.text, /in use/);
  const still = (await api.get(`/v2/images/${img.id}`)).json;
  assert.equal(still.status, 'active');
  assert.ok(Buffer.from(await (await fetch(`${imago.url}/v2/images/${img.id}/file`)).arrayBuffer()).equals(data), 'nothing half-deleted');

  be.rbd(['rm', '--no-progress', `${be.pool}/${clone}`]);
  assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
  assert.ok(!images().includes(img.id));
});

test('Range downloads are served from the snapshot', async () => {
  const data = randomBytes(10 * MiB);
  const img = await api.create();
  await api.upload(`/v2/images/${img.id}/file`, data);
  const r = await fetch(`${imago.url}/v2/images/${img.id}/file`, { headers: { Range: 'bytes=4194000-4194999' } });
  assert.equal(r.status, 206);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(4_194_000, 4_195_000)));
  assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
});

test('import to `stores` and `all_stores`, copy-image into rbd, delete-from-store', async () => {
  const data = randomBytes(3 * MiB);
  // glance-direct into the file store only, then copy-image into rbd
  const a = await api.create();
  assert.equal((await api.call('PUT', `/v2/images/${a.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } })).status, 204);
  assert.equal((await api.post(`/v2/images/${a.id}/import`, { method: { name: 'glance-direct' }, stores: ['local'] })).status, 202);
  await waitImport(a.id);
  assert.equal((await api.get(`/v2/images/${a.id}`)).json.stores, 'local');
  assert.ok(!images().includes(a.id));
  assert.equal((await api.post(`/v2/images/${a.id}/import`, { method: { name: 'copy-image' }, stores: ['ceph'] })).status, 202);
  await waitImport(a.id);
  const copied = (await api.get(`/v2/images/${a.id}`)).json;
  assert.deepEqual(copied.stores.split(',').sort(), ['ceph', 'local']);
  assert.ok(be.rbd(['export', '--no-progress', `${be.pool}/${a.id}@snap`, '-']).equals(data));
  // delete-from-store drops the rbd copy (image, snapshot) and keeps the other
  assert.equal((await api.del(`/v2/stores/ceph/${a.id}`)).status, 204);
  assert.ok(!images().includes(a.id));
  assert.equal((await api.get(`/v2/images/${a.id}`)).json.stores, 'local');

  // all_stores: one import writes both
  const b = await api.create();
  await api.call('PUT', `/v2/images/${b.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal((await api.post(`/v2/images/${b.id}/import`, { method: { name: 'glance-direct' }, all_stores: true, all_stores_must_succeed: true })).status, 202);
  await waitImport(b.id);
  const both = (await api.get(`/v2/images/${b.id}`)).json;
  assert.equal(both.status, 'active');
  assert.deepEqual(both.stores.split(',').sort(), ['ceph', 'local']);
  assert.ok(images().includes(b.id));
  for (const id of [a.id, b.id]) assert.equal((await api.del(`/v2/images/${id}`)).status, 204);
  assert.ok(!images().includes(b.id));
});

test('the OSD frozen mid-upload: the client gets a 5xx, the image is queued again, the pool holds nothing of it', { timeout: 120_000 }, async () => {
  const img = await api.create();
  const url = new URL(`${imago.url}/v2/images/${img.id}/file`);
  const status = await new Promise<number | 'reset'>((resolve) => {
    const req = request(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(40 * MiB), 'X-Roles': 'admin', 'X-Project-Id': 'p1' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', () => resolve('reset'));
    (async () => {
      for (let i = 0; i < 40; i++) {
        if (i === 12) be.pauseOsd();
        if (!req.write(randomBytes(MiB))) await new Promise((r) => req.once('drain', r));
        await sleep(20);
      }
      req.end();
    })().catch(() => undefined);
  });
  try {
    assert.ok(status === 'reset' || status >= 500, `expected a failure, got ${status}`);
    for (let i = 0; i < 100 && (await api.get(`/v2/images/${img.id}`)).json.status !== 'queued'; i++) await sleep(100);
    assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'queued');
  } finally {
    be.resumeOsd();
  }
  // the store removes its temporary image once the OSD answers again
  let left: string[] = [];
  for (let i = 0; i < 300; i++) {
    left = images().filter((n) => n.includes(img.id));
    if (left.length === 0) break;
    await sleep(200);
  }
  assert.deepEqual(left, [], 'no half-written image');
  assert.equal((await api.upload(`/v2/images/${img.id}/file`, randomBytes(1000))).status, 204, 'the image can be retried');
  assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
});

test('the OSD frozen on read: downloads fail over to the file copy, else 503', { timeout: 120_000 }, async () => {
  const data = randomBytes(2 * MiB);
  const both = await api.create();
  await api.upload(`/v2/images/${both.id}/file`, data);
  assert.equal((await api.post(`/v2/images/${both.id}/import`, { method: { name: 'copy-image' }, stores: ['local'] })).status, 202);
  await waitImport(both.id);
  assert.equal((await api.get(`/v2/images/${both.id}`)).json.stores, 'ceph,local');
  const only = await api.create();
  await api.upload(`/v2/images/${only.id}/file`, data);

  be.pauseOsd();
  try {
    const r = await fetch(`${imago.url}/v2/images/${both.id}/file`);
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(data), 'served from the file copy');
    const r2 = await api.get(`/v2/images/${only.id}/file`);
    assert.equal(r2.status, 503, r2.text);
  } finally {
    be.resumeOsd();
  }
  for (const id of [both.id, only.id]) assert.equal((await api.del(`/v2/images/${id}`)).status, 204);
});

/** A private mount namespace for one process, with `binds` (source → target) mounted in it. */
function namespaced(binds: [string, string][]): string[] {
  const mounts = binds.map(([src, dst]) => `mount --bind '${src}' '${dst}'`).join(' && ');
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', `${mounts} && exec "$@"`, 'sh'];
}

test("the seed's [glance_store] snippet, verbatim, with /etc/ceph as a deployment has it", { timeout: 120_000 }, async (t) => {
  // /etc/ceph holds the cluster's ceph.conf and client.glance's keyring under Ceph's default
  // name; only the server process sees them (a private mount namespace)
  const etc = mkdtempSync(join(tmpdir(), 'imago-etc-ceph-'));
  t.after(() => rmSync(etc, { recursive: true, force: true }));
  const monHost = /^mon host = (.*)$/m.exec(readFileSync(be.conf, 'utf8'))![1]!;
  writeFileSync(join(etc, 'ceph.conf'), `[global]\nfsid = ${be.fsid}\nmon host = ${monHost}\nauth client required = cephx\n`);
  copyFileSync(be.keyring, join(etc, 'ceph.client.glance.keyring'));
  const seeded = await startImago({
    wrap: namespaced([[etc, '/etc/ceph']]),
    conf: `
[DEFAULT]
show_image_direct_url = true

[glance_store]
stores = rbd
default_store = rbd
rbd_store_pool = images
rbd_store_user = glance
rbd_store_ceph_conf = /etc/ceph/ceph.conf
rbd_store_chunk_size = 8
`,
  });
  t.after(() => seeded.stop());
  const c = client(seeded.url, { project: 'p1', roles: 'admin,member,reader' });
  const data = randomBytes(5 * MiB);
  const img = await c.create();
  assert.equal((await c.upload(`/v2/images/${img.id}/file`, data)).status, 204);
  const shown = (await c.get(`/v2/images/${img.id}`)).json;
  assert.equal(shown.direct_url, `rbd://${be.fsid}/images/${img.id}/snap`);
  assert.equal(JSON.parse(be.rbd(['info', '--format', 'json', `images/${img.id}`]).toString()).order, 23, '8 MiB objects');
  assert.ok(Buffer.from(await (await fetch(`${seeded.url}/v2/images/${img.id}/file`)).arrayBuffer()).equals(data));
  assert.equal((await c.del(`/v2/images/${img.id}`)).status, 204);
  assert.ok(!images().includes(img.id));
});

test('librbd missing: the server does not start, and says which Debian packages to install', { timeout: 60_000 }, async (t) => {
  const lib = realpathSync('/usr/lib/x86_64-linux-gnu/librbd.so.1');
  const dir = mkdtempSync(join(tmpdir(), 'imago-nolib-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'glance-api.conf'), `[glance_store]\nstores = rbd\ndefault_store = rbd\nrbd_store_ceph_conf = ${be.conf}\n`);
  // the library replaced by an empty file, for this process only
  const [cmd, ...args] = [...namespaced([['/dev/null', lib]]), process.execPath, CLI, 'serve', '--bind-port', '0', '--data-dir', dir, '--config-file', join(dir, 'glance-api.conf')];
  const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.status, 0, `imago started without librbd:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /librbd\.so\.1/);
  assert.match(r.stderr, /apt-get install librbd1 librados2/);
  assert.doesNotMatch(r.stdout, /serving the Images API/);
});
