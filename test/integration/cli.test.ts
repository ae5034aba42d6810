// The unchanged OpenStack clients against imago in no-auth mode:
// python3-openstackclient (`openstack image ...`) and python3-glanceclient.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startImago, type Imago } from '../helpers/server.js';
import { tempDir } from '../helpers/cleanup.js';

const run = promisify(execFile);
let imago: Imago;
let dir: string;

for (const tool of ['/usr/bin/openstack', '/usr/bin/glance', '/usr/bin/qemu-img']) {
  if (!existsSync(tool)) {
    throw new Error(`${tool} is missing: apt-get install python3-openstackclient python3-glanceclient qemu-utils`);
  }
}

before(async () => {
  imago = await startImago();
  dir = tempDir('imago-cli-');
  await run('/usr/bin/qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'disk.qcow2'), '64M']);
});
after(async () => {
  await imago.stop();
  rmSync(dir, { recursive: true, force: true });
});

// A private HOME: glanceclient caches the server's schema in ~/.glanceclient.
const env = () => ({ ...process.env, OS_CLOUD: '', HOME: dir });
async function osc(...args: string[]): Promise<string> {
  const { stdout } = await run('/usr/bin/openstack', ['--os-auth-type', 'none', '--os-endpoint', imago.url, ...args], { env: env() });
  return stdout;
}
async function glance(...args: string[]): Promise<string> {
  const { stdout } = await run('/usr/bin/glance', ['--os-image-url', imago.url, '--os-auth-token', 'unused', ...args], { env: env() });
  return stdout;
}

test('openstack image create/list/show/set/unset/save/delete', async () => {
  const disk = join(dir, 'disk.qcow2');
  const created = JSON.parse(await osc('image', 'create', '--file', disk, '--disk-format', 'qcow2', '--container-format', 'bare', 'cli-osc', '-f', 'json'));
  assert.equal(created.name, 'cli-osc');
  const listed = JSON.parse(await osc('image', 'list', '-f', 'json'));
  assert.ok(listed.some((i: { Name: string; Status: string }) => i.Name === 'cli-osc' && i.Status === 'active'));
  const shown = JSON.parse(await osc('image', 'show', 'cli-osc', '-f', 'json'));
  assert.equal(shown.status, 'active');
  assert.equal(shown.size, readFileSync(disk).length);

  await osc('image', 'set', '--property', 'hw_disk_bus=scsi', '--property', 'os_distro=cirros', 'cli-osc');
  let props = JSON.parse(await osc('image', 'show', 'cli-osc', '-f', 'json')).properties;
  assert.equal(props.hw_disk_bus, 'scsi');
  assert.equal(props.os_distro, 'cirros');
  await osc('image', 'unset', '--property', 'hw_disk_bus', 'cli-osc');
  props = JSON.parse(await osc('image', 'show', 'cli-osc', '-f', 'json')).properties;
  assert.equal(props.hw_disk_bus, undefined);

  const saved = join(dir, 'saved.qcow2');
  await osc('image', 'save', '--file', saved, 'cli-osc');
  assert.ok(readFileSync(saved).equals(readFileSync(disk)), 'downloaded bytes equal uploaded bytes');

  await osc('image', 'delete', 'cli-osc');
  await assert.rejects(osc('image', 'show', 'cli-osc'));
});

test('glance image-create and image-download', async () => {
  const disk = join(dir, 'disk.qcow2');
  const out = await glance('image-create', '--name', 'cli-glance', '--disk-format', 'qcow2', '--container-format', 'bare', '--file', disk);
  const id = /\|\s*id\s*\|\s*([0-9a-f-]{36})/.exec(out)?.[1];
  assert.ok(id, out);
  assert.match(out, /\|\s*status\s*\|\s*active/);
  const target = join(dir, 'g.qcow2');
  await glance('image-download', '--file', target, id!);
  assert.ok(readFileSync(target).equals(readFileSync(disk)));
});
