import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/config.js';
import {
  identityV3Url,
  KeystoneAuth,
  keystoneAuthFromConfig,
  keystoneAuthOptionsFromConfig,
  pathMatches,
  type KeystoneAuthOptions,
} from '../../src/auth/keystone.js';
import { isHttpError } from '../../src/http/errors.js';
import { tempDir } from '../helpers/cleanup.js';

function configFrom(text: string) {
  const dir = tempDir('imago-ks-');
  const file = join(dir, 'glance-api.conf');
  writeFileSync(file, text);
  return loadConfig({ configFiles: [file] });
}

const GLANCE_CONF = `
[paste_deploy]
flavor = keystone+cachemanagement

[keystone_authtoken]
www_authenticate_uri = http://keystone.example:5000
auth_url = http://keystone.internal:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = s3cret
region_name = RegionOne
service_token_roles_required = true
memcached_servers = 127.0.0.1:11211
token_cache_time = 60
`;

test('[keystone_authtoken] is read like keystonemiddleware, with its defaults', () => {
  const warnings: string[] = [];
  const o = keystoneAuthOptionsFromConfig(configFrom(GLANCE_CONF), { warn: (m) => warnings.push(m) });
  assert.equal(o.wwwAuthenticateUri, 'http://keystone.example:5000');
  assert.equal(o.authUrl, 'http://keystone.internal:5000');
  assert.equal(o.username, 'glance');
  assert.equal(o.password, 's3cret');
  assert.equal(o.userDomainName, 'Default');
  assert.equal(o.projectName, 'service');
  assert.equal(o.projectDomainName, 'Default');
  assert.equal(o.regionName, 'RegionOne');
  assert.equal(o.serviceTokenRolesRequired, true);
  assert.deepEqual(o.serviceTokenRoles, ['service']);
  assert.equal(o.tokenCacheTime, 60);
  assert.equal(o.includeServiceCatalog, true);
  assert.equal(o.connectRetries, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /memcached_servers is ignored/);

  const minimal = keystoneAuthOptionsFromConfig(
    configFrom('[keystone_authtoken]\nauth_url = http://k:5000/v3\nusername = u\npassword = p\nproject_name = service\n'),
  );
  assert.equal(minimal.tokenCacheTime, 300);
  assert.equal(minimal.serviceTokenRolesRequired, false);
  assert.equal(minimal.wwwAuthenticateUri, 'http://k:5000/v3', 'falls back to auth_url');
});

test('auth_section holds the plugin options; unsupported auth types and missing options are config errors', () => {
  const o = keystoneAuthOptionsFromConfig(
    configFrom(
      '[keystone_authtoken]\nauth_section = svc\ntoken_cache_time = -1\n[svc]\nauth_url = http://k:5000\nuser_id = abc\npassword = p\nproject_id = 123\n',
    ),
  );
  assert.equal(o.userId, 'abc');
  assert.equal(o.projectId, '123');
  assert.equal(o.tokenCacheTime, -1);
  assert.throws(
    () => keystoneAuthOptionsFromConfig(configFrom('[keystone_authtoken]\nauth_type = token\nauth_url = http://k\n')),
    ConfigError,
  );
  assert.throws(() => keystoneAuthOptionsFromConfig(configFrom('[keystone_authtoken]\nusername = u\npassword = p\n')), /auth_url/);
  assert.equal(keystoneAuthFromConfig(configFrom('[keystone_authtoken]\n')), undefined, 'no keystone flavor, no validator');
  assert.ok(keystoneAuthFromConfig(configFrom(GLANCE_CONF), { log: { warn() {} } }) instanceof KeystoneAuth);
});

test('auth_url forms and access-rule paths', () => {
  assert.equal(identityV3Url('http://k:5000'), 'http://k:5000/v3');
  assert.equal(identityV3Url('http://k:5000/'), 'http://k:5000/v3');
  assert.equal(identityV3Url('http://k/identity/v3/'), 'http://k/identity/v3');
  assert.equal(identityV3Url('http://k:5000/v2.0'), 'http://k:5000/v3');
  assert.ok(pathMatches('/v2/images', '/v2/images'));
  assert.ok(pathMatches('/v2/images/abc', '/v2/images/*'));
  assert.ok(pathMatches('/v2/images/abc', '/v2/images/{image_id}'));
  assert.ok(!pathMatches('/v2/images/abc/file', '/v2/images/*'));
  assert.ok(pathMatches('/v2/images/abc/file', '/v2/images/**'));
  assert.ok(!pathMatches('/v2/imagesX', '/v2/images'));
  assert.ok(!pathMatches('/v2/images.json', '/v2/images?json'), 'regex characters are literal');
});

// A scripted Keystone: each call answers with the next handler's response.
type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

function fakeKeystone(handlers: Handler[]) {
  const calls: { url: string; method: string; headers: Record<string, string> }[] = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, method: init.method ?? 'GET', headers: (init.headers ?? {}) as Record<string, string> });
    const h = handlers.shift();
    if (!h) throw new Error(`unexpected call ${init.method} ${url}`);
    return h(url, init);
  }) as typeof fetch;
  return { fetch: f, calls };
}

const iso = (ms: number) => new Date(ms).toISOString();
const serviceTokenOk = (expiresAt: number, id = 'svc-token'): Handler => () =>
  new Response(JSON.stringify({ token: { expires_at: iso(expiresAt) } }), {
    status: 201,
    headers: { 'X-Subject-Token': id },
  });
const validationOk = (expiresAt: number, roles = ['member']): Handler => () =>
  Response.json({
    token: {
      expires_at: iso(expiresAt),
      user: { id: 'u1', name: 'alice', domain: { id: 'default', name: 'Default' } },
      project: { id: 'p1', name: 'demo', domain: { id: 'default', name: 'Default' } },
      roles: roles.map((name) => ({ id: name, name })),
    },
  });
const status = (code: number): Handler => () => new Response('{"error": {}}', { status: code });
const refused: Handler = () => {
  throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:5000') });
};

function options(over: Partial<KeystoneAuthOptions> = {}): KeystoneAuthOptions {
  return {
    wwwAuthenticateUri: 'http://k:5000',
    authUrl: 'http://k:5000',
    username: 'imago',
    password: 'p',
    projectName: 'service',
    serviceTokenRoles: ['service'],
    serviceTokenRolesRequired: true,
    tokenCacheTime: 300,
    includeServiceCatalog: true,
    timeoutMs: 1000,
    connectRetries: 2,
    cacheMaxEntries: 2,
    ...over,
  };
}

async function rejectsWith(p: Promise<unknown>, code: number) {
  await assert.rejects(p, (e: unknown) => isHttpError(e) && e.status === code);
}

test('validation request shape, and the cache lasts no longer than the token', async () => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const k = fakeKeystone([serviceTokenOk(now + 3600_000), validationOk(now + 10_000), status(404)]);
  const auth = new KeystoneAuth(options(), { fetch: k.fetch, now: () => now, log: { warn() {} } });
  const id = await auth.validate('user-token');
  assert.equal(id.projectName, 'demo');
  assert.equal(k.calls[0]!.url, 'http://k:5000/v3/auth/tokens?nocatalog');
  assert.equal(k.calls[0]!.method, 'POST');
  assert.equal(k.calls[1]!.url, 'http://k:5000/v3/auth/tokens');
  assert.equal(k.calls[1]!.headers['X-Auth-Token'], 'svc-token');
  assert.equal(k.calls[1]!.headers['X-Subject-Token'], 'user-token');
  now += 9_000;
  await auth.validate('user-token'); // cached
  assert.equal(k.calls.length, 2);
  now += 1_000; // the token's expiry: the cache entry goes with it, Keystone is asked again
  await rejectsWith(auth.validate('user-token'), 401);
  assert.equal(k.calls.length, 3);
});

test('Keystone errors: 5xx and 403 are 503, 404 is 401, connection failures are retried then 503', async () => {
  const now = Date.now();
  const warn: string[] = [];
  const mk = (handlers: Handler[]) => {
    const k = fakeKeystone(handlers);
    return { k, auth: new KeystoneAuth(options(), { fetch: k.fetch, log: { warn: (m) => warn.push(m) } }) };
  };
  await rejectsWith(mk([serviceTokenOk(now + 3600_000), status(500)]).auth.validate('t'), 503);
  await rejectsWith(mk([serviceTokenOk(now + 3600_000), status(403)]).auth.validate('t'), 503);
  await rejectsWith(mk([serviceTokenOk(now + 3600_000), status(404)]).auth.validate('t'), 401);
  await rejectsWith(mk([status(401)]).auth.validate('t'), 503); // our own credentials refused
  assert.ok(warn.some((w) => /service credentials/.test(w)));
  const flaky = mk([refused, refused, serviceTokenOk(now + 3600_000), validationOk(now + 3600_000)]);
  assert.equal((await flaky.auth.validate('t')).userId, 'u1');
  await rejectsWith(mk([refused, refused, refused]).auth.validate('t'), 503);
  // 401 on validation: one new service token, one retry.
  const reauth = mk([serviceTokenOk(now + 3600_000, 'a'), status(401), serviceTokenOk(now + 3600_000, 'b'), validationOk(now + 3600_000)]);
  assert.equal((await reauth.auth.validate('t')).userId, 'u1');
  assert.equal(reauth.k.calls[3]!.headers['X-Auth-Token'], 'b');
  assert.equal(reauth.auth.stats.serviceTokenFetches, 2);
});

test('the cache is bounded and an expired token is refused even if Keystone says 200', async () => {
  const now = Date.now();
  const k = fakeKeystone([
    serviceTokenOk(now + 3600_000),
    validationOk(now + 3600_000),
    validationOk(now + 3600_000),
    validationOk(now + 3600_000),
    validationOk(now + 3600_000),
    validationOk(now - 1),
  ]);
  const auth = new KeystoneAuth(options({ cacheMaxEntries: 2 }), { fetch: k.fetch, log: { warn() {} } });
  await auth.validate('a');
  await auth.validate('b');
  await auth.validate('c'); // drops a
  await auth.validate('b');
  assert.equal(auth.stats.cacheHits, 1);
  await auth.validate('a'); // asked again
  assert.equal(auth.stats.validations, 4);
  await rejectsWith(auth.validate('expired'), 401);
});
