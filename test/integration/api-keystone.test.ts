// imago behind the real Keystone of scripts/keystone.sh: tokens decide who is
// asking, Glance's policies decide what they may do, and a revoked token stops
// working once its cached validation ages out.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureKeystone, issueToken, keystoneAuthConf, KeystoneAdmin, passwordAuth, type KeystoneEnv } from '../helpers/keystone.js';
import { startImago, type Imago } from '../helpers/server.js';

let ks: KeystoneEnv;
let admin: KeystoneAdmin;
let imago: Imago;
const cleanup: (() => Promise<void>)[] = [];

before(async () => {
  ks = ensureKeystone();
  admin = new KeystoneAdmin(ks);
  imago = await startImago({
    conf: keystoneAuthConf(ks, '[keystone_authtoken]\ntoken_cache_time = 2'),
  });
});
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await imago.stop();
});

async function userToken(roles: string[]): Promise<{ token: string; projectId: string }> {
  const suffix = randomUUID().slice(0, 8);
  const projectId = await admin.createProject(`imago-test-${suffix}`);
  const userId = await admin.createUser(`imago-user-${suffix}`, 'pw-' + suffix, projectId, roles);
  cleanup.push(() => admin.deleteUser(userId), () => admin.deleteProject(projectId));
  const t = await issueToken(ks, passwordAuth(`imago-user-${suffix}`, 'pw-' + suffix, `imago-test-${suffix}`));
  return { token: t.token, projectId };
}

const call = (method: string, path: string, token?: string, body?: unknown) =>
  fetch(imago.url + path, {
    method,
    headers: { Accept: 'application/json', ...(token ? { 'X-Auth-Token': token } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

test('no token or a bad one is 401 with WWW-Authenticate; version discovery needs none', async () => {
  assert.equal((await call('GET', '/versions')).status, 200);
  const none = await call('GET', '/v2/images');
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), `Keystone uri="${ks.url}"`);
  assert.equal((await call('GET', '/v2/images', 'not-a-token')).status, 401);
});

test('tokens carry the project and roles: member creates, reader reads, neither crosses projects', async () => {
  const member = await userToken(['member', 'reader']);
  const reader = await userToken(['reader']);
  const created = await call('POST', '/v2/images', member.token, { name: 'ks', disk_format: 'raw', container_format: 'bare' });
  assert.equal(created.status, 201);
  const img = (await created.json()) as { id: string; owner: string };
  assert.equal(img.owner, member.projectId, 'the token project owns what it creates');
  assert.equal((await call('GET', `/v2/images/${img.id}`, member.token)).status, 200);
  assert.equal((await call('GET', `/v2/images/${img.id}`, reader.token)).status, 404, 'another project cannot see a shared image it is not a member of');
  assert.equal((await call('POST', '/v2/images', reader.token, { name: 'no' })).status, 403, 'readers cannot create');
});

test('a revoked token stops working within token_cache_time', async () => {
  const member = await userToken(['member', 'reader']);
  assert.equal((await call('GET', '/v2/images', member.token)).status, 200);
  await admin.revokeToken(member.token);
  let status = 0;
  for (let i = 0; i < 40 && status !== 401; i++) {
    await sleep(250);
    status = (await call('GET', '/v2/images', member.token)).status;
  }
  assert.equal(status, 401);
});
