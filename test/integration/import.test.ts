// Interoperable import against the real server: staging, the four methods'
// checks, web-download through the URL policy, copy-image in parallel, the
// import lock, the tasks API, the 2.17 locations API, and crash recovery.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { client, freePort, startImago, type Imago } from '../helpers/server.js';
import { serveBytes, startHttpServer, type TestServer } from '../helpers/servers.js';
import { qemuImg, Workdir } from '../helpers/images.js';
import { tempDir } from '../helpers/cleanup.js';

type Client = ReturnType<typeof client>;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

let web: TestServer;
const files = new Map<string, Buffer>();
/** Paths under /slow/ trickle out 64 KiB every 100 ms, to keep an import running. */
function webHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').split('?')[0]!;
  if (path.startsWith('/redirect-to-metadata')) {
    res.writeHead(302, { Location: 'http://169.254.169.254/latest/meta-data' }).end();
    return;
  }
  const slow = path.startsWith('/slow/');
  const data = files.get(slow ? path.slice(5) : path);
  if (!data) return void res.writeHead(404).end();
  if (!slow) return serveBytes(data, req, res);
  res.writeHead(200, { 'Content-Length': String(data.length) });
  let off = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    res.write(data.subarray(off, off + 65536));
    off += 65536;
    if (off >= data.length) {
      clearInterval(timer);
      res.end();
    }
  }, 100);
  res.on('close', () => clearInterval(timer));
}

const work = new Workdir();
before(async () => {
  web = await startHttpServer(webHandler);
  files.set('/image.raw', randomBytes(400_000));
  qemuImg('create', '-q', '-f', 'qcow2', work.path('disk.qcow2'), '256M');
  writeFileSync(work.path('base.raw'), Buffer.alloc(4096)); // a backing file of the test's own
  qemuImg('create', '-q', '-f', 'qcow2', '-b', work.path('base.raw'), '-F', 'raw', work.path('backed.qcow2'));
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', work.path('flat.vmdk'), '1M');
  files.set('/disk.qcow2', readFileSync(work.path('disk.qcow2')));
  files.set('/backed.qcow2', readFileSync(work.path('backed.qcow2')));
  files.set('/flat.vmdk', readFileSync(work.path('flat.vmdk')));
  files.set('/big.raw', randomBytes(6 << 20));
});
after(async () => {
  await web.close();
  work.remove();
});

function conf(extra = ''): string {
  return `
[DEFAULT]
enabled_backends = cheap:file, fast:file, web:http
enabled_import_methods = [glance-direct,web-download,copy-image,glance-download]
show_multiple_locations = true
${extra}
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = {data}/fast
[cheap]
filesystem_store_datadir = {data}/cheap
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [80, 443, ${web.port}]
`;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const taskDone = (c: Client, id: string) =>
  waitFor(`the tasks of ${id}`, async () => {
    const tasks = (await c.get(`/v2/images/${id}/tasks`)).json.tasks as { status: string }[];
    return tasks.length && tasks.every((t) => t.status === 'success' || t.status === 'failure') ? tasks : undefined;
  });

const storeFiles = (imago: Imago, store: string) => (existsSync(join(imago.dataDir, store)) ? readdirSync(join(imago.dataDir, store)) : []);

describe('import on a multistore deployment', () => {
  let imago: Imago;
  let api: Client;
  before(async () => {
    imago = await startImago({ conf: conf() });
    api = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
  });
  after(async () => imago.stop());

  test('glance-direct: stage, then import to all stores; the task carries the request id', async () => {
    const data = randomBytes(2_000_000);
    const img = await api.create({ disk_format: 'raw' });
    const st = await api.call('PUT', `/v2/images/${img.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(st.status, 204, st.text);
    const staged = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(staged.status, 'uploading');
    assert.equal(staged.size, data.length);
    assert.equal(staged.os_glance_staged_url, undefined, 'internal staging details stay hidden');
    assert.equal((await api.call('PUT', `/v2/images/${img.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } })).status, 409);

    const r = await api.post(`/v2/images/${img.id}/import`, { method: { name: 'glance-direct' }, all_stores: true });
    assert.equal(r.status, 202, r.text);
    const [task] = (await taskDone(api, img.id)) as { status: string; request_id: string; input: { import_req: { method: { name: string } } } }[];
    assert.equal(task!.status, 'success');
    assert.equal(task!.request_id, r.headers.get('x-openstack-request-id'));
    assert.equal(task!.input.import_req.method.name, 'glance-direct');
    const done = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(done.status, 'active');
    assert.equal(done.stores, 'cheap,fast');
    assert.equal(done.checksum, md5(data));
    assert.equal(done.os_hash_value, sha512(data));
    assert.equal(done.os_glance_importing_to_stores, '');
    assert.equal(done.os_glance_failed_import, '');
    assert.equal(done.os_glance_import_task, undefined, 'the lock is released');
    assert.deepEqual(readdirSync(join(imago.dataDir, 'staging')), [], 'staging is emptied');
    const dl = await fetch(`${imago.url}/v2/images/${img.id}/file`);
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(data));
  });

  test('the checks Glance makes before accepting an import', async () => {
    const img = await api.create();
    const imp = (body: unknown, id = img.id) => api.post(`/v2/images/${id}/import`, body);
    assert.equal((await imp(undefined)).status, 400);
    assert.equal((await imp({})).status, 400);
    assert.equal((await imp({ method: {} })).status, 400);
    assert.equal((await imp({ method: { name: 'carrier-pigeon' } })).status, 400);
    assert.equal((await imp({ method: { name: 'web-download', uri: 'x' }, all_stores: 'yes' })).status, 400);
    assert.equal((await imp({ method: { name: 'web-download', uri: 'x' }, all_stores_must_succeed: 1 })).status, 400);
    assert.equal((await imp({ method: { name: 'glance-direct' } })).status, 409, 'not staged');
    assert.equal((await imp({ method: { name: 'copy-image' } })).status, 409, 'not active');
    assert.equal((await imp({ method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` }, stores: ['nowhere'] })).status, 409);
    assert.equal((await imp({ method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` }, stores: ['web'] })).status, 409, 'read-only store');
    assert.equal((await imp({ method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` }, stores: ['fast'], all_stores: true })).status, 400);
    assert.equal((await imp({ method: { name: 'glance-download', glance_image_id: 'foo', glance_region: 'R' } })).status, 400);
    assert.equal((await imp({ method: { name: 'glance-download', glance_image_id: img.id } })).status, 400);
    const noFormats = (await api.post('/v2/images', {})).json;
    assert.equal((await imp({ method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` } }, noFormats.id)).status, 409);
    for (const uri of ['ftp://127.0.0.1/x', 'http://169.254.169.254/latest/meta-data', 'http://2130706433/', `http://127.0.0.1:22/`, 'file:///etc/passwd']) {
      const r = await imp({ method: { name: 'web-download', uri } });
      assert.equal(r.status, 400, uri);
      assert.match(r.json.message, /does not pass filtering/);
    }
    const member = client(imago.url, { project: 'p1', roles: 'member,reader' });
    const active = await api.create();
    await api.upload(`/v2/images/${active.id}/file`, Buffer.from('data'));
    assert.equal((await member.post(`/v2/images/${active.id}/import`, { method: { name: 'copy-image' }, stores: ['cheap'] })).status, 403, 'copy_image is admin-only');
  });

  test('web-download: fetched, inspected and hashed; an unreachable URL fails in the task', async () => {
    const img = await api.create({ disk_format: 'qcow2' });
    assert.equal((await api.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/disk.qcow2` } })).status, 202);
    await taskDone(api, img.id);
    const done = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(done.status, 'active');
    assert.equal(done.virtual_size, 256 << 20);
    assert.equal(done.checksum, md5(files.get('/disk.qcow2')!));

    const bad = await api.create();
    const r = await api.post(`/v2/images/${bad.id}/import`, { method: { name: 'web-download', uri: 'http://does-not.exist/no/possible/way' }, stores: ['fast'] });
    assert.equal(r.status, 202, 'names are resolved by the task, as Tempest expects');
    const [t] = (await taskDone(api, bad.id)) as { status: string; message: string }[];
    assert.equal(t!.status, 'failure');
    const failed = (await api.get(`/v2/images/${bad.id}`)).json;
    assert.equal(failed.status, 'queued');
    assert.equal(failed.os_glance_failed_import, 'fast');

    const redirected = await api.create();
    await api.post(`/v2/images/${redirected.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/redirect-to-metadata` } });
    const [rt] = (await taskDone(api, redirected.id)) as { status: string; message: string }[];
    assert.equal(rt!.status, 'failure', 'a redirect to the metadata service is refused');
    assert.match(rt!.message, /filter|allowed|private|link-local|address/i);
  });

  test('malicious images are refused on every ingest path', async () => {
    const cases = [
      ['qcow2', '/backed.qcow2'],
      ['vmdk', '/flat.vmdk'],
    ] as const;
    for (const [format, path] of cases) {
      const data = files.get(path)!;
      const up = await api.create({ disk_format: format });
      assert.equal((await api.upload(`/v2/images/${up.id}/file`, data)).status, 415, `upload ${path}`);
      const st = await api.create({ disk_format: format });
      const r = await api.call('PUT', `/v2/images/${st.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(r.status, 415, `stage ${path}`);
      assert.equal((await api.get(`/v2/images/${st.id}`)).json.status, 'queued');
      const wd = await api.create({ disk_format: format });
      await api.post(`/v2/images/${wd.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}${path}` } });
      const [t] = (await taskDone(api, wd.id)) as { status: string; message: string }[];
      assert.equal(t!.status, 'failure', `web-download ${path}`);
      assert.equal((await api.get(`/v2/images/${wd.id}`)).json.status, 'queued');
      // Pointed at with a location, then copied: the copy inspects what the location never did.
      const loc = await api.create({ disk_format: format });
      const added = await api.patch(`/v2/images/${loc.id}`, [{ op: 'add', path: '/locations/-', value: { url: `http://127.0.0.1:${web.port}${path}`, metadata: {} } }]);
      assert.equal(added.status, 200);
      await api.post(`/v2/images/${loc.id}/import`, { method: { name: 'copy-image' }, stores: ['cheap'] });
      const tasks = (await taskDone(api, loc.id)) as { status: string }[];
      assert.equal(tasks.at(-1)!.status, 'failure', `copy-image ${path}`);
      assert.ok(!storeFiles(imago, 'cheap').includes(loc.id));
      // The 2.17 location API reads the bytes to hash them: it inspects them too.
      const viaApi = await api.create({ disk_format: format });
      assert.equal((await api.post(`/v2/images/${viaApi.id}/locations`, { url: `http://127.0.0.1:${web.port}${path}` })).status, 202);
      const [lt] = (await taskDone(api, viaApi.id)) as { status: string }[];
      assert.equal(lt!.status, 'failure', `location API ${path}`);
      assert.equal((await api.get(`/v2/images/${viaApi.id}`)).json.status, 'queued');
    }
    assert.ok(!storeFiles(imago, 'fast').some((f) => f.startsWith('.imago-partial')));
  });

  test('copy-image: to other stores in parallel, skipping those that have it', async () => {
    const img = await api.create();
    const data = randomBytes(3_000_000);
    await api.upload(`/v2/images/${img.id}/file`, data);
    assert.equal((await api.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, stores: ['fast'] })).status, 400, 'already there');
    assert.equal((await api.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, all_stores: true, all_stores_must_succeed: false })).status, 202);
    await waitFor('the copy', async () => ((await api.get(`/v2/images/${img.id}`)).json.os_glance_importing_to_stores === '' ? true : undefined));
    const copied = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(copied.status, 'active');
    assert.deepEqual(copied.stores.split(',').sort(), ['cheap', 'fast']);
    assert.equal(copied.os_glance_failed_import, '');
    assert.ok(readFileSync(join(imago.dataDir, 'cheap', img.id)).equals(data));
    const again = await api.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, all_stores: true });
    assert.equal(again.status, 202, 'nothing left to copy: accepted, nothing done');
  });

  test('one import at a time per image', async () => {
    files.set('/big.raw', randomBytes(6 << 20));
    const img = await api.create();
    assert.equal((await api.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/slow/big.raw` } })).status, 202);
    await waitFor('the import to start', async () => ((await api.get(`/v2/images/${img.id}`)).json.status === 'importing' ? true : undefined));
    const second = await api.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, stores: ['cheap'] });
    assert.equal(second.status, 409, 'active-state checks or the lock refuse a second operation');
    const t = (await api.get(`/v2/images/${img.id}/tasks`)).json.tasks[0];
    assert.equal(t.status, 'processing');
    await waitFor('the slow import', async () => ((await api.get(`/v2/images/${img.id}`)).json.status === 'active' ? true : undefined), 60_000);
    const done = await taskDone(api, img.id);
    assert.match((done[0] as unknown as { message: string }).message, /Copied \d+ MiB/);
  });

  test('the 2.17 locations API: hashes computed and checked in the background', async () => {
    const data = files.get('/image.raw')!;
    const url = `http://127.0.0.1:${web.port}/image.raw`;
    const img = await api.create();
    const r = await api.post(`/v2/images/${img.id}/locations`, { url, validation_data: { os_hash_algo: 'sha512', os_hash_value: sha512(data) } });
    assert.equal(r.status, 202, r.text);
    const [t] = (await taskDone(api, img.id)) as { status: string; type: string }[];
    assert.equal(t!.type, 'location_import');
    assert.equal(t!.status, 'success');
    const done = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(done.status, 'active');
    assert.equal(done.checksum, md5(data));
    assert.equal(done.size, data.length);
    assert.equal((await api.post(`/v2/images/${img.id}/locations`, { url })).status, 409, 'only queued images');

    const wrong = await api.create();
    await api.post(`/v2/images/${wrong.id}/locations`, { url, validation_data: { os_hash_algo: 'sha512', os_hash_value: 'ab'.repeat(64) } });
    const [wt] = (await taskDone(api, wrong.id)) as { status: string }[];
    assert.equal(wt!.status, 'failure');
    const reverted = (await api.get(`/v2/images/${wrong.id}`)).json;
    assert.equal(reverted.status, 'queued');
    assert.deepEqual(reverted.locations, []);

    assert.equal((await api.post(`/v2/images/${wrong.id}/locations`, {})).status, 400);
    assert.equal((await api.post(`/v2/images/${wrong.id}/locations`, { url, validation_data: { os_hash_algo: 'crc32', os_hash_value: 'ab' } })).status, 400);
    assert.equal((await api.post(`/v2/images/${wrong.id}/locations`, { url: `file://${join(imago.dataDir, 'fast')}/x` })).status, 403, 'users only add http locations');
    assert.equal((await api.get(`/v2/images/${img.id}/locations`)).status, 403, 'reading locations is for services');
    const nova = client(imago.url, { project: 'p1', roles: 'service,member,reader' });
    const locs = await nova.get(`/v2/images/${img.id}/locations`);
    assert.equal(locs.status, 200);
    assert.deepEqual(locs.json, [{ url, metadata: {} }]);
  });

  test('tasks API: legacy import tasks, listing, no deleting', async () => {
    const r = await api.post('/v2/tasks', {
      type: 'import',
      input: { import_from: `http://127.0.0.1:${web.port}/image.raw`, import_from_format: 'raw', image_properties: { name: 'from-task', container_format: 'bare' } },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), `${imago.url}/v2/tasks/${r.json.id}`);
    const task = await waitFor('the legacy task', async () => {
      const t = (await api.get(`/v2/tasks/${r.json.id}`)).json;
      return t.status === 'success' || t.status === 'failure' ? t : undefined;
    });
    assert.equal(task.status, 'success', task.message);
    assert.ok(task.expires_at);
    const image = (await api.get(`/v2/images/${task.image_id}`)).json;
    assert.equal(image.name, 'from-task');
    assert.equal(image.status, 'active');
    const list = await api.get('/v2/tasks?type=import&limit=1');
    assert.equal(list.status, 200);
    assert.equal(list.json.tasks.length, 1);
    assert.equal(list.json.tasks[0].input, undefined, 'list entries are stubs');
    assert.equal((await api.get('/v2/tasks?status=running')).status, 400);
    assert.equal((await api.del(`/v2/tasks/${r.json.id}`)).status, 405);
    assert.equal((await api.post('/v2/tasks', { type: 'import' })).status, 400);
    const member = client(imago.url, { project: 'p1', roles: 'member,reader' });
    assert.equal((await member.get('/v2/tasks')).status, 403, 'tasks_api_access is admin-only');
    const blocked = await api.post('/v2/tasks', { type: 'import', input: { import_from: 'http://169.254.169.254/', import_from_format: 'raw', image_properties: {} } });
    assert.equal(blocked.status, 400, 'the legacy task obeys the URL policy too');
  });
});

describe('task expiry', () => {
  test('finished tasks disappear after [task] task_time_to_live hours', async () => {
    const imago = await startImago({ conf: conf('[task]\ntask_time_to_live = 0') });
    try {
      const api = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
      const img = await api.create();
      await api.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` } });
      await waitFor('the import', async () => ((await api.get(`/v2/images/${img.id}`)).json.status === 'active' ? true : undefined));
      await sleep(20);
      assert.deepEqual((await api.get(`/v2/images/${img.id}/tasks`)).json.tasks, [], 'expired tasks are gone');
      assert.equal((await api.get('/v2/tasks')).json.tasks.length, 0);
    } finally {
      await imago.stop();
    }
  });
});

describe('import plugins', () => {
  test('decompression, conversion to raw and metadata injection', async () => {
    const imago = await startImago({
      conf: conf(`
[image_import_opts]
image_import_plugins = [image_decompression, image_conversion, inject_image_metadata]
[image_conversion]
output_format = raw
[inject_metadata_properties]
inject = injected_by:operator
ignore_user_roles = admin
`),
    });
    try {
      const { gzipSync } = await import('node:zlib');
      files.set('/disk.qcow2.gz', gzipSync(files.get('/disk.qcow2')!));
      const member = client(imago.url, { project: 'p1', roles: 'member,reader' });
      const img = await member.create({ disk_format: 'qcow2' });
      await member.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/disk.qcow2.gz` } });
      const [t] = (await taskDone(member, img.id)) as { status: string; message: string }[];
      assert.equal(t!.status, 'success', t!.message);
      const done = (await member.get(`/v2/images/${img.id}`)).json;
      assert.equal(done.disk_format, 'raw');
      assert.equal(done.size, 256 << 20, 'converted to a raw disk of the virtual size');
      assert.equal(done.virtual_size, 256 << 20);
      assert.equal(done.injected_by, 'operator');
      const admin = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
      const img2 = await admin.create({ disk_format: 'qcow2' });
      await admin.post(`/v2/images/${img2.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/disk.qcow2` } });
      await taskDone(admin, img2.id);
      assert.equal((await admin.get(`/v2/images/${img2.id}`)).json.injected_by, undefined, 'admins are not injected into');
    } finally {
      await imago.stop();
    }
  });
});

describe('a crash in the middle of an import', () => {
  test('the lock lapses, the image is reverted, nothing is left behind', async () => {
    files.set('/big.raw', randomBytes(6 << 20));
    const first = await startImago({ conf: conf('imago_import_lock_timeout = 10') });
    const dataDir = first.dataDir;
    const api1 = client(first.url, { project: 'p1', roles: 'admin,member,reader' });
    const img = await api1.create();
    await api1.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/slow/big.raw` }, all_stores: true });
    await waitFor('the import to be under way', async () => ((await api1.get(`/v2/images/${img.id}`)).json.status === 'importing' ? true : undefined));
    await sleep(500);
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));

    // The same data folder, a new process: its janitor finds the dead import.
    const second = await startImago({ conf: conf('imago_import_lock_timeout = 10'), dataDir });
    try {
      const api2 = client(second.url, { project: 'p1', roles: 'admin,member,reader' });
      const after = await waitFor(
        'the janitor',
        async () => {
          const i = (await api2.get(`/v2/images/${img.id}`)).json;
          return i.status === 'queued' && i.os_glance_import_task === undefined ? i : undefined;
        },
        60_000,
      );
      assert.equal(after.os_glance_importing_to_stores, '');
      const [t] = (await api2.get(`/v2/images/${img.id}/tasks`)).json.tasks;
      assert.equal(t.status, 'failure');
      assert.deepEqual(readdirSync(join(dataDir, 'staging')), [], 'no staged bytes left');
      for (const store of ['fast', 'cheap']) {
        assert.ok(!storeFiles(second, store).includes(img.id), `no image file in ${store}`);
      }
      // Partial temp files of the killed writer are swept once stale; nothing else holds them.
      assert.equal((await api2.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/image.raw` } })).status, 202);
      await waitFor('the retry', async () => ((await api2.get(`/v2/images/${img.id}`)).json.status === 'active' ? true : undefined));
    } finally {
      await second.stop();
    }
  });
});

describe('two API nodes, each staging into its own folder', () => {
  // One database and one set of stores, but a staging folder per node (no shared disk for
  // it): an import or a delete that reaches the other node is relayed to the one that staged.
  let shared: string;
  let a: Imago;
  let b: Imago;
  let portA: number;
  let nodeConf: string;
  const startA = (dataDir?: string) =>
    startImago({ conf: nodeConf, port: portA, set: [`DEFAULT.worker_self_reference_url=http://127.0.0.1:${portA}`], ...(dataDir ? { dataDir } : {}) });
  const as = (node: Imago) => client(node.url, { project: 'p1', roles: 'member,reader', user: 'u1' });
  const staged = (node: Imago) => (existsSync(join(node.dataDir, 'staging')) ? readdirSync(join(node.dataDir, 'staging')) : []);
  const stage = async (node: Imago, data: Buffer) => {
    const img = await as(node).create({ disk_format: 'raw' });
    const st = await as(node).call('PUT', `/v2/images/${img.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(st.status, 204, st.text);
    return img.id as string;
  };

  before(async () => {
    shared = tempDir('imago-two-nodes-');
    nodeConf = conf().replaceAll('{data}/', `${shared}/`) + `[database]\nconnection = sqlite:///${shared}/imago.sqlite\n`;
    portA = await freePort();
    a = await startA();
    const portB = await freePort();
    b = await startImago({ conf: nodeConf, port: portB, set: [`DEFAULT.worker_self_reference_url=http://127.0.0.1:${portB}`] });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  test('glance-direct sent to the other node is done by the node that staged, as the caller', async () => {
    const data = randomBytes(300_000);
    const id = await stage(a, data);
    assert.deepEqual(staged(a), [`staging-${id}`]);
    assert.deepEqual(staged(b), [], 'the other node has none of it');
    const shown = (await as(b).get(`/v2/images/${id}`)).json;
    assert.equal(shown.os_glance_stage_host, undefined, 'the stage host stays hidden, as in Glance');

    const r = await as(b).post(`/v2/images/${id}/import`, { method: { name: 'glance-direct' } });
    assert.equal(r.status, 202, r.text);
    const [task] = (await taskDone(as(b), id)) as { status: string; owner: string; request_id: string }[];
    assert.equal(task!.status, 'success');
    assert.equal(task!.owner, 'p1', "the stage host acted with the caller's identity");
    assert.equal(task!.request_id, r.headers.get('x-openstack-request-id'), "the client sees the id of the stage host's request");
    const done = (await as(b).get(`/v2/images/${id}`)).json;
    assert.equal(done.status, 'active');
    assert.equal(done.checksum, md5(data));
    const dl = await fetch(`${b.url}/v2/images/${id}/file`, { headers: { 'X-Project-Id': 'p1', 'X-Roles': 'member,reader' } });
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(data));
    assert.deepEqual(staged(a), [], 'the stage host emptied its staging folder');
  });

  test('callers the other node refuses are refused there, before any relay', async () => {
    const id = await stage(a, randomBytes(1000));
    // another project's member may see nothing of it: the other node says so itself
    const stranger = client(b.url, { project: 'p2', roles: 'member,reader', user: 'u2' });
    assert.equal((await stranger.post(`/v2/images/${id}/import`, { method: { name: 'glance-direct' } })).status, 404);
    // a reader of the project sees the image, but may not import
    const reader = client(b.url, { project: 'p1', roles: 'reader', user: 'u3' });
    assert.equal((await reader.post(`/v2/images/${id}/import`, { method: { name: 'glance-direct' } })).status, 403);
    assert.equal((await as(a).get(`/v2/images/${id}`)).json.status, 'uploading', 'nothing was started');
    assert.deepEqual(staged(a), [`staging-${id}`]);
    assert.equal((await as(a).del(`/v2/images/${id}`)).status, 204);
  });

  test('a delete sent to the other node is done by the stage host, which drops the staged data', async () => {
    const id = await stage(a, randomBytes(1000));
    assert.deepEqual(staged(a), [`staging-${id}`]);
    assert.equal((await as(b).del(`/v2/images/${id}`)).status, 204);
    assert.deepEqual(staged(a), []);
    assert.equal((await as(a).get(`/v2/images/${id}`)).status, 404);
    assert.equal((await as(b).get(`/v2/images/${id}`)).status, 404);
  });

  test('a stage host that is down: imports get 504 and change nothing; deletes still delete, and it cleans up when back', async () => {
    const id = await stage(a, randomBytes(1000));
    a.proc.kill('SIGKILL');
    await new Promise((r) => a.proc.once('exit', r));
    const r = await as(b).post(`/v2/images/${id}/import`, { method: { name: 'glance-direct' } });
    assert.equal(r.status, 504, r.text);
    assert.match(r.text, /Stage host is unavailable/);
    const still = (await as(b).get(`/v2/images/${id}`)).json;
    assert.equal(still.status, 'uploading');
    assert.equal(still.os_glance_import_task, undefined, 'no lock taken');
    assert.equal((await as(b).get(`/v2/images/${id}/tasks`)).json.tasks.length, 0, 'no task made');
    // Glance's choice: the image goes; the staged copy stays on the node that is down
    assert.equal((await as(b).del(`/v2/images/${id}`)).status, 204);
    assert.equal((await as(b).get(`/v2/images/${id}`)).status, 404);
    assert.deepEqual(staged(a), [`staging-${id}`]);
    // back up, that node finds staged data of an image that is gone, and removes it
    a = await startA(a.dataDir);
    await waitFor('the staging cleaner', async () => (staged(a).length === 0 ? true : undefined));
  });
});
