// The image cache ([DEFAULT] image_cache_dir) against the real server process:
// the /v2/cache API, the prefetcher, serving from the cache, teeing a miss
// into it, pruning, cleaning, policies and purges. Bytes served "from the
// cache" are proven to come from it by removing the store's copy behind
// imago's back first.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { client, startImago, type Imago } from '../helpers/server.js';
import { tempDir } from '../helpers/cleanup.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const MiB = 1 << 20;

type Api = ReturnType<typeof client>;

interface Node {
  imago: Imago;
  api: Api;
  cacheDir: string;
}

/** A node whose cache folder is <data>/cache (startImago makes the data folder, so it is set afterwards). */
async function cacheNode(extra: string[] = []): Promise<Node> {
  const dataDir = tempDir('imago-cache-test-');
  const cacheDir = join(dataDir, 'cache');
  const imago = await startImago({ dataDir, set: [`DEFAULT.image_cache_dir=${cacheDir}`, ...extra] });
  return { imago, api: client(imago.url), cacheDir };
}

async function activeImage(api: Api, data: Buffer, props: Record<string, unknown> = {}): Promise<string> {
  const img = await api.create(props);
  const r = await api.upload(`/v2/images/${img.id}/file`, data);
  assert.equal(r.status, 204, r.text);
  return img.id as string;
}

async function cacheState(api: Api): Promise<{ cached_images: { image_id: string; hits: number; size: number; last_accessed: number; last_modified: number }[]; queued_images: string[] }> {
  const r = await api.get('/v2/cache');
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function entry(api: Api, id: string) {
  return (await cacheState(api)).cached_images.find((e) => e.image_id === id);
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const storePath = (n: Node, id: string) => join(n.imago.dataDir, 'images', id);
const partials = (n: Node) => readdirSync(n.cacheDir).filter((f) => f.startsWith('.'));

async function download(n: Node, id: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${n.imago.url}/v2/images/${id}/file`, { headers });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

let node: Node;
before(async () => {
  node = await cacheNode(['DEFAULT.image_cache_stall_time=3600']);
});
after(async () => {
  if (process.env.CACHE_TEST_LOG) console.log(node.imago.output());
  await node.imago.stop();
});

describe('queue and prefetch', () => {
  test('a queued image is prefetched in the background, then listed with its size', async () => {
    const data = randomBytes(3 * MiB + 17);
    const id = await activeImage(node.api, data);
    const put = await node.api.put(`/v2/cache/${id}`);
    assert.equal(put.status, 202, put.text);
    const e = await until('the prefetcher', () => entry(node.api, id));
    assert.equal(e.size, data.length);
    assert.equal(e.hits, 0);
    assert.ok(e.last_modified > 1e9 && e.last_accessed >= e.last_modified);
    const state = await cacheState(node.api);
    assert.ok(!state.queued_images.includes(id), 'a cached image leaves the queue');
    assert.equal(statSync(join(node.cacheDir, id)).size, data.length);
    assert.deepEqual(partials(node), []);
    // Queueing it again is accepted and changes nothing.
    assert.equal((await node.api.put(`/v2/cache/${id}`)).status, 202);
    assert.ok(!(await cacheState(node.api)).queued_images.includes(id));
  });

  test('queueing: a missing image is 404, an image without data 400', async () => {
    assert.equal((await node.api.put('/v2/cache/8ef2f5d6-2b6b-4a8e-9d36-6f1d1a8e3c11')).status, 404);
    assert.equal((await node.api.put('/v2/cache/not-an-image')).status, 404);
    const queued = await node.api.create();
    const r = await node.api.put(`/v2/cache/${queued.id}`);
    assert.equal(r.status, 400);
    assert.match(r.text, /Only images with status active/);
  });

  test('an image whose data cannot be read stays queued (retried later)', async () => {
    const id = await activeImage(node.api, randomBytes(1000));
    unlinkSync(storePath(node, id));
    assert.equal((await node.api.put(`/v2/cache/${id}`)).status, 202);
    await sleep(500);
    const state = await cacheState(node.api);
    assert.ok(state.queued_images.includes(id));
    assert.ok(!state.cached_images.some((e) => e.image_id === id));
    assert.equal((await node.api.del(`/v2/cache/${id}`)).status, 204);
    assert.ok(!(await cacheState(node.api)).queued_images.includes(id));
  });
});

describe('serving from the cache', () => {
  test('a cached image is served from the cache, with its headers, counting hits', async () => {
    const data = randomBytes(2 * MiB + 5);
    const id = await activeImage(node.api, data);
    await node.api.put(`/v2/cache/${id}`);
    await until('the prefetcher', () => entry(node.api, id));
    // Only the cache has the bytes now.
    unlinkSync(storePath(node, id));
    for (const hits of [1, 2]) {
      const r = await download(node, id);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-length'), String(data.length));
      assert.equal(r.headers.get('content-md5'), md5(data));
      assert.equal(r.headers.get('content-type'), 'application/octet-stream');
      assert.ok(r.body.equals(data));
      assert.equal((await entry(node.api, id))!.hits, hits);
    }
    // A range is served from the complete cached file too.
    const part = await download(node, id, { Range: 'bytes=1000-1999' });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${data.length}`);
    assert.ok(part.body.equals(data.subarray(1000, 2000)));
    const tail = await download(node, id, { Range: 'bytes=-10' });
    assert.ok(tail.body.equals(data.subarray(data.length - 10)));
  });

  test('a deactivated image is never served from the cache', async () => {
    const data = randomBytes(4096);
    const id = await activeImage(node.api, data);
    await node.api.put(`/v2/cache/${id}`);
    await until('the prefetcher', () => entry(node.api, id));
    assert.equal((await node.api.post(`/v2/images/${id}/actions/deactivate`)).status, 204);
    const r = await download(node, id); // admins may still download it, from the store
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(data));
    assert.equal((await entry(node.api, id))!.hits, 0);
    assert.equal((await node.api.post(`/v2/images/${id}/actions/reactivate`)).status, 204);
    unlinkSync(storePath(node, id));
    assert.ok((await download(node, id)).body.equals(data));
    assert.equal((await entry(node.api, id))!.hits, 1);
  });
});

describe('tee on a miss', () => {
  test('a full download fills the cache as it streams', async () => {
    const data = randomBytes(6 * MiB + 3); // past the inline hashing limit: hashed by the workers
    const id = await activeImage(node.api, data);
    assert.equal(await entry(node.api, id), undefined);
    const first = await download(node, id);
    assert.ok(first.body.equals(data));
    const e = await until('the tee to commit', () => entry(node.api, id));
    assert.equal(e.size, data.length);
    assert.equal(e.hits, 0, 'the download that filled the cache is not a hit');
    unlinkSync(storePath(node, id));
    const second = await download(node, id);
    assert.equal(second.status, 200);
    assert.ok(second.body.equals(data));
    assert.equal((await entry(node.api, id))!.hits, 1);
  });

  test('a ranged download does not fill the cache', async () => {
    const data = randomBytes(100_000);
    const id = await activeImage(node.api, data);
    const part = await download(node, id, { Range: 'bytes=0-99999' });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(data));
    await sleep(300);
    assert.equal(await entry(node.api, id), undefined);
    assert.ok(!existsSync(join(node.cacheDir, id)));
  });

  test('data that does not match the checksum is served but never cached', async () => {
    const data = randomBytes(300_000);
    const id = await activeImage(node.api, data);
    const corrupt = Buffer.from(data);
    corrupt[1234] ^= 0xff;
    writeFileSync(storePath(node, id), corrupt);
    const r = await download(node, id);
    assert.equal(r.body.length, data.length);
    await sleep(300);
    assert.equal(await entry(node.api, id), undefined);
    assert.ok(!existsSync(join(node.cacheDir, id)));
    assert.deepEqual(partials(node), []);
  });

  test('a client that disconnects mid-download leaves no partial file, and the next download caches it', async () => {
    const data = randomBytes(64 * MiB);
    const id = await activeImage(node.api, data);
    const url = new URL(`${node.imago.url}/v2/images/${id}/file`);
    let received = 0;
    let partialSeen = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request(url, (res) => {
        res.once('data', (c: Buffer) => {
          received += c.length;
          res.pause();
          // The server is mid-stream (blocked on us), its cache file half written; hang up.
          setTimeout(() => {
            partialSeen = partials(node).length;
            req.destroy();
            resolve();
          }, 200);
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    });
    assert.ok(received > 0 && received < data.length);
    assert.equal(partialSeen, 1, 'the tee was writing its partial file when the client left');
    await until('the partial file to go', async () => partials(node).length === 0 || undefined, 5000);
    await sleep(200);
    assert.deepEqual(partials(node), []);
    assert.equal(await entry(node.api, id), undefined);
    assert.ok(!existsSync(join(node.cacheDir, id)));
    const full = await download(node, id);
    assert.equal(md5(full.body), md5(data));
    const e = await until('the tee to commit', () => entry(node.api, id));
    assert.equal(e.size, data.length);
    unlinkSync(storePath(node, id));
    assert.equal(md5((await download(node, id)).body), md5(data));
  });
});

describe('removing entries', () => {
  test('DELETE /v2/cache/{id} removes the cached file; an unknown image is 404', async () => {
    const id = await activeImage(node.api, randomBytes(5000));
    await download(node, id);
    await until('the tee', () => entry(node.api, id));
    assert.equal((await node.api.del(`/v2/cache/${id}`)).status, 204);
    assert.equal(await entry(node.api, id), undefined);
    assert.ok(!existsSync(join(node.cacheDir, id)));
    // The image exists: deleting it from the cache again is fine.
    assert.equal((await node.api.del(`/v2/cache/${id}`)).status, 204);
    assert.equal((await node.api.del('/v2/cache/8ef2f5d6-2b6b-4a8e-9d36-6f1d1a8e3c12')).status, 404);
  });

  test('deleting an image purges it from the cache', async () => {
    const id = await activeImage(node.api, randomBytes(5000));
    await node.api.put(`/v2/cache/${id}`);
    await until('the prefetcher', () => entry(node.api, id));
    assert.equal((await node.api.del(`/v2/images/${id}`)).status, 204);
    assert.equal(await entry(node.api, id), undefined);
    assert.ok(!existsSync(join(node.cacheDir, id)));
  });

  test('DELETE /v2/cache clears the cache, the queue or both (x-image-cache-clear-target)', async () => {
    const cached = await activeImage(node.api, randomBytes(2000));
    const stuck = await activeImage(node.api, randomBytes(2000));
    unlinkSync(storePath(node, stuck)); // stays queued: its data cannot be read
    const fill = async () => {
      await node.api.put(`/v2/cache/${cached}`);
      await node.api.put(`/v2/cache/${stuck}`);
      await until('the prefetcher', () => entry(node.api, cached));
      assert.ok((await cacheState(node.api)).queued_images.includes(stuck));
    };
    const clear = (target?: string) => node.api.call('DELETE', '/v2/cache', { headers: target === undefined ? {} : { 'x-image-cache-clear-target': target } });

    await fill();
    assert.equal((await clear('queue')).status, 204);
    let s = await cacheState(node.api);
    assert.deepEqual(s.queued_images, []);
    assert.ok(s.cached_images.some((e) => e.image_id === cached));

    await fill();
    assert.equal((await clear('cache')).status, 204);
    s = await cacheState(node.api);
    assert.deepEqual(s.cached_images, []);
    assert.ok(s.queued_images.includes(stuck));
    assert.deepEqual(readdirSync(node.cacheDir).filter((f) => !f.startsWith('.')), []);

    for (const target of [undefined, 'both', 'BOTH']) {
      await fill();
      assert.equal((await clear(target)).status, 204);
      s = await cacheState(node.api);
      assert.deepEqual(s, { cached_images: [], queued_images: [] });
    }

    const bad = await clear('invalid');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /x-image-cache-clear-target/);
  });
});

describe('cleaning', () => {
  test('POST /v2/cache/clean removes stalled partial files and files without a record, not live ones', async () => {
    const stalled = join(node.cacheDir, '.imago-partial-8ef2f5d6-2b6b-4a8e-9d36-6f1d1a8e3c13-aaaaaaaaaaaa');
    const fresh = join(node.cacheDir, '.imago-partial-8ef2f5d6-2b6b-4a8e-9d36-6f1d1a8e3c14-bbbbbbbbbbbb');
    const unrecorded = join(node.cacheDir, '8ef2f5d6-2b6b-4a8e-9d36-6f1d1a8e3c15');
    const unrelated = join(node.cacheDir, 'README.txt');
    for (const f of [stalled, fresh, unrecorded, unrelated]) writeFileSync(f, 'x');
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(stalled, old, old);
    utimesSync(unrecorded, old, old);
    const r = await node.api.post('/v2/cache/clean');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.files_removed, 2);
    assert.ok(!existsSync(stalled));
    assert.ok(!existsSync(unrecorded));
    assert.ok(existsSync(fresh), 'a partial file younger than image_cache_stall_time stays');
    assert.ok(existsSync(unrelated), 'files that are not cache entries are left alone');
    unlinkSync(fresh);
    unlinkSync(unrelated);
  });

  test('a record whose file disappeared is dropped and the image served from the store', async () => {
    const data = randomBytes(7000);
    const id = await activeImage(node.api, data);
    await node.api.put(`/v2/cache/${id}`);
    await until('the prefetcher', () => entry(node.api, id));
    unlinkSync(join(node.cacheDir, id));
    const r = await download(node, id);
    assert.ok(r.body.equals(data));
    // The miss re-filled the cache.
    await until('the tee', async () => existsSync(join(node.cacheDir, id)) && (await entry(node.api, id)));
  });
});

describe('policies', () => {
  test('every cache call needs admin (Glance: cache_list, cache_image, cache_delete, cache_clean, cache_prune)', async () => {
    const member = client(node.imago.url, { project: 'p-cache', roles: 'member,reader' });
    const own = await member.create();
    await member.upload(`/v2/images/${own.id}/file`, randomBytes(100));
    const calls: [string, string][] = [
      ['GET', '/v2/cache'],
      ['PUT', `/v2/cache/${own.id}`],
      ['DELETE', `/v2/cache/${own.id}`],
      ['DELETE', '/v2/cache'],
      ['POST', '/v2/cache/clean'],
      ['POST', '/v2/cache/prune'],
    ];
    for (const [method, path] of calls) {
      const r = await member.call(method, path);
      assert.equal(r.status, 403, `${method} ${path}: ${r.status} ${r.text}`);
    }
    assert.ok(!(await cacheState(node.api)).queued_images.includes(own.id));
    // Downloads by anyone allowed to download fill and use the cache.
    await fetch(`${node.imago.url}/v2/images/${own.id}/file`, { headers: { 'X-Project-Id': 'p-cache', 'X-Roles': 'member,reader' } }).then((r) => r.arrayBuffer());
    await until('the tee', () => entry(node.api, own.id));
  });
});

describe('pruning', () => {
  let small: Node;
  before(async () => {
    small = await cacheNode([`DEFAULT.image_cache_max_size=${Math.floor(2.5 * MiB)}`]);
  });
  after(async () => small.imago.stop());

  test('the least recently accessed images go when the cache exceeds image_cache_max_size', async () => {
    const [a, b, c] = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
    const ida = await activeImage(small.api, a);
    const idb = await activeImage(small.api, b);
    const idc = await activeImage(small.api, c);
    for (const id of [ida, idb]) {
      await small.api.put(`/v2/cache/${id}`);
      await until('the prefetcher', () => entry(small.api, id));
      await sleep(20);
    }
    // A is read again: B is now the least recently accessed.
    await download(small, ida);
    await small.api.put(`/v2/cache/${idc}`);
    await until('the prefetcher', () => entry(small.api, idc));
    const ids = (await cacheState(small.api)).cached_images.map((e) => e.image_id).sort();
    assert.deepEqual(ids, [ida, idc].sort());
    assert.ok(!existsSync(join(small.cacheDir, idb)));
    // Nothing to prune now.
    const r = await small.api.post('/v2/cache/prune');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { files_pruned: 0, bytes_pruned: 0 });
  });

  test('an image larger than the whole cache is neither prefetched nor teed', async () => {
    const big = randomBytes(3 * MiB);
    const id = await activeImage(small.api, big);
    assert.equal((await small.api.put(`/v2/cache/${id}`)).status, 202);
    await until('the prefetcher to drop it', async () => !(await cacheState(small.api)).queued_images.includes(id));
    assert.ok((await download(small, id)).body.equals(big));
    await sleep(300);
    assert.equal(await entry(small.api, id), undefined);
    assert.ok(!existsSync(join(small.cacheDir, id)));
  });
});

describe('nodes', () => {
  test('each node has its own cache, keyed by worker_self_reference_url; deletions reach the other node', async (t) => {
    const a = await cacheNode(['DEFAULT.worker_self_reference_url=http://node-a']);
    t.after(() => a.imago.stop());
    const shared = [
      `database.connection=sqlite:///${join(a.imago.dataDir, 'imago.sqlite')}`,
      `glance_store.filesystem_store_datadir=${join(a.imago.dataDir, 'images')}`,
      'DEFAULT.worker_self_reference_url=http://node-b',
    ];
    const b = await cacheNode(shared);
    t.after(() => b.imago.stop());
    const data = randomBytes(10_000);
    const id = await activeImage(a.api, data);
    await a.api.put(`/v2/cache/${id}`);
    await until('node a to cache it', () => entry(a.api, id));
    assert.deepEqual(await cacheState(b.api), { cached_images: [], queued_images: [] });
    await download(b, id);
    await until('node b to cache it', () => entry(b.api, id));
    assert.equal(statSync(join(b.cacheDir, id)).size, data.length);
    // Deleted through node a: node b drops its copy at its next cleaning.
    assert.equal((await a.api.del(`/v2/images/${id}`)).status, 204);
    assert.equal(await entry(a.api, id), undefined);
    assert.equal((await b.api.post('/v2/cache/clean')).status, 200);
    assert.equal(await entry(b.api, id), undefined);
    assert.ok(!existsSync(join(b.cacheDir, id)));
  });
});

describe('restart', () => {
  test('the cache outlives a restart, and what a crash left half-written is swept at start', async (t) => {
    const first = await cacheNode(['DEFAULT.image_cache_stall_time=60']);
    t.after(() => first.imago.stop());
    const data = randomBytes(20_000);
    const id = await activeImage(first.api, data);
    await first.api.put(`/v2/cache/${id}`);
    await until('the prefetcher', () => entry(first.api, id));
    const stalled = join(first.cacheDir, `.imago-partial-${id}-cccccccccccc`);
    writeFileSync(stalled, 'half');
    const old = new Date(Date.now() - 120_000);
    utimesSync(stalled, old, old);
    const exited = new Promise((r) => first.imago.proc.once('exit', r));
    first.imago.proc.kill('SIGKILL');
    await exited;
    const { dataDir } = first.imago;
    const again = await startImago({ dataDir, set: [`DEFAULT.image_cache_dir=${first.cacheDir}`, 'DEFAULT.image_cache_stall_time=60'] });
    try {
      const api = client(again.url);
      await until('the sweep at start', async () => !existsSync(stalled));
      unlinkSync(join(dataDir, 'images', id));
      const r = await fetch(`${again.url}/v2/images/${id}/file`);
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(data));
      assert.equal((await entry(api, id))!.hits, 1);
    } finally {
      await again.stop();
    }
  });
});

describe('without image_cache_dir', () => {
  let plain: Imago;
  before(async () => {
    plain = await startImago();
  });
  after(async () => plain.stop());

  test('every cache route is 404 and the cache versions are not advertised', async () => {
    const api = client(plain.url);
    const img = await api.create();
    for (const [method, path] of [
      ['GET', '/v2/cache'],
      ['PUT', `/v2/cache/${img.id}`],
      ['DELETE', `/v2/cache/${img.id}`],
      ['DELETE', '/v2/cache'],
      ['POST', '/v2/cache/clean'],
      ['POST', '/v2/cache/prune'],
    ] as const) {
      assert.equal((await api.call(method, path)).status, 404, `${method} ${path}`);
    }
    const ids = (await api.get('/versions')).json.versions.map((v: { id: string }) => v.id);
    assert.ok(!ids.includes('v2.16') && !ids.includes('v2.14'));
    const withCache = (await node.api.get('/versions')).json.versions.map((v: { id: string; status: string }) => `${v.id}:${v.status}`);
    assert.ok(withCache.includes('v2.16:SUPPORTED') && withCache.includes('v2.14:SUPPORTED'), withCache.join(' '));
  });
});
