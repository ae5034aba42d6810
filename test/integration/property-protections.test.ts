import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, startImago, type Imago } from '../helpers/server.js';
import { tempDir } from '../helpers/cleanup.js';

let imago: Imago;
let dir: string;

before(async () => {
  dir = tempDir('imago-pp-');
  const file = join(dir, 'property-protections.conf');
  writeFileSync(
    file,
    ['[^x_secret_.*]', 'create = admin', 'read = admin', 'update = admin', 'delete = admin', '',
     '[^x_ro_.*]', 'create = admin,member', 'read = admin,member,reader', 'update = admin', 'delete = admin', '',
     '[.*]', 'create = @', 'read = @', 'update = @', 'delete = @', ''].join('\n'),
  );
  imago = await startImago({ set: [`DEFAULT.property_protection_file=${file}`, 'DEFAULT.property_protection_rule_format=roles'] });
});
after(async () => {
  await imago.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('property protections (roles format) guard create, read, update and delete', async () => {
  const admin = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
  const member = client(imago.url, { project: 'p1', roles: 'member,reader' });
  assert.equal((await member.post('/v2/images', { x_secret_a: '1' })).status, 403);
  const img = await admin.create({ x_secret_a: 'hidden', x_ro_b: 'visible', free: 'yes' });
  const seen = (await member.get(`/v2/images/${img.id}`)).json;
  assert.equal(seen.x_secret_a, undefined, 'unreadable properties are not shown');
  assert.equal(seen.x_ro_b, 'visible');
  assert.equal((await admin.get(`/v2/images/${img.id}`)).json.x_secret_a, 'hidden');
  const listed = (await member.get('/v2/images')).json.images.find((i: { id: string }) => i.id === img.id);
  assert.equal(listed.x_secret_a, undefined);

  const p = (c: ReturnType<typeof client>, ops: unknown) => c.patch(`/v2/images/${img.id}`, ops);
  assert.equal((await p(member, [{ op: 'replace', path: '/x_ro_b', value: 'x' }])).status, 403, 'update needs admin');
  assert.equal((await p(member, [{ op: 'remove', path: '/x_ro_b' }])).status, 403, 'delete needs admin');
  assert.equal((await p(member, [{ op: 'replace', path: '/x_secret_a', value: 'x' }])).status, 409, 'unreadable means absent');
  assert.equal((await p(member, [{ op: 'add', path: '/x_ro_new', value: 'x' }])).status, 200, 'members may create x_ro_');
  assert.equal((await p(member, [{ op: 'replace', path: '/free', value: 'still' }])).status, 200);
  const afterPatch = (await admin.get(`/v2/images/${img.id}`)).json;
  assert.equal(afterPatch.x_secret_a, 'hidden', 'what the member could not see was not touched');
  assert.equal(afterPatch.x_ro_new, 'x');
  assert.equal((await p(admin, [{ op: 'remove', path: '/x_ro_b' }])).status, 200);
});
