// imago with its bytes in S3 (radosgw of scripts/backends/ceph-mini.sh), seen
// through the API: uploads and ranged downloads, the gateway dying in the
// middle of an upload (error, image back to queued, nothing left in the
// bucket), and downloads failing over to another store's copy, else 503.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { s3Backend, type S3Backend } from './backends.js';
import { client, startImago, type Imago } from '../helpers/server.js';

let s3: S3Backend;
let raw: S3Client;
let imago: Imago;
let api: ReturnType<typeof client>;
const bucket = `imago-api-${Date.now()}`;

before(async () => {
  s3 = s3Backend();
  raw = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  imago = await startImago({
    conf: `
[DEFAULT]
enabled_backends = objects:s3, local:file
enabled_import_methods = [copy-image, glance-direct]
# Staged data goes to S3: any API node can finish an import another node staged.
imago_staging_store = objects
[glance_store]
default_backend = objects
[objects]
s3_store_host = ${s3.endpoint}
s3_store_access_key = ${s3.accessKey}
s3_store_secret_key = ${s3.secretKey}
s3_store_bucket = ${bucket}
s3_store_create_bucket_on_put = true
s3_store_large_object_size = 5
s3_store_large_object_chunk_size = 5
weight = 100
[local]
filesystem_store_datadir = {data}/local
`,
  });
  api = client(imago.url, { project: 'p1', roles: 'admin,member,reader' });
});
after(async () => {
  await imago?.stop();
  s3?.startGateway();
  s3?.stop();
});

const objects = async () => ((await raw.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!);
const uploads = async () => ((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map((u) => u.Key!);

test('upload into S3, ranged download, delete removes the object', async () => {
  const data = randomBytes(12 << 20);
  const img = await api.create();
  assert.equal((await api.upload(`/v2/images/${img.id}/file`, data)).status, 204);
  const shown = (await api.get(`/v2/images/${img.id}`)).json;
  assert.equal(shown.stores, 'objects');
  assert.ok((await objects()).includes(img.id));
  const r = await fetch(`${imago.url}/v2/images/${img.id}/file`, { headers: { Range: 'bytes=6000000-6000099' } });
  assert.equal(r.status, 206);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(6_000_000, 6_000_100)));
  const whole = Buffer.from(await (await fetch(`${imago.url}/v2/images/${img.id}/file`)).arrayBuffer());
  assert.ok(whole.equals(data));
  assert.equal((await api.del(`/v2/images/${img.id}`)).status, 204);
  await assert.rejects(raw.send(new HeadObjectCommand({ Bucket: bucket, Key: img.id })));
});

test('the gateway dies mid-upload: the client gets an error, the image is queued again, the bucket holds nothing of it', async () => {
  const img = await api.create();
  const url = new URL(`${imago.url}/v2/images/${img.id}/file`);
  const status = await new Promise<number | 'reset'>((resolve) => {
    const req = request(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(40 << 20), 'X-Roles': 'admin', 'X-Project-Id': 'p1' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', () => resolve('reset'));
    (async () => {
      for (let i = 0; i < 40; i++) {
        if (i === 12) s3.stopGateway();
        if (!req.write(randomBytes(1 << 20))) await new Promise((r) => req.once('drain', r));
        await sleep(20);
      }
      req.end();
    })().catch(() => undefined);
  });
  assert.ok(status === 'reset' || status >= 500, `expected a failure, got ${status}`);
  for (let i = 0; i < 100 && (await api.get(`/v2/images/${img.id}`)).json.status !== 'queued'; i++) await sleep(100);
  assert.equal((await api.get(`/v2/images/${img.id}`)).json.status, 'queued');
  s3.startGateway();
  // The driver aborts the multipart upload once the gateway answers again.
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = [...(await uploads()), ...(await objects())].filter((k) => k.includes(img.id));
    if (left.length === 0) break;
    await sleep(200);
  }
  assert.deepEqual(left, [], 'no orphan multipart upload or object');
  assert.equal((await api.upload(`/v2/images/${img.id}/file`, randomBytes(1000))).status, 204, 'the image can be retried');
});

test('downloads fail over to the next copy when S3 is down, else 503', async () => {
  const data = randomBytes(2 << 20);
  const both = await api.create();
  await api.upload(`/v2/images/${both.id}/file`, data);
  assert.equal((await api.post(`/v2/images/${both.id}/import`, { method: { name: 'copy-image' }, stores: ['local'] })).status, 202);
  for (let i = 0; i < 100 && (await api.get(`/v2/images/${both.id}`)).json.os_glance_importing_to_stores !== ''; i++) await sleep(100);
  assert.equal((await api.get(`/v2/images/${both.id}`)).json.stores, 'objects,local');
  const only = await api.create();
  await api.upload(`/v2/images/${only.id}/file`, data);

  s3.stopGateway();
  try {
    const r = await fetch(`${imago.url}/v2/images/${both.id}/file`);
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(data), 'served from the local copy');
    assert.equal((await api.get(`/v2/images/${only.id}/file`)).status, 503);
  } finally {
    s3.startGateway();
  }
});

test('staging into S3: glance-direct stages into the bucket and the import empties it', async () => {
  const data = randomBytes(3 << 20);
  const img = await api.create();
  const st = await api.call('PUT', `/v2/images/${img.id}/stage`, { raw: data, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(st.status, 204, st.text);
  assert.ok((await objects()).includes(`staging-${img.id}`), 'the staged data is an object in the bucket');
  assert.equal((await api.post(`/v2/images/${img.id}/import`, { method: { name: 'glance-direct' }, stores: ['local'] })).status, 202);
  for (let i = 0; i < 100 && (await api.get(`/v2/images/${img.id}`)).json.status !== 'active'; i++) await sleep(100);
  const done = (await api.get(`/v2/images/${img.id}`)).json;
  assert.equal(done.status, 'active');
  assert.equal(done.stores, 'local');
  assert.ok(!(await objects()).includes(`staging-${img.id}`), 'staging emptied');
  const back = Buffer.from(await (await fetch(`${imago.url}/v2/images/${img.id}/file`)).arrayBuffer());
  assert.ok(back.equals(data));
});
