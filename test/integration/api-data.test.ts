import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { client, startImago, type Imago } from '../helpers/server.js';
import { qemuImg, Workdir } from '../helpers/images.js';

let imago: Imago;
let api: ReturnType<typeof client>;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');
const storeFiles = () => readdirSync(join(imago.dataDir, 'images'));

before(async () => {
  imago = await startImago({ set: ['DEFAULT.image_size_cap=20000000'] });
  api = client(imago.url);
});
after(async () => imago.stop());

async function waitStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await api.get(`/v2/images/${id}`)).json.status === status) return;
    await sleep(50);
  }
  assert.fail(`image ${id} never reached ${status}`);
}

describe('upload and download', () => {
  test('upload activates the image with md5 and sha512 computed in one pass', async () => {
    const data = randomBytes(9_000_123); // past the inline hashing limit: exercises the hash workers
    const img = await api.create({ disk_format: 'raw' });
    const put = await api.upload(`/v2/images/${img.id}/file`, data);
    assert.equal(put.status, 204, put.text);
    const shown = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, data.length);
    assert.equal(shown.checksum, md5(data));
    assert.equal(shown.os_hash_algo, 'sha512');
    assert.equal(shown.os_hash_value, sha512(data));
    const r = await fetch(`${imago.url}/v2/images/${img.id}/file`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.equal(r.headers.get('content-length'), String(data.length));
    assert.equal(r.headers.get('content-md5'), md5(data));
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(data));
    assert.ok(storeFiles().includes(img.id));
  });

  test('small uploads and chunked transfer encoding', async () => {
    const img = await api.create();
    const parts = [Buffer.from('hello '), Buffer.from('chunked '), Buffer.from('world')];
    const stream = new ReadableStream({
      start(c) {
        for (const p of parts) c.enqueue(p);
        c.close();
      },
    });
    const r = await api.upload(`/v2/images/${img.id}/file`, stream as unknown as Buffer);
    assert.equal(r.status, 204);
    const shown = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(shown.size, 19);
    assert.equal(shown.checksum, md5(Buffer.concat(parts)));
  });

  test('zero-byte image', async () => {
    const img = await api.create();
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.alloc(0))).status, 204);
    const shown = (await api.get(`/v2/images/${img.id}`)).json;
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, 0);
    assert.equal(shown.checksum, md5(Buffer.alloc(0)));
    const r = await api.get(`/v2/images/${img.id}/file`);
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });

  test('download of an image without data is 204', async () => {
    const img = await api.create();
    const r = await api.get(`/v2/images/${img.id}/file`);
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('content-md5'), null);
  });

  test('wrong content type is 415, missing formats 400, upload to an active image 409', async () => {
    const img = await api.create();
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('x'), { 'Content-Type': 'text/plain' })).status, 415);
    const bare = (await api.post('/v2/images', {})).json;
    const r = await api.upload(`/v2/images/${bare.id}/file`, Buffer.from('x'));
    assert.equal(r.status, 400);
    assert.match(r.json.message, /disk_format, container_format must be set/);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('x'))).status, 204);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('y'))).status, 409);
    assert.equal((await api.upload(`/v2/images/00000000-0000-4000-8000-000000000000/file`, Buffer.from('y'))).status, 404);
  });

  test('deleting an image removes its bytes', async () => {
    const img = await api.create();
    await api.upload(`/v2/images/${img.id}/file`, Buffer.from('bytes'));
    assert.ok(storeFiles().includes(img.id));
    assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
    assert.ok(!storeFiles().includes(img.id));
  });
});

describe('ranges', () => {
  let id: string;
  const data = Buffer.from('0123456789abcdefghij');
  before(async () => {
    id = (await api.create()).id;
    await api.upload(`/v2/images/${id}/file`, data);
  });

  const get = (range: Record<string, string>) => api.get(`/v2/images/${id}/file`, range);

  test('single ranges', async () => {
    let r = await get({ Range: 'bytes=2-5' });
    assert.equal(r.status, 206);
    assert.equal(r.text, '2345');
    assert.equal(r.headers.get('content-range'), 'bytes 2-5/20');
    assert.equal(r.headers.get('content-length'), '4');
    r = await get({ Range: 'bytes=15-' });
    assert.equal(r.text, 'fghij');
    assert.equal(r.headers.get('content-range'), 'bytes 15-19/20');
    r = await get({ Range: 'bytes=-3' });
    assert.equal(r.text, 'hij');
    r = await get({ Range: 'bytes=18-100' });
    assert.equal(r.text, 'ij');
    assert.equal(r.headers.get('content-range'), 'bytes 18-19/20');
    r = await get({ 'Content-Range': 'bytes 1-3/20' });
    assert.equal(r.status, 206);
    assert.equal(r.text, '123');
  });

  test('unsatisfiable and unsupported ranges', async () => {
    assert.equal((await get({ Range: 'bytes=20-' })).status, 416);
    assert.equal((await get({ Range: 'bytes=5-2' })).status, 416);
    assert.equal((await get({ Range: 'items=0-1' })).status, 416);
    assert.equal((await get({ Range: 'bytes=0-1,4-5' })).status, 400);
    assert.equal((await get({ 'Content-Range': 'bytes 1-30/*' })).status, 416);
  });
});

describe('downloads from a local file (reused buffers, no stream)', () => {
  const data = randomBytes(9_000_123);
  let id: string;
  const imageFile = () => join(imago.dataDir, 'images', id);
  // the server's open descriptors on this image's file
  const openOnImage = () =>
    readdirSync(`/proc/${imago.proc.pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${imago.proc.pid}/fd/${fd}`) === imageFile();
      } catch {
        return false; // closed while we looked
      }
    }).length;
  async function noneOpen(): Promise<void> {
    for (let i = 0; i < 60 && openOnImage() > 0; i++) await sleep(50);
    assert.equal(openOnImage(), 0, 'the image file is closed');
  }
  before(async () => {
    id = (await api.create({ disk_format: 'raw' })).id;
    assert.equal((await api.upload(`/v2/images/${id}/file`, data)).status, 204);
  });

  test('a reader that pauses gets every byte, headers included, and its connection is reused', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(`${imago.url}/v2/images/${id}/file`);
    const got = await new Promise<{ body: Buffer; headers: IncomingHttpHeaders }>((resolve, reject) => {
      request(url, { agent }, (res) => {
        const parts: Buffer[] = [];
        let paused = false;
        res.on('data', (c: Buffer) => {
          parts.push(c);
          if (!paused) {
            paused = true; // long enough for the socket to fill and the server to wait for 'drain'
            res.pause();
            setTimeout(() => res.resume(), 300);
          }
        });
        res.on('end', () => resolve({ body: Buffer.concat(parts), headers: res.headers }));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(got.body.length, data.length);
    assert.ok(got.body.equals(data));
    assert.equal(got.headers['content-length'], String(data.length));
    assert.equal(got.headers['content-md5'], md5(data));
    assert.match(String(got.headers['x-openstack-request-id']), /^req-/);
    const again = await new Promise<{ reused: boolean; status: number }>((resolve, reject) => {
      const req = request(url, { agent, method: 'GET', headers: { Range: 'bytes=8999000-' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ reused: req.reusedSocket, status: res.statusCode ?? 0 }));
      }).on('error', reject);
      req.end();
    });
    assert.deepEqual(again, { reused: true, status: 206 });
    agent.destroy();
    await noneOpen();
  });

  test('a client that leaves mid-download: the file is closed and the server serves on', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(new URL(`${imago.url}/v2/images/${id}/file`), (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
      req.end();
    });
    await noneOpen();
    const r = await fetch(`${imago.url}/v2/images/${id}/file`);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(data));
  });

  test('a copy cut short on disk: 503 before any byte; cut during a download: the connection is cut', async () => {
    const big = randomBytes(19_500_000); // under image_size_cap, more than loopback socket buffers hold
    const short = (await api.create({ disk_format: 'raw' })).id;
    assert.equal((await api.upload(`/v2/images/${short}/file`, big)).status, 204);
    const file = join(imago.dataDir, 'images', short);

    // cut while a download is under way: the server must not end the body as if complete
    const outcome = await new Promise<{ bytes: number; error?: string }>((resolve) => {
      let bytes = 0;
      const req = request(new URL(`${imago.url}/v2/images/${short}/file`), (res) => {
        res.once('data', () => {
          res.pause();
          truncateSync(file, 3_000_000);
          setTimeout(() => res.resume(), 100);
        });
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ bytes }));
        res.on('error', (e) => resolve({ bytes, error: e.message }));
      });
      req.on('error', (e) => resolve({ bytes, error: e.message }));
      req.end();
    });
    assert.ok(outcome.bytes < big.length, `${outcome.bytes} bytes`);
    assert.equal(outcome.error, 'aborted');
    assert.match(imago.output(), /cut short: the file ended \d+ bytes before the image did/);

    // already short when asked for: no location can serve it
    const r = await api.get(`/v2/images/${short}/file`);
    assert.equal(r.status, 503);
    assert.match(r.text, /the copy in store file has 3000000 bytes, the image 19500000/);
  });
});

describe('failed uploads leave nothing behind and the image retryable', () => {
  test('over image_size_cap: 413, back to queued, no bytes', async () => {
    const img = await api.create();
    const r = await api.upload(`/v2/images/${img.id}/file`, Buffer.alloc(20_000_001));
    assert.equal(r.status, 413);
    assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'queued');
    assert.ok(!storeFiles().some((f) => f.includes(img.id)));
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('fits'))).status, 204, 'retry works');
  });

  test('x-openstack-image-size mismatch is 400 and too large a declaration 413', async () => {
    const img = await api.create();
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('12345'), { 'x-openstack-image-size': '4' })).status, 400);
    assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'queued');
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('12345'), { 'x-openstack-image-size': '6' })).status, 400);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('1'), { 'x-openstack-image-size': '99999999999' })).status, 413);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('1'), { 'x-openstack-image-size': 'lots' })).status, 400);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('12345'), { 'x-openstack-image-size': '5' })).status, 204);
    assert.ok(!storeFiles().some((f) => f.startsWith('.imago-partial')));
  });

  test('client disconnect mid-upload: image back to queued, no partial file', async () => {
    const img = await api.create();
    const url = new URL(`${imago.url}/v2/images/${img.id}/file`);
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(50_000_000) } });
      req.on('error', () => resolve());
      req.write(randomBytes(3_000_000), () => {
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 200);
      });
    });
    await waitStatus(img.id, 'queued');
    for (let i = 0; i < 40 && storeFiles().some((f) => f.startsWith('.imago-partial')); i++) await sleep(50);
    assert.deepEqual(storeFiles().filter((f) => f.includes(img.id) || f.startsWith('.imago-partial')), []);
    assert.equal((await api.upload(`/v2/images/${img.id}/file`, Buffer.from('again'))).status, 204, 'retry works');
  });

  test('image deleted during its upload: 410 and the bytes are removed', async () => {
    const img = await api.create();
    const url = new URL(`${imago.url}/v2/images/${img.id}/file`);
    const done = new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '2000000' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1_000_000, 7), async () => {
        await waitStatus(img.id, 'saving');
        assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
        req.end(Buffer.alloc(1_000_000, 7));
      });
    });
    assert.equal(await done, 410);
    assert.ok(!storeFiles().some((f) => f.includes(img.id)));
  });
});

describe('format inspection on upload', () => {
  test('a real qcow2 gets its virtual_size; content that is not the declared format is 415 and leaves nothing', async () => {
    const work = new Workdir();
    try {
      qemuImg('create', '-q', '-f', 'qcow2', work.path('disk.qcow2'), '1G');
      writeFileSync(work.path('base.raw'), Buffer.alloc(4096)); // a backing file of the test's own
      qemuImg('create', '-q', '-f', 'qcow2', '-b', work.path('base.raw'), '-F', 'raw', work.path('backed.qcow2'));
      const good = await api.create({ disk_format: 'qcow2' });
      assert.equal((await api.upload(`/v2/images/${good.id}/file`, readFileSync(work.path('disk.qcow2')))).status, 204);
      const shown = (await api.get(`/v2/images/${good.id}`)).json;
      assert.equal(shown.virtual_size, 1 << 30);

      const liar = await api.create({ disk_format: 'qcow2' });
      const r = await api.upload(`/v2/images/${liar.id}/file`, randomBytes(100_000));
      assert.equal(r.status, 415);
      assert.equal((await api.get(`/v2/images/${liar.id}`)).json.status, 'queued');
      assert.ok(!storeFiles().some((f) => f.includes(liar.id) || f.startsWith('.imago-partial')));

      const backed = await api.create({ disk_format: 'qcow2' });
      const b = await api.upload(`/v2/images/${backed.id}/file`, readFileSync(work.path('backed.qcow2')));
      assert.equal(b.status, 415, 'a qcow2 with a backing file is unsafe');
      assert.match(b.json.message, /backing/i);

      const hidden = await api.create({ disk_format: 'raw' });
      assert.equal((await api.upload(`/v2/images/${hidden.id}/file`, readFileSync(work.path('disk.qcow2')))).status, 415, 'qcow2 declared raw');
      const wrapped = await api.create({ disk_format: 'qcow2', container_format: 'ova' });
      assert.equal((await api.upload(`/v2/images/${wrapped.id}/file`, randomBytes(1000))).status, 204, 'only bare containers are inspected');
    } finally {
      work.remove();
    }
  });
});

describe('options', () => {
  test('hashing_algorithm and user_storage_quota', async () => {
    const other = await startImago({ set: ['DEFAULT.hashing_algorithm=sha256', 'DEFAULT.user_storage_quota=10B'] });
    try {
      const c = client(other.url, { project: 'quota-project', roles: 'member,reader' });
      const img = await c.create();
      assert.equal((await c.upload(`/v2/images/${img.id}/file`, Buffer.from('0123456789'))).status, 204);
      const shown = (await c.get(`/v2/images/${img.id}`)).json;
      assert.equal(shown.os_hash_algo, 'sha256');
      assert.equal(shown.os_hash_value, createHash('sha256').update('0123456789').digest('hex'));
      const second = await c.create();
      assert.equal((await c.upload(`/v2/images/${second.id}/file`, Buffer.from('x'))).status, 413);
      assert.equal((await c.get(`/v2/images/${second.id}`)).json.status, 'queued');
    } finally {
      await other.stop();
    }
  });
});
