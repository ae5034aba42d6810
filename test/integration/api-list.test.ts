import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startImago, type Imago } from '../helpers/server.js';

let imago: Imago;
let api: ReturnType<typeof client>;
const ids: Record<string, string> = {};

before(async () => {
  imago = await startImago();
  api = client(imago.url);
  const specs: [string, Record<string, unknown>, number | undefined][] = [
    ['alpha', { disk_format: 'ami', tags: ['linux', 'x86'], os_distro: 'ubuntu', min_ram: 512 }, 10],
    ['beta', { disk_format: 'raw', tags: ['linux'], os_distro: 'debian', visibility: 'public' }, 100],
    ['gamma', { disk_format: 'raw', container_format: 'ovf', visibility: 'private', protected: true }, undefined],
    ['glass, darkly', { disk_format: 'aki', os_hidden: true }, 1000],
    ['delta', { disk_format: 'vmdk', visibility: 'community' }, undefined],
  ];
  for (const [name, props, size] of specs) {
    const img = await api.create({ name, container_format: 'bare', ...props });
    ids[name] = img.id;
    if (size !== undefined) await api.upload(`/v2/images/${img.id}/file`, Buffer.alloc(size, 1));
  }
});
after(async () => imago.stop());

const names = (r: { json: { images: { name: string }[] } }) => r.json.images.map((i) => i.name).sort();

describe('GET /v2/images', () => {
  test('default list: newest first, hidden and community images left out', async () => {
    const r = await api.get('/v2/images');
    assert.equal(r.status, 200);
    assert.equal(r.json.first, '/v2/images');
    assert.equal(r.json.schema, '/v2/schemas/images');
    assert.deepEqual(
      r.json.images.map((i: { name: string }) => i.name),
      ['gamma', 'beta', 'alpha'],
    );
  });

  test('filters on base columns, properties, tags and ranges', async () => {
    assert.deepEqual(names(await api.get('/v2/images?name=alpha')), ['alpha']);
    assert.deepEqual(names(await api.get('/v2/images?disk_format=raw')), ['beta', 'gamma']);
    assert.deepEqual(names(await api.get('/v2/images?container_format=ovf')), ['gamma']);
    assert.deepEqual(names(await api.get('/v2/images?status=queued')), ['gamma']);
    assert.deepEqual(names(await api.get('/v2/images?status=in:queued,active')), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(names(await api.get('/v2/images?name=in:%22glass,%20darkly%22,alpha&os_hidden=true')), ['glass, darkly']);
    assert.deepEqual(names(await api.get('/v2/images?os_distro=debian')), ['beta']);
    assert.deepEqual(names(await api.get('/v2/images?tag=linux')), ['alpha', 'beta']);
    assert.deepEqual(names(await api.get('/v2/images?tag=linux&tag=x86')), ['alpha']);
    assert.deepEqual(names(await api.get('/v2/images?size_min=50')), ['beta']);
    assert.deepEqual(names(await api.get('/v2/images?size_max=50')), ['alpha']);
    assert.deepEqual(names(await api.get('/v2/images?size_min=10&size_max=100')), ['alpha', 'beta']);
    assert.deepEqual(names(await api.get('/v2/images?min_ram=512')), ['alpha']);
    assert.deepEqual(names(await api.get('/v2/images?protected=true')), ['gamma']);
    assert.deepEqual(names(await api.get('/v2/images?protected=false')), ['alpha', 'beta']);
    assert.deepEqual(names(await api.get('/v2/images?os_hidden=true')), ['glass, darkly']);
    const alpha = (await api.get(`/v2/images/${ids.alpha}`)).json;
    assert.deepEqual(names(await api.get(`/v2/images?checksum=${alpha.checksum}`)), ['alpha']);
    assert.deepEqual(names(await api.get(`/v2/images?os_hash_value=${alpha.os_hash_value}`)), ['alpha']);
    assert.deepEqual(names(await api.get(`/v2/images?id=${ids.beta}`)), ['beta']);
  });

  test('visibility filter', async () => {
    assert.deepEqual(names(await api.get('/v2/images?visibility=public')), ['beta']);
    assert.deepEqual(names(await api.get('/v2/images?visibility=private')), ['gamma']);
    assert.deepEqual(names(await api.get('/v2/images?visibility=community')), ['delta']);
    assert.deepEqual(names(await api.get('/v2/images?visibility=shared')), ['alpha']);
    assert.deepEqual(names(await api.get('/v2/images?visibility=all')), ['alpha', 'beta', 'delta', 'gamma']);
  });

  test('created_at / updated_at operators', async () => {
    const alpha = (await api.get(`/v2/images/${ids.alpha}`)).json;
    const all = names(await api.get(`/v2/images?created_at=gte:${alpha.created_at}`));
    assert.ok(all.includes('alpha') && all.includes('gamma'));
    assert.deepEqual(names(await api.get('/v2/images?created_at=lt:2000-01-01T00:00:00Z')), []);
    assert.deepEqual(names(await api.get('/v2/images?updated_at=gt:2000-01-01T00:00:00Z')), ['alpha', 'beta', 'gamma']);
    assert.ok(names(await api.get(`/v2/images?created_at=eq:${alpha.created_at}`)).includes('alpha'));
    assert.ok(!names(await api.get(`/v2/images?created_at=neq:${alpha.created_at}`)).includes('alpha'));
    assert.equal((await api.get('/v2/images?created_at=gt:yesterday')).status, 400);
    assert.equal((await api.get('/v2/images?created_at=between:2000-01-01T00:00:00Z')).status, 400);
  });

  test('sorting: classic and new syntax', async () => {
    const byName = await api.get('/v2/images?sort_key=name&sort_dir=asc');
    assert.deepEqual(byName.json.images.map((i: { name: string }) => i.name), ['alpha', 'beta', 'gamma']);
    const bySize = await api.get('/v2/images?sort=size:desc,name:asc');
    assert.deepEqual(bySize.json.images.map((i: { name: string }) => i.name), ['beta', 'alpha', 'gamma']);
    const two = await api.get('/v2/images?sort_key=disk_format&sort_key=name&sort_dir=asc&sort_dir=desc');
    assert.deepEqual(two.json.images.map((i: { name: string }) => i.name), ['alpha', 'gamma', 'beta']);
    assert.equal((await api.get('/v2/images?sort_key=owner')).status, 400);
    assert.equal((await api.get('/v2/images?sort_dir=up')).status, 400);
    assert.equal((await api.get('/v2/images?sort=name&sort_key=name')).status, 400);
    assert.equal((await api.get('/v2/images?sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc')).status, 400);
  });

  test('pagination with limit, marker and next links', async () => {
    const seen: string[] = [];
    let path = '/v2/images?limit=1&sort_key=name&sort_dir=asc&visibility=all';
    for (let i = 0; i < 10 && path; i++) {
      const r = await api.get(path);
      assert.equal(r.status, 200);
      seen.push(...r.json.images.map((x: { name: string }) => x.name));
      assert.equal(r.json.first, '/v2/images?limit=1&sort_key=name&sort_dir=asc&visibility=all');
      path = r.json.next;
    }
    assert.deepEqual(seen, ['alpha', 'beta', 'delta', 'gamma']);
    const page = await api.get(`/v2/images?marker=${ids.alpha}&sort_key=name&sort_dir=asc`);
    assert.deepEqual(page.json.images.map((x: { name: string }) => x.name), ['beta', 'gamma']);
    assert.equal(page.json.next, undefined);
  });

  test('bad parameters are 400', async () => {
    for (const q of [
      'limit=abc',
      'limit=-1',
      'marker=00000000-0000-4000-8000-000000000000',
      'visibility=everyone',
      'member_status=maybe',
      'protected=yes',
      'os_hidden=maybe',
      'size_min=big',
      'changes-since=2020-01-01T00:00:00Z',
      'status=like:act',
      'name=in:%22unterminated',
    ]) {
      assert.equal((await api.get(`/v2/images?${q}`)).status, 400, q);
    }
  });

  test('limit is capped by api_limit_max and 0 returns no images', async () => {
    assert.equal((await api.get('/v2/images?limit=0')).json.images.length, 0);
    assert.equal((await api.get('/v2/images?limit=99999')).status, 200);
  });
});
