// glance-download between two imago deployments behind the real Keystone: the
// importing side finds the other region's image service in the user's catalog,
// copies the image's formats and the [glance_download_properties] properties,
// and brings the bytes over through its own ingest pipeline.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureKeystone, issueToken, keystoneAuthConf, KeystoneAdmin, passwordAuth, type KeystoneEnv } from '../helpers/keystone.js';
import { startImago, type Imago } from '../helpers/server.js';
import { qemuImg, Workdir } from '../helpers/images.js';

let ks: KeystoneEnv;
let admin: KeystoneAdmin;
let remote: Imago;
let local: Imago;
let token: string;
const region = `ImagoRemote-${randomUUID().slice(0, 8)}`;
const cleanup: (() => Promise<unknown>)[] = [];
const work = new Workdir();

const keystoneConf = (extra = '') =>
  keystoneAuthConf(ks, `[DEFAULT]\nenabled_import_methods = [glance-direct,web-download,copy-image,glance-download]\n${extra}`);

before(async () => {
  ks = ensureKeystone();
  admin = new KeystoneAdmin(ks);
  remote = await startImago({ conf: keystoneConf() });
  // Catalog endpoints pass [import_filtering_opts] like any fetch (Glance does the same since its SSRF fixes).
  const remotePort = new URL(remote.url).port;
  local = await startImago({ conf: keystoneConf(`[import_filtering_opts]\nallowed_ports = [80, 443, ${remotePort}]`) });
  await admin.call('POST', '/regions', { region: { id: region, description: 'imago glance-download test' } });
  cleanup.push(() => admin.call('DELETE', `/regions/${region}`));
  const svc = await admin.call<{ service: { id: string } }>('POST', '/services', { service: { type: 'image', name: `imago-remote-${region}`, enabled: true } });
  cleanup.push(() => admin.call('DELETE', `/services/${svc.service.id}`));
  const ep = await admin.call<{ endpoint: { id: string } }>('POST', '/endpoints', {
    endpoint: { service_id: svc.service.id, interface: 'public', url: remote.url, region_id: region, enabled: true },
  });
  cleanup.push(() => admin.call('DELETE', `/endpoints/${ep.endpoint.id}`));
  const suffix = randomUUID().slice(0, 8);
  const projectId = await admin.createProject(`imago-gd-${suffix}`);
  const userId = await admin.createUser(`imago-gd-${suffix}`, `pw-${suffix}`, projectId, ['member', 'reader']);
  cleanup.push(() => admin.deleteProject(projectId), () => admin.deleteUser(userId));
  token = (await issueToken(ks, passwordAuth(`imago-gd-${suffix}`, `pw-${suffix}`, `imago-gd-${suffix}`))).token;
  qemuImg('create', '-q', '-f', 'qcow2', work.path('disk.qcow2'), '64M');
});
after(async () => {
  await remote?.stop();
  await local?.stop();
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  work.remove();
});

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(base + path, {
    method,
    headers: { 'X-Auth-Token': token, Accept: 'application/json', ...(body !== undefined && !Buffer.isBuffer(body) ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function finished(base: string, id: string) {
  for (let i = 0; i < 200; i++) {
    const tasks = (await call(base, 'GET', `/v2/images/${id}/tasks`)).json.tasks as { status: string; message: string }[];
    if (tasks.length && tasks.every((t) => t.status === 'success' || t.status === 'failure')) return tasks[0]!;
    await sleep(100);
  }
  throw new Error('the import never finished');
}

test('an image comes over from the other region with its formats and chosen properties', async () => {
  const data = readFileSync(work.path('disk.qcow2'));
  const src = (await call(remote.url, 'POST', '/v2/images', { name: 'source', disk_format: 'qcow2', container_format: 'bare', hw_cpu_cores: '5', os_distro: 'rhel', 'trait:STORAGE_DISK_SSD': 'required', speed: '88mph' })).json;
  assert.equal((await call(remote.url, 'PUT', `/v2/images/${src.id}/file`, data, { 'Content-Type': 'application/octet-stream' })).status, 204);

  const dst = (await call(local.url, 'POST', '/v2/images', { name: 'copy', disk_format: 'iso', container_format: 'ovf', hw_cpu_cores: '1', os_distro: 'windows' })).json;
  const r = await call(local.url, 'POST', `/v2/images/${dst.id}/import`, { method: { name: 'glance-download', glance_image_id: src.id, glance_region: region, glance_service_interface: 'public' } });
  assert.equal(r.status, 202);
  const task = await finished(local.url, dst.id);
  assert.equal(task.status, 'success', task.message);
  const got = (await call(local.url, 'GET', `/v2/images/${dst.id}`)).json;
  assert.equal(got.status, 'active');
  assert.equal(got.disk_format, 'qcow2');
  assert.equal(got.container_format, 'bare');
  assert.equal(got.hw_cpu_cores, '5');
  assert.equal(got.os_distro, 'rhel');
  assert.equal(got['trait:STORAGE_DISK_SSD'], 'required');
  assert.equal(got.speed, undefined, 'only [glance_download_properties] prefixes come over');
  assert.equal(got.virtual_size, 64 << 20);
  const bytes = Buffer.from(await (await fetch(`${local.url}/v2/images/${dst.id}/file`, { headers: { 'X-Auth-Token': token } })).arrayBuffer());
  assert.ok(bytes.equals(data));
});

test('an unknown region or image fails the task and leaves the image as it was', async () => {
  const dst = (await call(local.url, 'POST', '/v2/images', { disk_format: 'raw', container_format: 'bare', hw_cpu_cores: '1' })).json;
  await call(local.url, 'POST', `/v2/images/${dst.id}/import`, { method: { name: 'glance-download', glance_image_id: randomUUID(), glance_region: 'not a region', glance_service_interface: 'public' } });
  assert.equal((await finished(local.url, dst.id)).status, 'failure');
  const kept = (await call(local.url, 'GET', `/v2/images/${dst.id}`)).json;
  assert.equal(kept.status, 'queued');
  assert.equal(kept.hw_cpu_cores, '1');

  const missing = (await call(local.url, 'POST', '/v2/images', { disk_format: 'raw', container_format: 'bare' })).json;
  await call(local.url, 'POST', `/v2/images/${missing.id}/import`, { method: { name: 'glance-download', glance_image_id: randomUUID(), glance_region: region } });
  assert.equal((await finished(local.url, missing.id)).status, 'failure');
  assert.equal((await call(local.url, 'GET', `/v2/images/${missing.id}`)).json.status, 'queued');
});
