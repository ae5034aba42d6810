import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startImago, type Imago } from '../helpers/server.js';

let imago: Imago;
let admin: ReturnType<typeof client>;
let a: ReturnType<typeof client>;
let b: ReturnType<typeof client>;
let c: ReturnType<typeof client>;

before(async () => {
  imago = await startImago({ set: ['DEFAULT.image_member_quota=2'] });
  admin = client(imago.url, { project: 'admin-project', roles: 'admin,member,reader' });
  a = client(imago.url, { project: 'project-a', roles: 'member,reader' });
  b = client(imago.url, { project: 'project-b', roles: 'member,reader' });
  c = client(imago.url, { project: 'project-c', roles: 'member,reader' });
});
after(async () => imago.stop());

const listIds = async (who: ReturnType<typeof client>, q = '') => (await who.get(`/v2/images${q}`)).json.images.map((i: { id: string }) => i.id);

describe('visibility', () => {
  test('private, public, community and shared images as other projects see them', async () => {
    const priv = await a.create({ visibility: 'private' });
    const pub = await admin.create({ visibility: 'public' });
    const comm = await a.create({ visibility: 'community' });
    const shared = await a.create();
    assert.equal(shared.owner, 'project-a');
    assert.equal((await c.get(`/v2/images/${priv.id}`)).status, 404);
    assert.equal((await c.get(`/v2/images/${pub.id}`)).status, 200);
    assert.equal((await c.get(`/v2/images/${comm.id}`)).status, 200);
    assert.equal((await c.get(`/v2/images/${shared.id}`)).status, 404);
    const cList = await listIds(c);
    assert.ok(cList.includes(pub.id));
    assert.ok(!cList.includes(comm.id), 'community images of others are not in the default list');
    assert.ok((await listIds(c, '?visibility=community')).includes(comm.id));
    const aList = await listIds(a);
    for (const i of [priv, comm, shared, pub]) assert.ok(aList.includes(i.id), 'owners see all their own images');
    assert.ok((await listIds(admin, '?visibility=all')).includes(priv.id), 'admins see everything');
  });

  test('publicizing needs admin; community is allowed to members', async () => {
    assert.equal((await a.post('/v2/images', { visibility: 'public' })).status, 403);
    const img = await a.create();
    assert.equal((await a.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/visibility', value: 'public' }])).status, 403);
    assert.equal((await a.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/visibility', value: 'community' }])).status, 200);
  });

  test("other projects can neither change nor delete an image they can see, and get 404 for ones they can't", async () => {
    const pub = await admin.create({ visibility: 'public', owner: 'project-a' });
    assert.equal((await c.patch(`/v2/images/${pub.id}`, [{ op: 'replace', path: '/name', value: 'x' }])).status, 403);
    assert.equal((await c.del(`/v2/images/${pub.id}`)).status, 403);
    assert.equal((await c.put(`/v2/images/${pub.id}/tags/x`)).status, 403);
    assert.equal((await c.upload(`/v2/images/${pub.id}/file`, Buffer.from('x'))).status, 403);
    const priv = await a.create({ visibility: 'private' });
    assert.equal((await c.patch(`/v2/images/${priv.id}`, [{ op: 'replace', path: '/name', value: 'x' }])).status, 404);
    assert.equal((await c.del(`/v2/images/${priv.id}`)).status, 404);
    assert.equal((await c.get(`/v2/images/${priv.id}/file`)).status, 404);
  });

  test('only admins create images for other projects or change owners', async () => {
    assert.equal((await a.post('/v2/images', { owner: 'project-b' })).status, 403);
    assert.equal((await admin.post('/v2/images', { owner: 'project-b' })).status, 201);
    const img = await a.create();
    assert.equal((await a.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/owner', value: 'project-b' }])).status, 403);
    const moved = await admin.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/owner', value: 'project-b' }]);
    assert.equal(moved.json.owner, 'project-b');
  });
});

describe('members', () => {
  test('share, accept, reject, and what each side sees', async () => {
    const img = await a.create();
    const add = await a.post(`/v2/images/${img.id}/members`, { member: 'project-b' });
    assert.equal(add.status, 200);
    assert.equal(add.json.member_id, 'project-b');
    assert.equal(add.json.image_id, img.id);
    assert.equal(add.json.status, 'pending');
    assert.equal(add.json.schema, '/v2/schemas/member');
    assert.equal((await a.post(`/v2/images/${img.id}/members`, { member: 'project-b' })).status, 409);

    assert.equal((await b.get(`/v2/images/${img.id}`)).status, 200, 'a pending member can read the image');
    assert.ok(!(await listIds(b)).includes(img.id), 'but it is not in the default list until accepted');
    assert.ok((await listIds(b, '?member_status=pending')).includes(img.id));
    assert.ok((await listIds(b, '?member_status=all')).includes(img.id));

    assert.equal((await a.put(`/v2/images/${img.id}/members/project-b`, { status: 'accepted' })).status, 403, 'the owner cannot accept');
    assert.equal((await b.put(`/v2/images/${img.id}/members/project-b`, { status: 'maybe' })).status, 400);
    const acc = await b.put(`/v2/images/${img.id}/members/project-b`, { status: 'accepted' });
    assert.equal(acc.status, 200);
    assert.equal(acc.json.status, 'accepted');
    assert.ok((await listIds(b)).includes(img.id));
    assert.ok((await listIds(b, '?visibility=shared')).includes(img.id));

    await b.put(`/v2/images/${img.id}/members/project-b`, { status: 'rejected' });
    assert.ok(!(await listIds(b)).includes(img.id));
    assert.ok((await listIds(b, '?member_status=rejected')).includes(img.id));
    assert.equal((await b.get(`/v2/images/${img.id}`)).status, 200, 'rejecting does not revoke read access');

    await a.post(`/v2/images/${img.id}/members`, { member: 'project-c' });
    const ownerView = await a.get(`/v2/images/${img.id}/members`);
    assert.equal(ownerView.json.schema, '/v2/schemas/members');
    assert.deepEqual(ownerView.json.members.map((m: { member_id: string }) => m.member_id).sort(), ['project-b', 'project-c']);
    const memberView = await b.get(`/v2/images/${img.id}/members`);
    assert.deepEqual(memberView.json.members.map((m: { member_id: string }) => m.member_id), ['project-b']);
    assert.equal((await b.get(`/v2/images/${img.id}/members/project-c`)).status, 404);
    assert.equal((await b.get(`/v2/images/${img.id}/members/project-b`)).json.status, 'rejected');

    assert.equal((await b.post(`/v2/images/${img.id}/members`, { member: 'project-d' })).status, 403, 'members cannot share further');
    assert.equal((await b.del(`/v2/images/${img.id}/members/project-c`)).status, 404, "another member's membership is not even visible");
    assert.equal((await b.del(`/v2/images/${img.id}/members/project-b`)).status, 403, 'a member cannot remove itself');
    assert.equal((await a.del(`/v2/images/${img.id}/members/project-b`)).status, 204);
    assert.equal((await b.get(`/v2/images/${img.id}`)).status, 404, 'removed members lose access');
    assert.equal((await a.del(`/v2/images/${img.id}/members/project-b`)).status, 404);
  });

  test('only shared images have members; quota and bad bodies', async () => {
    const priv = await a.create({ visibility: 'private' });
    assert.equal((await a.post(`/v2/images/${priv.id}/members`, { member: 'project-b' })).status, 403);
    assert.equal((await a.get(`/v2/images/${priv.id}/members`)).status, 403);
    const img = await a.create();
    assert.equal((await a.post(`/v2/images/${img.id}/members`, {})).status, 400);
    assert.equal((await a.post(`/v2/images/${img.id}/members`, { member: '' })).status, 400);
    assert.equal((await a.post(`/v2/images/${img.id}/members`)).status, 400);
    assert.equal((await a.post(`/v2/images/${img.id}/members`, { member: 'p1' })).status, 200);
    assert.equal((await a.post(`/v2/images/${img.id}/members`, { member: 'p2' })).status, 200);
    assert.equal((await a.post(`/v2/images/${img.id}/members`, { member: 'p3' })).status, 413);
    assert.equal((await a.put(`/v2/images/${img.id}/members/p1`, {})).status, 400);
    assert.equal((await c.get(`/v2/images/${img.id}/members`)).status, 404, 'outsiders cannot even see the image');
  });
});
