// The swift store against real Swift: the shared conformance suite with
// tempauth (v1) and with Keystone v3 (and radosgw's Swift API when
// RGW_SWIFT_AUTH_URL/USER/KEY are set), then what only Swift has: Glance's
// location forms and glance-swift.conf, legacy DLO images, sub-manifests,
// resumed downloads, buffered segment retries, a proxy that dies mid-upload,
// tokens revoked or expiring mid-upload, multi-tenant containers and sweeps.
// Servers: scripts/backends/swift-saio.sh (started when not running), Keystone
// from scripts/keystone.sh.

import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/config.js';
import { StoreRegistry } from '../../src/stores/registry.js';
import { SwiftStore } from '../../src/stores/swift.js';
import type { StoreRequestContext } from '../../src/stores/store.js';
import { assertKind, readAll, runStoreConformance, sha, waitFor, writeAll } from '../stores/conformance.js';
import { ensureKeystone, issueToken, KeystoneAdmin, passwordAuth } from '../helpers/keystone.js';
import {
  ensureSwiftKeystone,
  ensureSwiftTempauth,
  RawSwift,
  Relay,
  rgwAccount,
  type RelayOptions,
  saio,
  type SwiftAccountEnv,
} from '../helpers/swift.js';

const MiB = 1 << 20;
const quiet = { warnings: [] as string[], warn(m: string) { this.warnings.push(m); } };
const root = await mkdtemp(join(tmpdir(), 'imago-swift-'));
after(() => rm(root, { recursive: true, force: true }));

const tempauth = ensureSwiftTempauth();
const keystone = ensureSwiftKeystone();

function swiftConf(refs: Record<string, SwiftAccountEnv>, extra = ''): string {
  return (
    Object.entries(refs)
      .map(([name, a]) =>
        [
          `[${name}]`,
          `user = ${a.user}`,
          `key = "${a.key}"`, // quotes are stripped, as Glance's SwiftConfigParser does
          `auth_address = ${a.authUrl}`,
          `auth_version = ${a.authVersion}`,
          ...(a.authVersion === '3' ? ['user_domain_id = default', 'project_domain_id = default'] : []),
        ].join('\n'),
      )
      .join('\n\n') + `\n${extra}`
  );
}

/** A store built the way imago builds it: glance-api.conf (+ glance-swift.conf next to it) through the registry. */
async function storeFromConfig(glanceStore: Record<string, string | number | boolean>, swiftConfText?: string): Promise<SwiftStore> {
  const dir = await mkdtemp(join(root, 'conf-'));
  const lines = ['[DEFAULT]', `imago_data_dir = ${dir}/data`, '[glance_store]', 'stores = swift', 'default_store = swift'];
  for (const [k, v] of Object.entries(glanceStore)) lines.push(`${k} = ${v}`);
  await writeFile(join(dir, 'glance-api.conf'), lines.join('\n') + '\n');
  if (swiftConfText !== undefined) await writeFile(join(dir, 'glance-swift.conf'), swiftConfText);
  const registry = await StoreRegistry.fromConfig(loadConfig({ configFiles: [join(dir, 'glance-api.conf')], env: {} }), quiet);
  const store = registry.default;
  assert.ok(store instanceof SwiftStore);
  return store;
}

/** Small objects and segments so that every test crosses segment boundaries. */
function baseOptions(container: string): Record<string, string | number | boolean> {
  return {
    swift_store_config_file: 'glance-swift.conf', // relative: found next to glance-api.conf
    default_swift_reference: 'ref1',
    swift_store_container: container,
    swift_store_create_container_on_put: true,
    swift_store_large_object_size: 2,
    swift_store_large_object_chunk_size: 1,
  };
}

function uniq(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

async function put(store: SwiftStore, id: string, data: Buffer, opts: { sizeHint?: number; context?: StoreRequestContext } = {}) {
  const w = await store.createWriter(id, opts);
  try {
    await writeAll(w, data, 65_536);
  } catch (e) {
    await w.abort();
    throw e;
  }
  return w.commit();
}

// --- the shared conformance suite ------------------------------------------------------------

const rgw = rgwAccount();
after(() => rgw.stop());
const targets: SwiftAccountEnv[] = [tempauth, keystone, rgw.account];

for (const target of targets) {
  const container = uniq(`imago-conf-${target.name}`);
  let raw: RawSwift;
  runStoreConformance(
    `swift (${target.name}, auth v${target.authVersion})`,
    async () => {
      raw = await RawSwift.connect(target);
      return storeFromConfig(baseOptions(container), swiftConf({ ref1: target }));
    },
    {
      artifacts: (imageId) => raw.list(container, imageId),
      chunkSize: MiB,
      // streamed: the writer holds no segment, only what sockets buffer
      maxBufferedBytes: 2 * MiB,
      detailKeys: ['container', 'large_object_size', 'large_object_chunk_size'],
      // If-None-Match: * refuses a second PUT, but two in flight at the same moment can
      // both succeed in Swift (last one wins); the loser's HEAD usually notices, not always.
      exclusiveCommit: false,
    },
  );
}

// --- Glance's configuration and location forms ----------------------------------------------

describe('swift: glance-swift.conf references and location URLs', () => {
  let raw1: RawSwift;
  let raw2: RawSwift;
  const container = uniq('imago-refs');
  const test2: SwiftAccountEnv = { ...tempauth, user: 'test2:tester2', key: 'testing2' };

  before(async () => {
    raw1 = await RawSwift.connect(tempauth);
    raw2 = await RawSwift.connect(test2);
  });

  it('writes swift+config://<reference>/<container>/<id> with no secret in it, into that reference\'s account', async () => {
    const store = await storeFromConfig({ ...baseOptions(container), default_swift_reference: 'ref2' }, swiftConf({ ref1: tempauth, ref2: test2 }));
    const id = randomUUID();
    const data = randomBytes(3 * MiB + 5);
    const c = await put(store, id, data);
    assert.equal(c.url, `swift+config://ref2/${container}/${id}`);
    assert.ok(!c.url.includes('testing'), 'no key in the location');
    assert.deepEqual(store.detail(), { container, large_object_size: 2 * MiB, large_object_chunk_size: MiB });
    assert.ok(await raw2.exists(`${container}/${id}`), 'stored in test2\'s account (ref2)');
    assert.equal(await raw1.exists(`${container}/${id}`), false);

    // a store whose default is ref1 reads ref2's locations, and the legacy forms with credentials
    const other = await storeFromConfig(baseOptions(container), swiftConf({ ref1: tempauth, ref2: test2 }));
    assert.equal(sha(await readAll((await other.open(c.url)).stream)), sha(data));
    const authNoScheme = test2.authUrl.replace(/^http:\/\//, '');
    const legacy = `swift+http://${encodeURIComponent(test2.user)}:${test2.key}@${authNoScheme}/${container}/${id}`;
    assert.equal((await other.stat(legacy)).size, data.length);
    assert.equal(sha(await readAll((await other.open(legacy, { offset: MiB, length: 10 })).stream)), sha(data.subarray(MiB, MiB + 10)));
    assert.ok(other.ownsLocation(c.url) && other.ownsLocation(legacy));

    // a location is user input: an auth address no reference names is never contacted
    const elsewhere = `swift+http://test:tester:testing@127.0.0.9:1/auth/v1.0/${container}/${id}`;
    await assertKind(other.open(elsewhere), 'bad_uri');
    assert.equal(other.ownsLocation(elsewhere), false);
    await assertKind(other.open(`swift+config://nosuchref/${container}/${id}`), 'bad_uri');
    await assertKind(other.open(`swift+http://127.0.0.1:8080/v1/AUTH_test/${container}/${id}`), 'bad_uri'); // no credentials, single tenant

    await other.delete(c.url);
    assert.deepEqual(await raw2.list(container, id), []);
    await store.close();
    await other.close();
  });

  it('reads the deprecated swift_store_user/key/auth_address and writes swift+config://<default_swift_reference>', async () => {
    const store = await storeFromConfig({
      swift_store_user: tempauth.user,
      swift_store_key: tempauth.key,
      swift_store_auth_address: tempauth.authUrl,
      swift_store_auth_version: 1,
      default_swift_reference: 'legacy',
      swift_store_container: container,
      swift_store_create_container_on_put: true,
    });
    const id = randomUUID();
    const c = await put(store, id, Buffer.from('legacy options'));
    assert.equal(c.url, `swift+config://legacy/${container}/${id}`);
    assert.ok(await raw1.exists(`${container}/${id}`));
    await store.delete(c.url);
    await store.close();
  });

  it('multistore: a [backend] section with its own glance-swift.conf and reference', async () => {
    const dir = await mkdtemp(join(root, 'multi-'));
    await writeFile(join(dir, 'swift-a.conf'), swiftConf({ acct: test2 }));
    await writeFile(
      join(dir, 'glance-api.conf'),
      [
        '[DEFAULT]',
        `imago_data_dir = ${dir}/data`,
        'enabled_backends = fast:file, objects:swift',
        '[glance_store]',
        'default_backend = objects',
        '[fast]',
        `filesystem_store_datadir = ${dir}/images`,
        '[objects]',
        'swift_store_config_file = swift-a.conf',
        'default_swift_reference = acct',
        `swift_store_container = ${container}`,
        'swift_store_create_container_on_put = true',
      ].join('\n'),
    );
    const registry = await StoreRegistry.fromConfig(loadConfig({ configFiles: [join(dir, 'glance-api.conf')], env: {} }), quiet);
    const store = registry.get('objects')!;
    const id = randomUUID();
    const w = await store.createWriter(id);
    await w.write(Buffer.from('multistore'));
    const c = await w.commit();
    assert.deepEqual(c.metadata, { store: 'objects' });
    assert.equal(c.url, `swift+config://acct/${container}/${id}`);
    assert.equal(registry.storeIdFor(c.url), 'objects');
    assert.ok(await raw2.exists(`${container}/${id}`));
    await store.delete(c.url);
    await registry.close();
  });

  it('swift_store_create_container_on_put = false: a missing container is an error that names the option', async () => {
    const store = await storeFromConfig(
      { ...baseOptions(uniq('imago-absent')), swift_store_create_container_on_put: false },
      swiftConf({ ref1: tempauth }),
    );
    const e = await assertKind(store.createWriter(randomUUID()), 'unavailable');
    assert.match(e.message, /swift_store_create_container_on_put/);
    await store.close();
  });

  it('swift_store_multiple_containers_seed: <container>_<first N characters of the id>', async () => {
    const prefix = uniq('imago-seed');
    const store = await storeFromConfig({ ...baseOptions(prefix), swift_store_multiple_containers_seed: 3 }, swiftConf({ ref1: tempauth }));
    const id = `ab-c${randomUUID().slice(4)}`; // a dash within the first characters is not counted
    const c = await put(store, id, Buffer.from('seeded'));
    assert.equal(c.url, `swift+config://ref1/${prefix}_ab-c/${id}`);
    assert.ok(await raw1.exists(`${prefix}_ab-c/${id}`));
    await store.delete(c.url);
    await raw1.remove(`${prefix}_ab-c`);
    await store.close();
  });
});

// --- data layout ------------------------------------------------------------------------------

describe('swift: large objects', () => {
  let raw: RawSwift;
  const container = uniq('imago-large');
  let store: SwiftStore;

  before(async () => {
    raw = await RawSwift.connect(tempauth);
    store = await storeFromConfig(baseOptions(container), swiftConf({ ref1: tempauth }));
  });
  after(() => store.close());

  it('a known size below large_object_size is one object; at or above it an SLO of chunk-size segments', async () => {
    const small = randomUUID();
    const big = randomUUID();
    await put(store, small, randomBytes(2 * MiB - 1), { sizeHint: 2 * MiB - 1 });
    const data = randomBytes(2 * MiB + 3);
    const c = await put(store, big, data, { sizeHint: data.length });
    assert.deepEqual(await raw.list(container, small), [small]);
    const names = await raw.list(container, big);
    assert.equal(names.length, 1 + 3, `manifest + 3 segments: ${names}`);
    assert.match(names[1]!, new RegExp(`^${big}/[0-9a-z]+/00000001$`));
    const head = await raw.call('HEAD', `${container}/${big}`);
    assert.equal(head.headers.get('x-static-large-object'), 'True');
    assert.equal(head.headers.get('content-length'), String(data.length));
    await store.delete(c.url);
    await store.delete(`swift+config://ref1/${container}/${small}`);
    assert.deepEqual(await raw.list(container, big), []);
  });

  it('more segments than max_manifest_segments: sub-manifests, read and deleted as one', async () => {
    const nested = new SwiftStore({ ...store.opts, maxManifestSegments: 3 });
    const id = randomUUID();
    const data = randomBytes(10 * MiB + 17); // 11 segments -> 4 sub-manifests -> 2 -> 1
    const c = await put(nested, id, data);
    const names = await raw.list(container, id);
    assert.ok(names.some((n) => /\/manifest-2-00001$/.test(n)), `two levels of sub-manifests: ${names.filter((n) => n.includes('manifest'))}`);
    assert.equal(sha(await readAll((await nested.open(c.url)).stream)), sha(data));
    assert.equal(sha(await readAll((await nested.open(c.url, { offset: 5 * MiB - 3, length: 2 * MiB })).stream)), sha(data.subarray(5 * MiB - 3, 7 * MiB - 3)));
    await nested.delete(c.url);
    assert.deepEqual(await raw.list(container, id), []);
    await nested.close();
  });

  it('Glance DLO images (X-Object-Manifest, <id>-00001...) are read, ranged and deleted with their segments', async () => {
    const id = randomUUID();
    const parts = [randomBytes(MiB), randomBytes(MiB), randomBytes(12_345)];
    for (const [i, p] of parts.entries()) await raw.put(`${container}/${id}-${String(i + 1).padStart(5, '0')}`, p);
    await raw.put(`${container}/${id}`, '', { 'X-Object-Manifest': `${container}/${id}-` });
    const data = Buffer.concat(parts);
    const url = `swift+config://ref1/${container}/${id}`;
    assert.equal((await store.stat(url)).size, data.length);
    assert.equal(sha(await readAll((await store.open(url)).stream)), sha(data));
    assert.ok((await readAll((await store.open(url, { offset: MiB - 5, length: 10 })).stream)).equals(data.subarray(MiB - 5, MiB + 5)));
    await store.delete(url);
    assert.deepEqual(await raw.list(container, id), []);
  });

  it('delete also removes what an interrupted upload of the same image left', async () => {
    const id = randomUUID();
    const dead = await store.createWriter(id);
    await writeAll(dead, randomBytes(2 * MiB), 65_536); // a writer that died: never committed nor aborted
    const c = await put(store, id, randomBytes(3 * MiB));
    const names = await raw.list(container, id);
    assert.equal(new Set(names.filter((n) => n.includes('/')).map((n) => n.split('/')[1])).size, 2, 'two uploads under the image');
    await store.delete(c.url);
    assert.deepEqual(await raw.list(container, id), []);
  });

  it('sweep(): uploads of dead writers go, committed images (one or several uploads) stay', async () => {
    const orphan = randomUUID();
    const dead = await store.createWriter(orphan);
    await writeAll(dead, randomBytes(2 * MiB), 65_536); // whole segments: no PUT left open
    const kept = randomUUID();
    const keptData = randomBytes(3 * MiB + 1);
    const c1 = await put(store, kept, keptData);
    const twice = randomUUID(); // a failed attempt, then a committed one
    const dead2 = await store.createWriter(twice);
    await writeAll(dead2, randomBytes(MiB), 65_536);
    const twiceData = randomBytes(2 * MiB + 2);
    const c2 = await put(store, twice, twiceData);

    assert.equal((await store.sweep()).deleted, 0, 'nothing is stale within the hour');
    const r = await store.sweep({ olderThanMs: 0 });
    assert.equal(r.deleted, 2 + 1);
    assert.deepEqual(await raw.list(container, orphan), []);
    assert.equal(sha(await readAll((await store.open(c1.url)).stream)), sha(keptData));
    assert.equal(sha(await readAll((await store.open(c2.url)).stream)), sha(twiceData));
    assert.equal((await raw.list(container, twice)).length, 1 + 3);
    await store.delete(c1.url);
    await store.delete(c2.url);
  });
});

// --- failures ---------------------------------------------------------------------------------

describe('swift: broken connections and failures', () => {
  let raw: RawSwift;
  const container = uniq('imago-faults');
  const proxy = new URL(tempauth.authUrl);
  const relays: Relay[] = [];

  before(async () => {
    raw = await RawSwift.connect(tempauth);
  });
  after(async () => {
    for (const r of relays) await r.close();
  });

  /** A store whose data goes through a relay (swift_store_endpoint), auth directly. */
  async function throughRelay(relayOpts: RelayOptions, extra: Record<string, string | number | boolean> = {}) {
    const relay = await Relay.start({ host: proxy.hostname, port: Number(proxy.port) }, relayOpts);
    relays.push(relay);
    const store = await storeFromConfig(
      { ...baseOptions(container), swift_store_endpoint: `http://127.0.0.1:${relay.port}${new URL(raw.storageUrl).pathname}`, ...extra },
      swiftConf({ ref1: tempauth }),
    );
    return { relay, store };
  }

  it('swift_store_retry_get_count: a download broken midway resumes with Range from the byte reached', async () => {
    const plain = await storeFromConfig(baseOptions(container), swiftConf({ ref1: tempauth }));
    const id = randomUUID();
    const data = randomBytes(5 * MiB + 77);
    const c = await put(plain, id, data);
    const { relay, store } = await throughRelay({ cutDownAfter: 1_500_000, cuts: 2 }, { swift_store_retry_get_count: 3 });
    const o = await store.open(c.url);
    assert.equal(o.size, data.length);
    assert.equal(sha(await readAll(o.stream)), sha(data));
    assert.equal(relay.cutCount, 2, 'the relay broke two downloads');
    assert.equal(quiet.warnings.filter((w) => w.includes('resuming')).length >= 2, true);
    // a ranged read resumes inside its range
    relay.cutCount = 0;
    const r = await store.open(c.url, { offset: 123_457, length: 3 * MiB });
    assert.ok((await readAll(r.stream)).equals(data.subarray(123_457, 123_457 + 3 * MiB)));
    assert.equal(relay.cutCount, 2);

    // without retries the stream fails: a short image must never look complete
    const { store: noRetry } = await throughRelay({ cutDownAfter: 1_500_000, cuts: 1 });
    const broken = await noRetry.open(c.url);
    await assert.rejects(readAll(broken.stream), (e: Error) => /broke off/.test(e.message));
    await plain.delete(c.url);
    await Promise.all([plain.close(), store.close(), noRetry.close()]);
  });

  it('swift_buffer_on_upload: a segment PUT broken midway is sent again from the buffer', async () => {
    const bufferDir = join(root, 'buffer');
    await mkdir(bufferDir, { recursive: true });
    const { relay, store } = await throughRelay({ cutUpAfter: 2.5 * MiB, cuts: 1 }, { swift_buffer_on_upload: true, swift_upload_buffer_dir: bufferDir });
    const id = randomUUID();
    const data = randomBytes(4 * MiB + 99);
    const c = await put(store, id, data);
    assert.equal(relay.cutCount, 1);
    assert.ok(quiet.warnings.some((w) => w.includes('sending it again')));
    assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
    assert.deepEqual(await readdir(bufferDir), [], 'buffer files removed');
    await store.delete(c.url);
    await store.close();

    // without buffering there is nothing to send again: the write fails and nothing is left
    const { store: direct } = await throughRelay({ cutUpAfter: 2.5 * MiB, cuts: 1 });
    const id2 = randomUUID();
    await assertKind(put(direct, id2, data), 'unavailable');
    await waitFor(async () => (await raw.list(container, id2)).length === 0, 10_000, async () => `left: ${await raw.list(container, id2)}`);
    await direct.close();
  });

  it('the Swift proxy stopped mid-upload: the writer rejects, and nothing is left once it is back', { skip: !tempauth.saio && 'SWIFT_AUTH_URL points at a Swift these scripts do not run' }, async () => {
    const store = await storeFromConfig(baseOptions(container), swiftConf({ ref1: tempauth }));
    const id = randomUUID();
    const w = await store.createWriter(id);
    await writeAll(w, randomBytes(3 * MiB + 100), 65_536);
    assert.ok((await raw.list(container, id)).length >= 3, 'segments were written');
    saio('stop-proxy', 'tempauth');
    try {
      await assertKind(writeAll(w, randomBytes(2 * MiB), 65_536), 'unavailable');
      await assert.rejects(w.commit());
      assert.ok(store.janitor.pending > 0, 'deletions wait for Swift');
    } finally {
      saio('start-proxy', 'tempauth');
    }
    await waitFor(async () => (await raw.list(container, id)).length === 0, 60_000, async () => `left: ${await raw.list(container, id)}`);
    assert.equal(store.janitor.pending, 0);
    await store.close();
  });

  it('errors: a wrong key is write_denied, no Swift is unavailable, an account quota is storage_full', async () => {
    const wrong = await storeFromConfig(baseOptions(container), swiftConf({ ref1: { ...tempauth, key: 'wrong' } }));
    await assertKind(wrong.createWriter(randomUUID()), 'write_denied');
    const nowhere = await storeFromConfig(baseOptions(container), swiftConf({ ref1: { ...tempauth, authUrl: 'http://127.0.0.1:9/auth/v1.0' } }));
    await assertKind(nowhere.createWriter(randomUUID()), 'unavailable');
    await assertKind(nowhere.stat(`swift+config://ref1/${container}/x`), 'unavailable');

    // account_quotas (in the SAIO pipeline): only a reseller admin may set the quota
    const test2: SwiftAccountEnv = { ...tempauth, user: 'test2:tester2', key: 'testing2' };
    const admin = await RawSwift.connect({ ...tempauth, user: 'admin:admin', key: 'admin' });
    const raw2 = await RawSwift.connect(test2);
    const account2 = RawSwift.withToken(admin.token, raw2.storageUrl);
    const quota = async (v: string) => assert.ok((await account2.call('POST', '', { headers: { 'X-Account-Meta-Quota-Bytes': v } })).ok);
    const full = await storeFromConfig(baseOptions(container), swiftConf({ ref1: test2 }));
    const id = randomUUID();
    await quota('1000');
    try {
      await assertKind(put(full, id, randomBytes(5000), { sizeHint: 5000 }), 'storage_full');
      // a segment of known length is refused before its body is sent
      const big = randomUUID();
      await assertKind(put(full, big, randomBytes(3 * MiB), { sizeHint: 3 * MiB }), 'storage_full');
      assert.deepEqual(await raw2.list(container, big), []);
    } finally {
      await quota('');
    }
    await Promise.all([wrong.close(), nowhere.close(), full.close()]);
  });
});

// --- Keystone: token renewal and multi-tenant ---------------------------------------------------

describe('swift (keystone): tokens and multi-tenant', () => {
  const ks = ensureKeystone();
  const admin = new KeystoneAdmin(ks);
  const container = uniq('imago-ks');
  let raw: RawSwift;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    raw = await RawSwift.connect(keystone);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('a token revoked mid-upload: the next segment PUT gets 401, re-authenticates and the upload completes', async () => {
    const store = await storeFromConfig(baseOptions(container), swiftConf({ ref1: keystone }));
    const auth = store.account('ref1').auth as unknown as { stats: { authentications: number }; get(): Promise<{ token: string }> };
    const id = randomUUID();
    const data = randomBytes(4 * MiB + 3);
    const w = await store.createWriter(id);
    await writeAll(w, data.subarray(0, 2 * MiB + 10), 65_536);
    assert.equal(auth.stats.authentications, 1);
    await admin.revokeToken((await auth.get()).token);
    await writeAll(w, data.subarray(2 * MiB + 10), 65_536);
    const c = await w.commit();
    assert.equal(auth.stats.authentications, 2, 're-authenticated once');
    assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
    await store.delete(c.url);
    await store.close();
  });

  it('a token within swift_store_expire_soon_interval of its expiry is renewed before the next segment', async () => {
    let skew = 0;
    const configured = await storeFromConfig({ ...baseOptions(container), swift_store_expire_soon_interval: 120 }, swiftConf({ ref1: keystone }));
    const store = new SwiftStore({ ...configured.opts, now: () => Date.now() + skew });
    await configured.close();
    const auth = store.account('ref1').auth as unknown as { stats: { authentications: number }; get(): Promise<{ expiresAt?: number }> };
    const id = randomUUID();
    const data = randomBytes(3 * MiB + 3);
    const w = await store.createWriter(id);
    await writeAll(w, data.subarray(0, MiB + 5), 65_536);
    assert.equal(auth.stats.authentications, 1);
    // the clock reaches 1 minute before the token's expiry, inside the 120 s window
    const expiresAt = (await auth.get()).expiresAt!;
    skew = expiresAt - Date.now() - 60_000;
    await writeAll(w, data.subarray(MiB + 5), 65_536);
    const c = await w.commit();
    assert.ok(auth.stats.authentications >= 2, 'renewed before it expired');
    skew = 0;
    assert.equal(sha(await readAll((await store.open(c.url)).stream)), sha(data));
    await store.delete(c.url);
    await store.close();
  });

  it('the object-store endpoint comes from the catalog by region and interface; swift_store_endpoint overrides it', async () => {
    const refs = swiftConf({ ref1: keystone });
    const internal = await storeFromConfig({ ...baseOptions(container), swift_store_endpoint_type: 'internalURL', swift_store_region: ks.region }, refs);
    const id = randomUUID();
    const c = await put(internal, id, Buffer.from('internal'));
    assert.ok(await raw.exists(`${container}/${id}`));
    const elsewhere = await storeFromConfig({ ...baseOptions(container), swift_store_region: 'NoSuchRegion' }, refs);
    const e = await assertKind(elsewhere.stat(c.url), 'unavailable');
    assert.match(e.message, /endpoint/);
    const override = await storeFromConfig({ ...baseOptions(container), swift_store_region: 'NoSuchRegion', swift_store_endpoint: raw.storageUrl }, refs);
    assert.equal((await override.stat(c.url)).size, 8);
    await internal.delete(c.url);
    await Promise.all([internal.close(), elsewhere.close(), override.close()]);
  });

  it('multi-tenant: a container <container>_<id> in the caller\'s own account; readable by projects it is shared with', async () => {
    const suffix = randomBytes(3).toString('hex');
    const users: { ctx: StoreRequestContext; raw: RawSwift }[] = [];
    for (const who of ['owner', 'member', 'stranger']) {
      const project = await admin.createProject(`imago-swift-${who}-${suffix}`);
      const user = await admin.createUser(`imago-swift-${who}-${suffix}`, `pw-${suffix}`, project, ['member']);
      cleanup.push(() => admin.deleteUser(user), () => admin.deleteProject(project));
      const t = await issueToken(ks, passwordAuth(`imago-swift-${who}-${suffix}`, `pw-${suffix}`, `imago-swift-${who}-${suffix}`));
      const catalog = (t.body.token as unknown as { catalog: StoreRequestContext['catalog'] }).catalog;
      const storageUrl = catalog!.find((s) => s.type === 'object-store')!.endpoints.find((e) => e.interface === 'public')!.url;
      users.push({ ctx: { authToken: t.token, projectId: project, catalog }, raw: RawSwift.withToken(t.token, storageUrl) });
    }
    const [owner, member, stranger] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
    const store = await storeFromConfig({
      swift_store_multi_tenant: true,
      swift_store_container: 'glance',
      swift_store_large_object_size: 2,
      swift_store_large_object_chunk_size: 1,
      swift_store_admin_tenants: await admin.projectId('service'),
    });
    const id = randomUUID();
    const data = randomBytes(3 * MiB + 1);
    await assertKind(store.createWriter(id), 'invalid'); // no caller, no account
    const c = await put(store, id, data, { context: owner.ctx });
    assert.equal(c.url, `swift+http://${owner.raw.storageUrl.replace(/^http:\/\//, '')}/glance_${id}/${id}`);
    assert.deepEqual((await owner.raw.list(`glance_${id}`)).length, 1 + 4);
    assert.equal(sha(await readAll((await store.open(c.url, { context: owner.ctx })).stream)), sha(data));
    // the service project (swift_store_admin_tenants) may write to the container
    const acl = await owner.raw.call('HEAD', `glance_${id}`);
    assert.match(acl.headers.get('x-container-write') ?? '', /:\*/);

    await assertKind(store.open(c.url, { context: member.ctx }), 'write_denied');
    await store.setAcls(c.url, { public: false, readTenants: [member.ctx.projectId!] }, { context: owner.ctx });
    assert.equal(sha(await readAll((await store.open(c.url, { context: member.ctx })).stream)), sha(data));
    await assertKind(store.stat(c.url, { context: stranger.ctx }), 'write_denied');
    // a location elsewhere than the caller's catalog is not sent the caller's token
    await assertKind(store.open(c.url.replace('127.0.0.1:8081', '127.0.0.1:8080'), { context: owner.ctx }), 'bad_uri');
    await assertKind(store.open(c.url), 'bad_uri');

    await store.delete(c.url, { context: owner.ctx });
    assert.deepEqual(await owner.raw.containers('glance_'), [], 'the image\'s container is gone too');
    await store.close();
  });
});

