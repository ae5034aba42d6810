// The S3 store against radosgw (ceph-mini, started here unless S3_ENDPOINT is set):
// the shared conformance suite, then what only S3 has: single PUT vs multipart,
// legacy Glance URLs with keys, configuration, and radosgw dying mid-upload.

import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { loadConfig } from '../../src/config/config.js';
import { S3Store, type S3StoreOptions } from '../../src/stores/s3.js';
import { StoreRegistry } from '../../src/stores/registry.js';
import type { Store } from '../../src/stores/store.js';
import { assertKind, describeMeasure, kindOf, MEASURE_SLACK, measureWrite, readAll, runStoreConformance, sha, waitFor, writeAll } from '../stores/conformance.js';
import { s3Backend, s3StoreOptions, type S3Backend } from './backends.js';

const MiB = 1 << 20;

let backend: S3Backend | undefined;
let setupError: Error | undefined;
try {
  backend = s3Backend();
} catch (e) {
  setupError = e as Error;
}

if (!backend) {
  test('S3 backend for the S3 store tests', () => {
    throw setupError;
  });
} else {
  const be = backend;
  if (be.startMs !== undefined) console.log(`# ceph-mini started in ${(be.startMs / 1000).toFixed(1)} s`);
  after(() => be.stop());

  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const raw = new S3Client({
    endpoint: be.endpoint,
    region: be.region,
    forcePathStyle: true,
    credentials: { accessKeyId: be.accessKey, secretAccessKey: be.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const bucket = `imago-test-${randomBytes(4).toString('hex')}`;
  after(async () => {
    // leave an external S3 as we found it; a ceph-mini started here is thrown away anyway
    await raw.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    raw.destroy();
  });

  const base = (over: Partial<S3StoreOptions> = {}): S3StoreOptions => s3StoreOptions(be, bucket, over);
  const make = async (over: Partial<S3StoreOptions> = {}) => {
    const s = new S3Store(base(over));
    await s.init();
    return s;
  };

  /** What radosgw holds for an image: the object and any multipart upload of its key. */
  async function artifacts(imageId: string, inBucket = bucket): Promise<string[]> {
    const found: string[] = [];
    const head = await raw.send(new HeadObjectCommand({ Bucket: inBucket, Key: imageId })).catch((e: Error) => e);
    if (!(head instanceof Error)) found.push(`object ${imageId}`);
    else if (head.name !== 'NotFound' && head.name !== 'NoSuchBucket') throw head;
    const ups = await raw.send(new ListMultipartUploadsCommand({ Bucket: inBucket, Prefix: imageId })).catch((e: Error) => e);
    if (ups instanceof Error) {
      if (ups.name !== 'NoSuchBucket') throw ups;
    } else {
      for (const u of ups.Uploads ?? []) found.push(`multipart upload ${u.Key} ${u.UploadId}`);
    }
    return found;
  }

  runStoreConformance('s3 (radosgw)', () => make(), {
    artifacts,
    chunkSize: 5 * MiB,
    maxBufferedBytes: (3 + 1) * 5 * MiB,
    detailKeys: ['s3_store_large_object_size', 's3_store_large_object_chunk_size', 's3_store_thread_pools'],
    // single PUTs are exclusive (If-None-Match), but radosgw (Pacific) ignores If-None-Match
    // on CompleteMultipartUpload, so two multipart writers racing on one id can both succeed
    exclusiveCommit: false,
  });

  describe('s3 store specifics', () => {
    let store: S3Store;
    before(async () => {
      store = await make();
    });
    after(() => store.close());

    it('locations carry no credentials; legacy s3://key:secret@host URLs still read', async () => {
      const id = randomUUID();
      const data = randomBytes(3000);
      const w = await store.createWriter(id, { sizeHint: data.length });
      await w.write(data);
      const c = await w.commit();
      const host = new URL(be.endpoint).host;
      assert.equal(c.url, `s3+http://${host}/${bucket}/${id}`);
      assert.ok(!c.url.includes(be.accessKey) && !c.url.includes(be.secretKey));
      for (const legacy of [`s3://${be.accessKey}:${be.secretKey}@${host}/${bucket}/${id}`, `s3+http://${be.accessKey}:${be.secretKey}@${host}/${bucket}/${id}`]) {
        assert.equal((await store.stat(legacy)).size, data.length);
        assert.equal(sha(await readAll((await store.open(legacy)).stream)), sha(data));
      }
      // legacy keys are used as given: wrong ones are refused by the server
      await assertKind(store.stat(`s3://${be.accessKey}:wrong@${host}/${bucket}/${id}`), 'write_denied');
      await assertKind(store.open('s3://a:b@https://host/bucket/key'), 'bad_uri');
      await store.delete(c.url);
    });

    it('known size below s3_store_large_object_size: one streamed PUT, no multipart upload', async () => {
      const id = randomUUID();
      const size = 7 * MiB;
      const data = randomBytes(size);
      const w = await store.createWriter(id, { sizeHint: size });
      await writeAll(w, data.subarray(0, 6 * MiB), 65_536);
      assert.deepEqual(await artifacts(id), [], 'nothing visible while the PUT streams');
      await writeAll(w, data.subarray(6 * MiB), 65_536);
      const c = await w.commit();
      assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
      await store.delete(c.url);
    });

    it('known size at the threshold, or unknown size: multipart', async () => {
      for (const sizeHint of [8 * MiB + 1, undefined]) {
        const id = randomUUID();
        const data = randomBytes(8 * MiB + 1);
        const w = await store.createWriter(id, { sizeHint });
        await writeAll(w, data.subarray(0, 6 * MiB), 65_536);
        const seen = await artifacts(id);
        assert.equal(seen.length, 1, `sizeHint ${sizeHint}: ${seen}`);
        assert.match(seen[0]!, /^multipart upload /);
        await writeAll(w, data.subarray(6 * MiB), 65_536);
        const c = await w.commit();
        assert.deepEqual(await artifacts(id), [`object ${id}`]);
        assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
        await store.delete(c.url);
      }
    });

    it('s3_store_large_object_size = 0 sends anything larger than a part in parts', async () => {
      const forced = await make({ largeObjectSize: 0 });
      const id = randomUUID();
      const w = await forced.createWriter(id, { sizeHint: 6 * MiB });
      await writeAll(w, randomBytes(6 * MiB), MiB);
      assert.match((await artifacts(id))[0] ?? '', /^multipart upload /);
      const c = await w.commit();
      await forced.delete(c.url);
      await forced.close();
    });

    it('more or fewer bytes than declared: invalid, and nothing is left', async () => {
      for (const size of [1000, 12 * MiB]) {
        const over = randomUUID();
        const w1 = await store.createWriter(over, { sizeHint: size });
        await writeAll(w1, randomBytes(size), MiB);
        await assertKind(w1.write(Buffer.from('x')), 'invalid');
        await w1.abort();
        assert.deepEqual(await artifacts(over), []);
        const under = randomUUID();
        const w2 = await store.createWriter(under, { sizeHint: size });
        await writeAll(w2, randomBytes(size - 1), MiB);
        await assertKind(w2.commit(), 'invalid');
        await w2.abort();
        assert.deepEqual(await artifacts(under), []);
      }
    });

    it('a streamed single PUT of 256 MiB keeps memory bounded', { timeout: 600_000 }, async (t) => {
      const big = await make({ largeObjectSize: 1024 * MiB });
      const m = await measureWrite(big, randomUUID(), 256 * MiB, { sizeHint: 256 * MiB });
      t.diagnostic(`single PUT: ${describeMeasure(m, 4 * MiB)}`);
      assert.ok(m.peakLiveBytes <= 4 * MiB + MEASURE_SLACK, `held ${(m.peakLiveBytes / MiB).toFixed(1)} MiB`);
      await big.delete(m.committed.url);
      await big.close();
    });

    it('a missing bucket is an error unless s3_store_create_bucket_on_put', async () => {
      const other = `imago-nobucket-${randomBytes(4).toString('hex')}`;
      const strict = await make({ bucket: other, createBucketOnPut: false });
      const e = await assertKind(strict.createWriter(randomUUID()), 'unavailable');
      assert.match(e.message, /s3_store_create_bucket_on_put/);
      await strict.close();
      const creating = await make({ bucket: other, createBucketOnPut: true });
      const w = await creating.createWriter(randomUUID());
      await w.write(Buffer.from('x'));
      const c = await w.commit();
      await creating.delete(c.url);
      await creating.close();
      await raw.send(new DeleteBucketCommand({ Bucket: other }));
    });

    it('wrong credentials: write_denied', async () => {
      const denied = await make({ secretKey: 'not-the-secret', bucket });
      await assertKind(denied.createWriter(randomUUID()), 'write_denied');
      await denied.close();
    });

    it('configured through the registry from glance-api.conf options', async (t) => {
      const host = new URL(be.endpoint).host;
      const dataDir = await mkdtemp(join(tmpdir(), 'imago-s3-registry-'));
      t.after(() => rm(dataDir, { recursive: true, force: true }));
      const config = loadConfig({
        env: {},
        set: [
          'DEFAULT.enabled_backends=fast:file, objects:s3',
          `DEFAULT.imago_data_dir=${dataDir}`,
          'glance_store.default_backend=objects',
          `objects.s3_store_host=${host}`,
          `objects.s3_store_access_key=${be.accessKey}`,
          `objects.s3_store_secret_key=${be.secretKey}`,
          `objects.s3_store_bucket=${bucket}`,
          'objects.s3_store_large_object_size=0',
          'objects.s3_store_large_object_chunk_size=6',
          'objects.s3_store_thread_pools=2',
        ],
      });
      const reg = await StoreRegistry.fromConfig(config);
      try {
        const s = reg.get('objects')!;
        assert.equal(s.type, 's3');
        assert.deepEqual(s.detail(), { s3_store_large_object_size: 0, s3_store_large_object_chunk_size: 6 * MiB, s3_store_thread_pools: 2 });
        const w = await s.createWriter(randomUUID());
        await w.write(Buffer.from('hello'));
        const c = await w.commit();
        assert.deepEqual(c.metadata, { store: 'objects' });
        assert.equal(reg.forLocation(c.url, c.metadata), s);
        assert.equal(reg.forLocation(c.url), s, 'found by scheme too');
        await s.delete(c.url);
      } finally {
        await reg.close();
      }
    });
  });

  describe('s3 store when radosgw dies', () => {
    let store: S3Store;
    before(async () => {
      // short timeouts: a test should not wait out production values
      store = await make({ connectTimeoutMs: 2000, socketTimeoutMs: 10_000 });
    });
    after(async () => {
      be.startGateway(); // whatever happened, leave the gateway running
      await store.close();
    });

    it('radosgw killed mid-download: the stream fails, it does not end short', { timeout: 120_000 }, async () => {
      const id = randomUUID();
      const w = await store.createWriter(id);
      await writeAll(w, randomBytes(64 * MiB), MiB);
      const c = await w.commit();
      const o = await store.open(c.url);
      const it = o.stream[Symbol.asyncIterator]();
      let got = ((await it.next()).value as Buffer).length;
      be.stopGateway();
      try {
        await assert.rejects(async () => {
          for (;;) {
            const r = await it.next();
            if (r.done) throw new Error(`stream ended normally after ${got} of ${o.size} bytes`);
            got += (r.value as Buffer).length;
          }
        }, (e: Error) => !/ended normally/.test(e.message));
      } finally {
        be.startGateway();
      }
      await waitFor(async () => (await store.delete(c.url).then(() => true, () => false)), 30_000, async () => 'delete kept failing');
    });

    for (const mode of ['multipart', 'single PUT'] as const) {
      it(`${mode}: radosgw killed mid-upload → write/commit reject, nothing orphaned after restart`, { timeout: 180_000 }, async (t) => {
        const id = randomUUID();
        const total = 64 * MiB;
        const w = await store.createWriter(id, mode === 'single PUT' ? { sizeHint: total } : {});
        const chunk = randomBytes(MiB);
        let written = 0;
        for (; written < 12 * MiB; written += chunk.length) await w.write(chunk);
        if (mode === 'multipart') assert.match((await artifacts(id))[0] ?? '', /^multipart upload /);
        be.stopGateway();
        const failedAt = performance.now();
        let failure: unknown;
        try {
          for (; written < total; written += chunk.length) await w.write(chunk);
          await w.commit();
        } catch (e) {
          failure = e;
        }
        assert.ok(failure, 'the upload must fail while radosgw is down');
        assert.equal(kindOf(failure), 'unavailable', String(failure));
        const secs = (performance.now() - failedAt) / 1000;
        assert.ok(secs < 30, `failure took ${secs.toFixed(1)} s to surface`);
        await w.abort();
        // the multipart upload could not be aborted with radosgw down: a retry is pending
        if (mode === 'multipart') assert.ok(store.pendingCleanups >= 1, 'a cleanup must be retrying');

        // reads fail fast and say why
        const t0 = performance.now();
        await assertKind(store.open(`s3+http://x/${bucket}/${randomUUID()}`), 'unavailable');
        const openMs = performance.now() - t0;
        assert.ok(openMs < 5000, `open() on a stopped server took ${openMs.toFixed(0)} ms`);
        t.diagnostic(`upload failed ${secs.toFixed(2)} s after radosgw died; open() → unavailable in ${openMs.toFixed(0)} ms`);

        be.startGateway();
        // the store retries its cleanup in the background until radosgw is back
        await waitFor(async () => (await artifacts(id)).length === 0, 30_000, async () => `left: ${await artifacts(id)}`);
        const objects = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: id }));
        assert.equal(objects.KeyCount ?? 0, 0);
      });
    }
  });

  describe('s3 store with the bucket created by someone else', () => {
    // exercises HeadBucket success without create (ceph-mini has no other users)
    it('uses an existing bucket without creating it', async () => {
      const other = `imago-existing-${randomBytes(4).toString('hex')}`;
      await raw.send(new CreateBucketCommand({ Bucket: other }));
      const s: Store = await make({ bucket: other, createBucketOnPut: false });
      const w = await s.createWriter(randomUUID());
      await w.write(Buffer.from('abc'));
      const c = await w.commit();
      await s.delete(c.url);
      await s.close?.();
      await raw.send(new DeleteBucketCommand({ Bucket: other }));
    });
  });
}
