// Who may do what, over HTTP, with Glance's default rules: two projects ×
// reader/member/admin × every image route. Identities come from the trusted
// headers of no-auth mode, which feed the same policy path as Keystone tokens.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startImago, type Imago } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Role = 'reader' | 'member' | 'admin';
const ROLES: Record<Role, string> = { reader: 'reader', member: 'member,reader', admin: 'admin,member,reader' };

let imago: Imago;
const as: Record<string, Client> = {};

before(async () => {
  imago = await startImago();
  for (const p of ['p1', 'p2']) for (const r of Object.keys(ROLES) as Role[]) as[`${p}-${r}`] = client(imago.url, { project: p, roles: ROLES[r], user: `${p}-${r}-user` });
});
after(async () => imago.stop());

const ACTORS = ['p1-reader', 'p1-member', 'p1-admin', 'p2-reader', 'p2-member', 'p2-admin'] as const;
type Actor = (typeof ACTORS)[number];
type Expect = Record<Actor, number>;

/** Runs `op` once per actor against a fresh fixture and compares statuses. */
async function matrix(name: string, fixture: () => Promise<string>, op: (c: Client, id: string) => Promise<{ status: number }>, expect: Expect) {
  const got: Partial<Expect> = {};
  for (const actor of ACTORS) got[actor] = (await op(as[actor]!, await fixture())).status;
  assert.deepEqual(got, expect, name);
}

const owner = () => as['p1-member']!;
const privateImage = async () => (await owner().create({ visibility: 'private' })).id as string;
const activeImage = async (visibility = 'private') => {
  const id = (await owner().create({ visibility })).id as string;
  assert.equal((await owner().upload(`/v2/images/${id}/file`, Buffer.from('bytes'))).status, 204);
  return id;
};
const publicImage = async () => {
  const img = await as['p1-admin']!.create({ visibility: 'public', owner: 'p1' });
  await as['p1-admin']!.upload(`/v2/images/${img.id}/file`, Buffer.from('public bytes'));
  return img.id as string;
};
const sharedWithP2 = async () => {
  const id = await activeImage('shared');
  assert.equal((await owner().post(`/v2/images/${id}/members`, { member: 'p2' })).status, 200);
  return id;
};

describe('a private image of project 1', () => {
  test('read', () =>
    matrix('GET', privateImage, (c, id) => c.get(`/v2/images/${id}`), { 'p1-reader': 200, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 200 }));
  test('update', () =>
    matrix('PATCH', privateImage, (c, id) => c.patch(`/v2/images/${id}`, [{ op: 'replace', path: '/name', value: 'x' }]), {
      'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 200,
    }));
  test('delete', () =>
    matrix('DELETE', privateImage, (c, id) => c.del(`/v2/images/${id}`), { 'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204 }));
  test('upload', () =>
    matrix('PUT file', privateImage, (c, id) => c.upload(`/v2/images/${id}/file`, Buffer.from('x')), {
      'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204,
    }));
  test('download', () =>
    matrix('GET file', () => activeImage(), (c, id) => c.get(`/v2/images/${id}/file`), {
      'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 200,
    }));
  test('deactivate and reactivate', async () => {
    await matrix('deactivate', () => activeImage(), (c, id) => c.post(`/v2/images/${id}/actions/deactivate`), {
      'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204,
    });
    const deactivated = async () => {
      const id = await activeImage();
      await owner().post(`/v2/images/${id}/actions/deactivate`);
      return id;
    };
    await matrix('reactivate', deactivated, (c, id) => c.post(`/v2/images/${id}/actions/reactivate`), {
      'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204,
    });
  });
  test('tags', async () => {
    await matrix('PUT tag', privateImage, (c, id) => c.put(`/v2/images/${id}/tags/t`), { 'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204 });
    const tagged = async () => {
      const id = await privateImage();
      await owner().put(`/v2/images/${id}/tags/t`);
      return id;
    };
    await matrix('DELETE tag', tagged, (c, id) => c.del(`/v2/images/${id}/tags/t`), { 'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 204 });
  });
  test('listing', async () => {
    const id = await privateImage();
    const seen = async (c: Client, q = '') => (await c.get(`/v2/images${q}`)).json.images.some((i: { id: string }) => i.id === id);
    for (const a of ['p1-reader', 'p1-member', 'p1-admin'] as const) assert.ok(await seen(as[a]!), a);
    for (const a of ['p2-reader', 'p2-member'] as const) {
      assert.ok(!(await seen(as[a]!)), a);
      assert.ok(!(await seen(as[a]!, '?visibility=all')), a);
    }
    assert.ok(await seen(as['p2-admin']!, '?visibility=all'), 'admins list everything');
  });
});

describe('a public image owned by project 1', () => {
  test('everyone reads it; only readers-with-member-role download; only the owner project and admins change it', async () => {
    await matrix('GET', publicImage, (c, id) => c.get(`/v2/images/${id}`), { 'p1-reader': 200, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 200, 'p2-member': 200, 'p2-admin': 200 });
    await matrix('GET file', publicImage, (c, id) => c.get(`/v2/images/${id}/file`), { 'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 403, 'p2-member': 200, 'p2-admin': 200 });
    await matrix('PATCH', publicImage, (c, id) => c.patch(`/v2/images/${id}`, [{ op: 'add', path: '/k', value: 'v' }]), {
      'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 200,
    });
    await matrix('DELETE', publicImage, (c, id) => c.del(`/v2/images/${id}`), { 'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 204 });
  });
});

describe('a shared image of project 1 with project 2 as member', () => {
  test('members read and download per role, never change the image', async () => {
    await matrix('GET', sharedWithP2, (c, id) => c.get(`/v2/images/${id}`), { 'p1-reader': 200, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 200, 'p2-member': 200, 'p2-admin': 200 });
    await matrix('GET file', sharedWithP2, (c, id) => c.get(`/v2/images/${id}/file`), { 'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 403, 'p2-member': 200, 'p2-admin': 200 });
    await matrix('PATCH', sharedWithP2, (c, id) => c.patch(`/v2/images/${id}`, [{ op: 'add', path: '/k', value: 'v' }]), {
      'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 200,
    });
  });
  test('membership: the owner shares, the member answers', async () => {
    await matrix('POST member', () => activeImage('shared'), (c, id) => c.post(`/v2/images/${id}/members`, { member: 'p3' }), {
      'p1-reader': 403, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 404, 'p2-member': 404, 'p2-admin': 200,
    });
    await matrix('GET members', sharedWithP2, (c, id) => c.get(`/v2/images/${id}/members`), { 'p1-reader': 200, 'p1-member': 200, 'p1-admin': 200, 'p2-reader': 200, 'p2-member': 200, 'p2-admin': 200 });
    await matrix('accept', sharedWithP2, (c, id) => c.put(`/v2/images/${id}/members/p2`, { status: 'accepted' }), {
      'p1-reader': 403, 'p1-member': 403, 'p1-admin': 200, 'p2-reader': 403, 'p2-member': 200, 'p2-admin': 200,
    });
    await matrix('DELETE member', sharedWithP2, (c, id) => c.del(`/v2/images/${id}/members/p2`), {
      'p1-reader': 403, 'p1-member': 204, 'p1-admin': 204, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 204,
    });
  });
});

describe('creating images', () => {
  const none = async () => '';
  test('readers cannot create; only admins create for others or publicize', async () => {
    await matrix('POST', none, (c) => c.post('/v2/images', { name: 'n' }), { 'p1-reader': 403, 'p1-member': 201, 'p1-admin': 201, 'p2-reader': 403, 'p2-member': 201, 'p2-admin': 201 });
    await matrix('POST for p9', none, (c) => c.post('/v2/images', { owner: 'p9' }), { 'p1-reader': 403, 'p1-member': 403, 'p1-admin': 201, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 201 });
    await matrix('POST public', none, (c) => c.post('/v2/images', { visibility: 'public' }), { 'p1-reader': 403, 'p1-member': 403, 'p1-admin': 201, 'p2-reader': 403, 'p2-member': 403, 'p2-admin': 201 });
    await matrix('POST community', none, (c) => c.post('/v2/images', { visibility: 'community' }), { 'p1-reader': 403, 'p1-member': 201, 'p1-admin': 201, 'p2-reader': 403, 'p2-member': 201, 'p2-admin': 201 });
  });
});

describe('legacy defaults (enforce_new_defaults = false, enforce_secure_rbac = false)', () => {
  test('owners change their images, others cannot, publicize stays admin-only', async () => {
    const legacy = await startImago({ set: ['oslo_policy.enforce_new_defaults=false', 'oslo_policy.enforce_scope=false', 'DEFAULT.enforce_secure_rbac=false'] });
    try {
      const p1 = client(legacy.url, { project: 'p1', roles: 'member' });
      const p2 = client(legacy.url, { project: 'p2', roles: 'member' });
      const img = await p1.create({ visibility: 'public' }).catch(() => undefined);
      assert.equal(img, undefined, 'publicize_image is admin-only in both modes');
      const shared = await p1.create();
      assert.equal((await p1.post(`/v2/images/${shared.id}/members`, { member: 'p2' })).status, 200);
      assert.equal((await p2.get(`/v2/images/${shared.id}`)).status, 200, 'members read without a reader role in legacy mode');
      assert.equal((await p2.patch(`/v2/images/${shared.id}`, [{ op: 'add', path: '/k', value: 'v' }])).status, 403);
      assert.equal((await p2.del(`/v2/images/${shared.id}/members/p2`)).status, 403, 'legacy owner check: "You cannot delete image member"');
      assert.equal((await p1.put(`/v2/images/${shared.id}/members/p2`, { status: 'accepted' })).status, 403);
      assert.equal((await p2.put(`/v2/images/${shared.id}/members/p2`, { status: 'accepted' })).status, 200);
      assert.equal((await p1.patch(`/v2/images/${shared.id}`, [{ op: 'add', path: '/k', value: 'v' }])).status, 200);
    } finally {
      await legacy.stop();
    }
  });
});
