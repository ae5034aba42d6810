// The swift store's configuration and URL handling, without a server:
// glance-swift.conf as Glance's SwiftConfigParser reads it, the location forms,
// container names and option validation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, OptionReader } from '../../src/config/options.js';
import { StoreError } from '../../src/stores/store.js';
import {
  containerFor,
  keystoneNames,
  parseSwiftLocation,
  parseSwiftReferences,
  sameAuthAddress,
  storageLocation,
  swiftStoreOptionsFrom,
} from '../../src/stores/swift/config.js';
import { keystoneV3 } from '../../src/stores/swift/auth.js';
import { SwiftStore } from '../../src/stores/swift.js';
import { tempDir } from '../helpers/cleanup.js';

function reader(values: Record<string, string>): OptionReader {
  return new OptionReader(new Map([['glance_store', new Map(Object.entries(values).map(([k, v]) => [k, [v]]))]]), 'glance_store');
}

test('glance-swift.conf: [DEFAULT] feeds every section, quotes are stripped, incomplete sections are skipped', () => {
  const warnings: string[] = [];
  const refs = parseSwiftReferences(
    `
[DEFAULT]
auth_address = http://keystone:5000/v3
auth_version = 3

[ref1]
user = service:glance
key = "s3cr#t"

[ref2]
user = acct:user
key = k2
auth_address = http://swift:8080/auth/v1.0
auth_version = 1
user_domain_name = Users
project_domain_id = p-dom
project_name = other

[broken]
user = only-user
`,
    'glance-swift.conf',
    '2',
    { warn: (m) => warnings.push(m) },
  );
  assert.deepEqual([...refs.keys()], ['ref1', 'ref2']);
  assert.deepEqual(refs.get('ref1'), {
    authAddress: 'http://keystone:5000/v3',
    authVersion: '3',
    user: 'service:glance',
    key: 's3cr#t',
    userDomainId: 'default',
    userDomainName: undefined,
    projectDomainId: 'default',
    projectDomainName: undefined,
    projectName: undefined,
    projectId: undefined,
  });
  const r2 = refs.get('ref2')!;
  assert.equal(r2.authVersion, '1');
  assert.equal(r2.userDomainId, undefined, 'a domain name replaces the default domain id');
  assert.equal(r2.userDomainName, 'Users');
  assert.equal(r2.projectDomainId, 'p-dom');
  assert.equal(r2.projectName, 'other');
  assert.match(warnings.join(), /\[broken\] needs auth_address, user and key/);
});

test('auth_version: swift_store_auth_version is the default (Glance: 2); bad values are refused', () => {
  const refs = parseSwiftReferences('[r]\nuser = a:b\nkey = k\nauth_address = http://x/v2.0\n', 'f', '2');
  assert.equal(refs.get('r')!.authVersion, '2');
  assert.throws(() => parseSwiftReferences('[r]\nuser = a:b\nkey = k\nauth_address = http://x\nauth_version = 4\n', 'f', '2'), ConfigError);
});

test('Keystone names: "project:user" (Glance), or user with project_name/project_id', () => {
  const base = { authAddress: 'http://k', authVersion: '3' as const, key: 'k' };
  assert.deepEqual(keystoneNames({ ...base, user: 'service:glance' }), { project: 'service', user: 'glance' });
  assert.deepEqual(keystoneNames({ ...base, user: 'glance', projectName: 'service' }), { project: 'service', user: 'glance' });
  assert.throws(() => keystoneNames({ ...base, user: 'glance' }), StoreError);
  assert.throws(() => keystoneNames({ ...base, user: 'a:b:c' }), StoreError);
  assert.equal(keystoneV3('http://k:5000/v2.0/'), 'http://k:5000/v3');
  assert.equal(keystoneV3('http://k:5000/v3'), 'http://k:5000/v3');
  assert.equal(keystoneV3('http://k/identity'), 'http://k/identity/v3');
});

test('location forms: swift+config, legacy credentials (user with colons, key with @), multi-tenant storage URLs', () => {
  assert.deepEqual(parseSwiftLocation('swift+config://ref1/glance/abc'), { scheme: 'swift+config', container: 'glance', object: 'abc', reference: 'ref1' });
  assert.deepEqual(parseSwiftLocation('swift+http://acct:user:p%40ss@example.com:8080/auth/v1.0/glance/abc'), {
    scheme: 'swift+http',
    container: 'glance',
    object: 'abc',
    credentials: { user: 'acct:user', key: 'p@ss', authAddress: 'http://example.com:8080/auth/v1.0' },
  });
  assert.deepEqual(parseSwiftLocation('swift://u:k@ss@auth.example.com/v2.0/c/o').credentials, {
    user: 'u',
    key: 'k@ss',
    authAddress: 'https://auth.example.com/v2.0',
  });
  assert.equal(parseSwiftLocation('swift+https://u:k@auth/c/o').credentials!.authAddress, 'https://auth');
  assert.deepEqual(parseSwiftLocation('swift+https://swift.example.com/v1/AUTH_p1/glance_abc/abc'), {
    scheme: 'swift+https',
    container: 'glance_abc',
    object: 'abc',
    storageUrl: 'https://swift.example.com/v1/AUTH_p1',
  });
  for (const bad of [
    'swift://u:k@http://auth/c/o', // two schemes
    'swift+config://ref1/onlyone',
    'swift+config://a/b/c/d',
    's3://x/y/z',
    'swift+http://nokey@auth/c/o',
  ]) {
    assert.throws(() => parseSwiftLocation(bad), (e: unknown) => e instanceof StoreError && e.kind === 'bad_uri', bad);
  }
  assert.equal(
    storageLocation('http://127.0.0.1:8081/v1/AUTH_p/', 'glance_x', 'x'),
    'swift+http://127.0.0.1:8081/v1/AUTH_p/glance_x/x',
  );
  assert.ok(sameAuthAddress('http://k:5000/v3/', 'HTTP://k:5000'));
  assert.ok(!sameAuthAddress('http://k:5000/v3', 'http://k:5001/v3'));
});

test('container names: one container, Glance\'s seed (dashes not counted), per image in multi-tenant mode', () => {
  const id = 'f3a9-1c2b-4d5e';
  assert.equal(containerFor({ container: 'glance', multipleContainersSeed: 0, multiTenant: false }, id), 'glance');
  assert.equal(containerFor({ container: 'glance', multipleContainersSeed: 3, multiTenant: false }, id), 'glance_f3a');
  assert.equal(containerFor({ container: 'glance', multipleContainersSeed: 5, multiTenant: false }, 'F3A9-1C2B'), 'glance_f3a9-1');
  assert.equal(containerFor({ container: 'glance', multipleContainersSeed: 2, multiTenant: true }, id), `glance_${id}`);
});

test('options: Glance\'s defaults and units, and the combinations glance_store refuses', async () => {
  const dir = tempDir('imago-swiftconf-');
  await writeFile(join(dir, 'glance-swift.conf'), '[ref1]\nuser = a:b\nkey = k\nauth_address = http://k:5000/v3\n');
  const env = { configDir: dir, multistore: false };
  const o = swiftStoreOptionsFrom('swift', reader({ swift_store_config_file: 'glance-swift.conf' }), env);
  assert.equal(o.container, 'glance');
  assert.equal(o.largeObjectSize, 5120 * 1024 * 1024);
  assert.equal(o.largeObjectChunkSize, 200 * 1024 * 1024);
  assert.equal(o.endpointType, 'publicURL');
  assert.equal(o.serviceType, 'object-store');
  assert.equal(o.expireSoonInterval, 60);
  assert.equal(o.retryGetCount, 0);
  assert.equal(o.createContainerOnPut, false);
  assert.equal(o.references.get('ref1')!.authVersion, '2', 'swift_store_auth_version defaults to 2 (Keystone)');
  const store = new SwiftStore(o);
  assert.deepEqual(store.detail(), { container: 'glance', large_object_size: 5368709120, large_object_chunk_size: 209715200 });
  assert.deepEqual([...store.schemes].sort(), ['swift', 'swift+config', 'swift+http', 'swift+https']);
  assert.ok(store.ownsLocation('swift+config://ref1/glance/x'));
  assert.ok(!store.ownsLocation('swift+config://other/glance/x'));
  assert.ok(!store.ownsLocation('file:///x'));
  await store.close();

  const refuse = (values: Record<string, string>, re: RegExp) =>
    assert.throws(() => swiftStoreOptionsFrom('swift', reader(values), env), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  refuse({ swift_store_multi_tenant: 'true', swift_store_config_file: 'glance-swift.conf' }, /mutually exclusive/);
  refuse({ swift_store_config_file: 'nope.conf' }, /not found/);
  refuse({ swift_store_config_file: 'glance-swift.conf', default_swift_reference: 'ref9' }, /ref9/);
  refuse({}, /swift_store_config_file/);
  refuse({ swift_store_config_file: 'glance-swift.conf', swift_store_multiple_containers_seed: '33' }, /between 0 and 32/);
  refuse({ swift_store_config_file: 'glance-swift.conf', swift_store_endpoint_type: 'public' }, /publicURL/);
  refuse({ swift_store_config_file: 'glance-swift.conf', swift_buffer_on_upload: 'true' }, /swift_upload_buffer_dir/);

  // multi-tenant needs no credentials; ssl_compression is accepted and ignored with a warning
  const warnings: string[] = [];
  const mt = swiftStoreOptionsFrom('swift', reader({ swift_store_multi_tenant: 'true', swift_store_ssl_compression: 'false' }), {
    ...env,
    log: { warn: (m) => warnings.push(m) },
  });
  assert.equal(mt.multiTenant, true);
  assert.match(warnings.join('\n'), /ssl_compression is ignored/);
  // legacy options make the default reference
  const legacy = swiftStoreOptionsFrom(
    'swift',
    reader({ swift_store_user: 't:u', swift_store_key: 'k', swift_store_auth_address: 'http://s/auth/v1.0', swift_store_auth_version: '1' }),
    env,
  );
  assert.deepEqual(legacy.references.get('ref1'), {
    authAddress: 'http://s/auth/v1.0',
    authVersion: '1',
    user: 't:u',
    key: 'k',
    userDomainId: 'default',
    projectDomainId: 'default',
  });
});
