// The rbd store against a real Ceph (ceph-mini, RBD only, started here unless CEPH_CONF and
// CEPH_MINI_DIR name one): the shared conformance suite, then what only RBD has, checked with the
// real `rbd` CLI: Glance's image layout (order, features, protected snapshot), sizes known and
// unknown, thin provisioning, delete refused while clones exist, legacy locations, leftovers of
// dead writers, configuration errors, and the cluster stuck mid-write and mid-read.

import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/options.js';
import { StoreRegistry } from '../../src/stores/registry.js';
import { RbdStore, TEMP_PREFIX, type RbdStoreOptions } from '../../src/stores/rbd/store.js';
import { IN_FLIGHT } from '../../src/stores/rbd/writer.js';
import { assertKind, kindOf, readAll, runStoreConformance, sha, waitFor, writeAll } from '../stores/conformance.js';
import { rbdBackend, type RbdBackend } from './backends.js';

const MiB = 1 << 20;

let backend: RbdBackend | undefined;
let setupError: Error | undefined;
try {
  backend = rbdBackend();
} catch (e) {
  setupError = e as Error;
}

if (!backend) {
  test('Ceph cluster for the rbd store tests', () => {
    throw setupError;
  });
} else {
  const be = backend;
  if (be.startMs !== undefined) console.log(`# ceph-mini started in ${(be.startMs / 1000).toFixed(1)} s`);
  after(() => be.stop());

  const base = (over: Partial<RbdStoreOptions> = {}): RbdStoreOptions => ({
    id: 'rbd',
    pool: be.pool,
    user: be.user,
    cephConf: be.conf,
    chunkSize: 4 * MiB,
    thinProvisioning: false,
    connectTimeout: 0,
    locationMetadata: {},
    ...over,
  });
  const make = async (over: Partial<RbdStoreOptions> = {}) => {
    const s = new RbdStore(base(over));
    await s.init();
    return s;
  };

  /** Every image, snapshot-bearing or temporary, and trash entry the pool holds for an image id. */
  const poolImages = () => be.rbd(['ls', be.pool]).toString().split('\n').filter(Boolean);
  async function artifacts(imageId: string): Promise<string[]> {
    const trash = be.rbd(['trash', 'ls', be.pool]).toString().split('\n').filter((l) => l.includes(imageId));
    return [...poolImages().filter((n) => n === imageId || n.startsWith(TEMP_PREFIX + imageId)), ...trash.map((t) => `trash ${t}`)];
  }
  const info = (name: string) => JSON.parse(be.rbd(['info', '--format', 'json', `${be.pool}/${name}`]).toString());
  const snaps = (name: string) => JSON.parse(be.rbd(['snap', 'ls', '--format', 'json', `${be.pool}/${name}`]).toString());

  runStoreConformance('rbd (ceph-mini)', () => make(), {
    artifacts,
    chunkSize: 4 * MiB,
    maxBufferedBytes: (IN_FLIGHT + 1) * 4 * MiB,
    detailKeys: ['pool', 'chunk_size', 'thin_provisioning', 'fsid'],
    // the rename of the complete temporary image to the image id is atomic in RBD's directory
    exclusiveCommit: true,
    backPressureBytes: 128 * MiB,
  });

  describe('rbd store specifics', () => {
    let store: RbdStore;
    before(async () => {
      store = await make({ chunkSize: 8 * MiB });
    });
    after(() => store.close());

    async function put(s: RbdStore, data: Buffer, sizeHint?: number): Promise<{ id: string; url: string }> {
      const id = randomUUID();
      const w = await s.createWriter(id, { sizeHint });
      await writeAll(w, data, 65_536);
      return { id, url: (await w.commit()).url };
    }

    it("Glance's layout: rbd://<fsid>/<pool>/<id>/snap, order from the chunk size, the cluster's features, snapshot protected", async () => {
      const data = randomBytes(3 * MiB + 5);
      const { id, url } = await put(store, data, data.length);
      assert.equal(url, `rbd://${be.fsid}/${be.pool}/${id}/snap`);
      const i = info(id);
      assert.equal(i.size, data.length);
      assert.equal(i.order, 23, '8 MiB objects');
      assert.equal(i.format, 2);
      // ceph-mini leaves rbd_default_features at Pacific's default
      assert.deepEqual([...i.features].sort(), ['deep-flatten', 'exclusive-lock', 'fast-diff', 'layering', 'object-map']);
      assert.deepEqual(
        snaps(id).map((s: { name: string; protected: string }) => [s.name, s.protected]),
        [['snap', 'true']],
      );
      assert.deepEqual(store.detail(), { pool: be.pool, chunk_size: 8 * MiB, thin_provisioning: false, fsid: be.fsid });
      assert.ok(store.ownsLocation(url));
      assert.ok(!store.ownsLocation(url.replace(be.fsid, randomUUID())));
      // the snapshot holds the bytes (rbd export of image@snap)
      assert.equal(sha(be.rbd(['export', '--no-progress', `${be.pool}/${id}@snap`, '-'])), sha(data));
      await store.delete(url);
      assert.deepEqual(await artifacts(id), []);
    });

    it('unknown size: the image grows while written and ends at the bytes written', async () => {
      const data = randomBytes(41 * MiB + 3); // 8 + 16 + 32 MiB of growth steps, then trimmed
      const { id, url } = await put(store, data);
      assert.equal(info(id).size, data.length);
      assert.equal((await store.stat(url)).size, data.length);
      assert.equal(sha(await readAll((await store.open(url)).stream)), sha(data));
      await store.delete(url);
    });

    it('rbd_thin_provisioning: all-zero chunks are not written', async () => {
      const data = Buffer.concat([Buffer.alloc(16 * MiB), randomBytes(8 * MiB), Buffer.alloc(8 * MiB)]);
      const used = async (s: RbdStore) => {
        const { id, url } = await put(s, data, data.length);
        // the bytes belong to the snapshot: the head has nothing since it was taken
        const du = JSON.parse(be.rbd(['du', '--format', 'json', `${be.pool}/${id}`]).toString());
        assert.equal(sha(await readAll((await s.open(url)).stream)), sha(data));
        await s.delete(url);
        return (du.images as { used_size: number }[]).reduce((n, x) => n + x.used_size, 0);
      };
      const thin = await make({ chunkSize: 8 * MiB, thinProvisioning: true });
      try {
        assert.equal(await used(thin), 8 * MiB, 'only the random chunk is stored');
      } finally {
        await thin.close();
      }
      assert.equal(await used(store), 32 * MiB, 'without it every chunk is written');
    });

    it('a snapshot with clones: delete is refused as in use and changes nothing; without them it goes', async () => {
      const data = randomBytes(2 * MiB);
      const { id, url } = await put(store, data, data.length);
      const clone = `clone-${id}`;
      be.rbd(['clone', `${be.pool}/${id}@snap`, `${be.pool}/${clone}`]);
      const e = await assertKind(store.delete(url), 'in_use');
      assert.match(e.message, /clone/);
      assert.deepEqual(snaps(id).map((s: { protected: string }) => s.protected), ['true'], 'snapshot untouched');
      assert.equal(sha(await readAll((await store.open(url)).stream)), sha(data));
      be.rbd(['rm', '--no-progress', `${be.pool}/${clone}`]);
      await store.delete(url);
      assert.deepEqual(await artifacts(id), []);
    });

    it('an image open elsewhere: delete is refused as in use and the snapshot is put back', async () => {
      const data = randomBytes(MiB);
      const { id, url } = await put(store, data, data.length);
      // `rbd watch` holds a watch on the image, as `rbd map` or a VM using it does
      // (it exits at the first line on its stdin: keep that open)
      const watcher = spawn('rbd', ['-c', be.conf, 'watch', `${be.pool}/${id}`], { stdio: ['pipe', 'ignore', 'ignore'] });
      try {
        await waitFor(async () => /watcher=/.test(be.rbd(['status', `${be.pool}/${id}`]).toString()), 20_000, async () => 'no watcher');
        await assertKind(store.delete(url), 'in_use');
        assert.deepEqual(snaps(id).map((s: { name: string; protected: string }) => [s.name, s.protected]), [['snap', 'true']]);
        assert.equal(sha(await readAll((await store.open(url)).stream)), sha(data));
      } finally {
        watcher.kill();
      }
      await waitFor(async () => !/watcher=/.test(be.rbd(['status', `${be.pool}/${id}`]).toString()), 30_000, async () => 'watch kept');
      await store.delete(url);
      assert.deepEqual(await artifacts(id), []);
    });

    it('legacy rbd://<image> locations are read, stat and deleted in the store pool', async () => {
      const data = randomBytes(100_000);
      const name = `legacy-${randomUUID()}`;
      be.rbd(['import', '--no-progress', '-', `${be.pool}/${name}`], data);
      const url = `rbd://${name}`;
      assert.equal((await store.stat(url)).size, data.length);
      assert.equal(sha(await readAll((await store.open(url)).stream)), sha(data));
      await store.delete(url);
      assert.ok(!poolImages().includes(name));
    });

    it('bad locations: another cluster, wrong shape', async () => {
      const e = await assertKind(store.open(`rbd://${randomUUID()}/${be.pool}/x/snap`), 'bad_uri');
      assert.match(e.message, /another|cluster/);
      await assertKind(store.open('rbd://a/b'), 'bad_uri');
      await assertKind(store.open('rbd://a/b//d'), 'bad_uri');
      await assertKind(store.stat(`rbd://${be.fsid}/no-such-pool/x/snap`), 'not_found');
    });

    it('list(), sweep() and abandon(): temporary images of dead writers go, committed images stay', async () => {
      const { id, url } = await put(store, randomBytes(1000), 1000);
      const dead = `${TEMP_PREFIX}${id}.deadbeef0000`;
      be.rbd(['create', '--size', '1', `${be.pool}/${dead}`]);
      assert.deepEqual(await store.list(id), [{ name: id, url }]);
      assert.deepEqual(await store.sweep(), [], 'nothing is stale within the hour');
      assert.deepEqual(await store.sweep(0), [dead]);
      be.rbd(['create', '--size', '1', `${be.pool}/${dead}`]);
      await store.abandon(id);
      assert.deepEqual(await artifacts(id), [id]);
      await store.delete(url);
    });

    it('more or fewer bytes than declared: invalid, and nothing is left', async () => {
      const over = randomUUID();
      const w1 = await store.createWriter(over, { sizeHint: 1000 });
      await writeAll(w1, randomBytes(1000), 100);
      await assertKind(w1.write(Buffer.from('x')), 'invalid');
      await w1.abort();
      assert.deepEqual(await artifacts(over), []);
      const under = randomUUID();
      const w2 = await store.createWriter(under, { sizeHint: 9 * MiB });
      await writeAll(w2, randomBytes(9 * MiB - 1), MiB);
      await assertKind(w2.commit(), 'invalid');
      await w2.abort();
      assert.deepEqual(await artifacts(under), []);
    });

    it('configured through the registry from glance-api.conf options', async (t) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'imago-rbd-registry-'));
      t.after(() => rm(dataDir, { recursive: true, force: true }));
      const config = loadConfig({
        env: {},
        set: [
          'DEFAULT.enabled_backends=ceph:rbd, local:file',
          `DEFAULT.imago_data_dir=${dataDir}`,
          'glance_store.default_backend=ceph',
          `ceph.rbd_store_ceph_conf=${be.conf}`,
          `ceph.rbd_store_user=${be.user}`,
          `ceph.rbd_store_pool=${be.pool}`,
          'ceph.rbd_store_chunk_size=4',
          'ceph.rbd_thin_provisioning=true',
          'ceph.rados_connect_timeout=10',
        ],
      });
      const reg = await StoreRegistry.fromConfig(config);
      try {
        const s = reg.get('ceph')!;
        assert.equal(s.type, 'rbd');
        assert.deepEqual(s.detail(), { pool: be.pool, chunk_size: 4 * MiB, thin_provisioning: true, fsid: be.fsid });
        const w = await s.createWriter(randomUUID());
        await w.write(Buffer.from('hello'));
        const c = await w.commit();
        assert.deepEqual(c.metadata, { store: 'ceph' });
        assert.equal(reg.forLocation(c.url, c.metadata), s);
        assert.equal(reg.forLocation(c.url), s, 'found by scheme too');
        assert.equal(reg.storeIdFor(c.url), 'ceph');
        assert.equal(info(c.url.split('/')[4]!).order, 22);
        await s.delete(c.url);
      } finally {
        await reg.close();
      }
    });

    it('configuration the cluster refuses fails the start and names the options; an unreachable cluster does not', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'imago-rbd-conf-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const noPool = new RbdStore(base({ pool: 'no-such-pool' }));
      await assert.rejects(noPool.init(), (e: Error) => e instanceof ConfigError && /rbd_store_pool/.test(e.message) && /does not exist/.test(e.message));
      await noPool.close();
      const badKey = join(dir, 'bad.conf');
      const good = (await import('node:fs')).readFileSync(be.conf, 'utf8');
      await writeFile(join(dir, 'wrong.keyring'), '[client.glance]\n\tkey = AQBfDWtkAAAAABAAt6zo2KQYvnTuGyfJ6DkW3g==\n');
      await writeFile(badKey, good.replace(/\[client\.glance\]\nkeyring = .*\n/, `[client.glance]\nkeyring = ${join(dir, 'wrong.keyring')}\n`));
      const refused = new RbdStore(base({ cephConf: badKey, connectTimeout: 10 }));
      await assert.rejects(refused.init(), (e: Error) => e instanceof ConfigError && /rbd_store_user = glance/.test(e.message));
      await refused.close();
      // monitors that do not answer: the store starts, and calls answer "unavailable" once the timeout passes
      const nowhere = join(dir, 'nowhere.conf');
      await writeFile(nowhere, good.replace(/^mon host = .*$/m, 'mon host = 127.0.0.1:26999'));
      const warnings: string[] = [];
      const down = new RbdStore(base({ cephConf: nowhere, connectTimeout: 2 }), { warn: (m) => warnings.push(m) });
      const t0 = performance.now();
      await down.init();
      assert.match(warnings.join('\n'), /reconnect on use/);
      const e = await assertKind(down.stat(`rbd://${be.fsid}/${be.pool}/x/snap`), 'unavailable');
      assert.match(e.message, /Ceph cluster/);
      t.diagnostic(`unreachable monitors: init ${((performance.now() - t0) / 1000).toFixed(1)} s in all`);
      await down.close();
    });
  });

  describe('rbd store when the cluster is stuck', () => {
    let store: RbdStore;
    before(async () => {
      // short timeouts: a test should not wait out production values
      store = await make({ chunkSize: 4 * MiB, connectTimeout: 4 });
    });
    after(async () => {
      be.resumeOsd(); // whatever happened, leave the OSD running
      await store.close();
    });

    it('the OSD frozen mid-upload: write/commit reject as unavailable, nothing is left once it is back', { timeout: 120_000 }, async (t) => {
      const id = randomUUID();
      const w = await store.createWriter(id);
      const chunk = randomBytes(MiB);
      for (let i = 0; i < 12; i++) await w.write(chunk);
      assert.equal((await artifacts(id)).length, 1, 'the temporary image exists');
      be.pauseOsd();
      const t0 = performance.now();
      let failure: unknown;
      try {
        for (let i = 0; i < 64; i++) await w.write(chunk);
        await w.commit();
      } catch (e) {
        failure = e;
      } finally {
        if (!failure) be.resumeOsd();
      }
      const secs = (performance.now() - t0) / 1000;
      // the writer cleans up while the OSD is still frozen: its removal must wait and retry
      const aborting = w.abort();
      await sleep(1000);
      be.resumeOsd();
      await aborting;
      assert.ok(failure, 'the upload must fail while the OSD is frozen');
      assert.equal(kindOf(failure), 'unavailable', String(failure));
      assert.match((failure as Error).message, /ETIMEDOUT/);
      t.diagnostic(`upload failed ${secs.toFixed(1)} s after the OSD froze (rados_connect_timeout = 4)`);
      assert.ok(secs < 30, `failure took ${secs.toFixed(1)} s`);
      await waitFor(async () => (await artifacts(id)).length === 0, 60_000, async () => `left: ${await artifacts(id)}`);
    });

    it('the OSD frozen mid-download: the stream fails, it does not end short', { timeout: 120_000 }, async () => {
      const id = randomUUID();
      const w = await store.createWriter(id);
      await writeAll(w, randomBytes(40 * MiB), MiB);
      const c = await w.commit();
      const o = await store.open(c.url);
      const it = o.stream[Symbol.asyncIterator]();
      let got = ((await it.next()).value as Buffer).length;
      be.pauseOsd();
      try {
        await assert.rejects(
          async () => {
            for (;;) {
              const r = await it.next();
              if (r.done) throw new Error(`stream ended normally after ${got} of ${o.size} bytes`);
              got += (r.value as Buffer).length;
            }
          },
          (e: Error) => kindOf(e) === 'unavailable' && /ETIMEDOUT/.test(e.message),
        );
      } finally {
        be.resumeOsd();
      }
      await store.delete(c.url);
    });
  });
}
