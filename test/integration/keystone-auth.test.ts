// Token validation against the REAL Keystone of scripts/keystone.sh (started
// here if KEYSTONE_URL is not set; needs the keystone, uwsgi-core,
// uwsgi-plugin-python3 and sqlite3 Debian packages).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { KeystoneAuth, type KeystoneAuthOptions } from '../../src/auth/keystone.js';
import { isHttpError } from '../../src/http/errors.js';
import { ensureKeystone, issueToken, KeystoneAdmin, passwordAuth, type KeystoneEnv } from '../helpers/keystone.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: KeystoneEnv;
let admin: KeystoneAdmin;
const suffix = randomBytes(4).toString('hex');
const userName = `kstest-user-${suffix}`;
const svcName = `kstest-svc-${suffix}`;
const password = 'kstest-password';
let projectId = '';
let userId = '';
let svcUserId = '';
const warnings: string[] = [];
const log = { warn: (m: string) => warnings.push(m) };

function options(over: Partial<KeystoneAuthOptions> = {}): KeystoneAuthOptions {
  return {
    wwwAuthenticateUri: env.url,
    authUrl: env.url,
    username: env.service.user,
    password: env.service.password,
    userDomainName: 'Default',
    projectName: env.service.project,
    projectDomainName: 'Default',
    regionName: env.region,
    serviceTokenRoles: ['service'],
    serviceTokenRolesRequired: true,
    tokenCacheTime: 300,
    includeServiceCatalog: true,
    timeoutMs: 5000,
    connectRetries: 1,
    cacheMaxEntries: 1000,
    ...over,
  };
}

const userToken = async () => (await issueToken(env, passwordAuth(userName, password, `kstest-${suffix}`))).token;

async function assertUnauthorized(p: Promise<unknown>) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isHttpError(e), `expected an HttpError, got ${String(e)}`);
    assert.equal(e.status, 401);
    assert.equal(e.headers['WWW-Authenticate'], `Keystone uri="${env.url}"`);
    return true;
  });
}

async function assertUnavailable(p: Promise<unknown>) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isHttpError(e), `expected an HttpError, got ${String(e)}`);
    assert.equal(e.status, 503);
    return true;
  });
}

describe('Keystone token validation (real Keystone)', { timeout: 240_000 }, () => {
  before(async () => {
    env = ensureKeystone();
    admin = new KeystoneAdmin(env);
    projectId = await admin.createProject(`kstest-${suffix}`);
    userId = await admin.createUser(userName, password, projectId, ['member']);
    // A service user of our own, so that the test may revoke its tokens.
    svcUserId = await admin.createUser(svcName, password, await admin.projectId(env.service.project), ['admin', 'service']);
  });

  after(async () => {
    if (!admin) return;
    await admin.deleteUser(userId);
    await admin.deleteUser(svcUserId);
    await admin.deleteProject(projectId);
  });

  test('a valid token gives the identity, roles and catalog; then it is served from the cache', async () => {
    const auth = new KeystoneAuth(options(), { log });
    const token = await userToken();
    const id = await auth.authenticate({ 'x-auth-token': token }, { method: 'GET', path: '/v2/images' });
    assert.equal(id.userId, userId);
    assert.equal(id.userName, userName);
    assert.equal(id.userDomainId, 'default');
    assert.equal(id.projectId, projectId);
    assert.equal(id.projectName, `kstest-${suffix}`);
    assert.equal(id.projectDomainId, 'default');
    assert.equal(id.domainId, undefined);
    assert.equal(id.systemScope, undefined);
    assert.deepEqual([...id.roles].sort(), ['member', 'reader']); // reader is implied by member
    assert.equal(id.serviceRoles, undefined);
    assert.equal(id.isAdminProject, true);
    assert.equal(id.token, token);
    assert.ok(id.expiresAt.getTime() > Date.now() + 50 * 60_000, `expires_at ${id.expiresAt.toISOString()}`);
    assert.ok(id.catalog?.some((s) => s.type === 'identity'), 'the catalog lists identity');
    assert.deepEqual(auth.stats, { validations: 1, cacheHits: 0, serviceTokenFetches: 1 });

    // X-Storage-Token works as well (Swift-style clients); same token -> cache.
    const again = await auth.authenticate({ 'x-storage-token': token });
    assert.equal(again.userId, userId);
    assert.deepEqual(auth.stats, { validations: 1, cacheHits: 1, serviceTokenFetches: 1 });

    // Concurrent requests with a new token make one call to Keystone.
    const other = await userToken();
    const all = await Promise.all(Array.from({ length: 10 }, () => auth.validate(other)));
    assert.ok(all.every((i) => i.userId === userId));
    assert.equal(auth.stats.validations, 2);
    assert.equal(auth.stats.serviceTokenFetches, 1);
  });

  test('system- and admin-scoped tokens', async () => {
    const auth = new KeystoneAuth(options(), { log });
    const sys = await issueToken(env, {
      identity: passwordAuth(env.admin.user, env.admin.password).identity,
      scope: { system: { all: true } },
    });
    const id = await auth.validate(sys.token);
    assert.equal(id.systemScope, 'all');
    assert.equal(id.projectId, undefined);
    assert.ok(id.roles.includes('admin'));
  });

  test('no token, an unknown token, or an empty one: 401 with WWW-Authenticate', async () => {
    const auth = new KeystoneAuth(options(), { log });
    await assertUnauthorized(auth.authenticate({}));
    await assertUnauthorized(auth.authenticate({ 'x-auth-token': '   ' }));
    await assertUnauthorized(auth.authenticate({ 'x-auth-token': 'not-a-token' }));
    // Well-formed but never issued (a fernet token is 'gAAAAA' + base64url).
    await assertUnauthorized(auth.authenticate({ 'x-auth-token': `gAAAAAB${randomBytes(140).toString('base64url')}` }));
  });

  test('an expired token is refused, cached or not', async () => {
    // Tokens issued with an application credential expire with it: a token
    // that lives ~3 s without shortening Keystone's [token] expiration.
    const auth = new KeystoneAuth(options({ tokenCacheTime: 300 }), { log });
    const owner = await userToken();
    const expiresAt = new Date(Date.now() + 3000);
    const res = await fetch(`${env.url}/v3/users/${userId}/application_credentials`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Auth-Token': owner },
      body: JSON.stringify({ application_credential: { name: `short-${suffix}`, expires_at: expiresAt.toISOString() } }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const cred = ((await res.json()) as { application_credential: { id: string; secret: string } }).application_credential;
    const short = await issueToken(env, {
      identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: cred.secret } },
    });
    const id = await auth.validate(short.token);
    assert.equal(id.applicationCredentialId, cred.id);
    assert.ok(id.expiresAt.getTime() <= expiresAt.getTime() + 1000, `token expires at ${id.expiresAt.toISOString()}`);
    await auth.validate(short.token); // cached
    assert.equal(auth.stats.cacheHits, 1);
    await sleep(id.expiresAt.getTime() - Date.now() + 200);
    await assertUnauthorized(auth.validate(short.token));
    // Deleted one by one (not with the user): Keystone on SQLite would leave
    // its role rows behind (see scripts/keystone.sh).
    await admin.call('DELETE', `/users/${userId}/application_credentials/${cred.id}`);
  });

  test('a revoked token stops working once its cache entry ages out (token_cache_time)', async () => {
    const auth = new KeystoneAuth(options({ tokenCacheTime: 1 }), { log });
    const uncached = new KeystoneAuth(options({ tokenCacheTime: -1 }), { log });
    const token = await userToken();
    await auth.validate(token);
    await uncached.validate(token);
    await admin.revokeToken(token);
    // Within the TTL the cached answer still stands: the documented window.
    assert.equal((await auth.validate(token)).userId, userId);
    await assertUnauthorized(uncached.validate(token));
    await sleep(1100);
    await assertUnauthorized(auth.validate(token));
  });

  test('the service token is renewed when Keystone revokes it, and before it expires', async () => {
    let offset = 0;
    const auth = new KeystoneAuth(options({ username: svcName, password }), { log, now: () => Date.now() + offset });
    await auth.validate(await userToken());
    assert.equal(auth.stats.serviceTokenFetches, 1);

    // Disabling a user revokes its tokens (our service token among them).
    await admin.setUserEnabled(svcUserId, false);
    // Revocation events have one-second resolution: a token issued in the
    // same second as the event would be revoked too.
    await sleep(1100);
    await admin.setUserEnabled(svcUserId, true);
    const id = await auth.validate(await userToken());
    assert.equal(id.userId, userId);
    assert.equal(auth.stats.serviceTokenFetches, 2);
    assert.equal(auth.stats.validations, 3); // 1 + (401, retry)

    // 60 s before the service token's expiry (Keystone's default 1 h) a new
    // one is fetched first.
    offset = 3600_000 - 60_000;
    await auth.validate(await userToken());
    assert.equal(auth.stats.serviceTokenFetches, 3);
  });

  test('X-Service-Token: service roles, service_token_roles_required', async () => {
    const service = (await issueToken(env, passwordAuth(env.service.user, env.service.password, env.service.project))).token;
    const user = await userToken();
    const strict = new KeystoneAuth(options({ serviceTokenRolesRequired: true }), { log });
    const id = await strict.authenticate({ 'x-auth-token': user, 'x-service-token': service });
    assert.equal(id.userId, userId);
    assert.ok(id.serviceRoles?.includes('service'), `service roles ${id.serviceRoles}`);
    assert.deepEqual([...id.roles].sort(), ['member', 'reader']);

    // A user token passed off as a service token.
    await assertUnauthorized(strict.authenticate({ 'x-auth-token': user, 'x-service-token': user }));
    await assertUnauthorized(strict.authenticate({ 'x-auth-token': user, 'x-service-token': 'bogus' }));
    // A service token alone is not a user's request.
    await assertUnauthorized(strict.authenticate({ 'x-service-token': service }));

    warnings.length = 0;
    const lax = new KeystoneAuth(options({ serviceTokenRolesRequired: false }), { log });
    const laxId = await lax.authenticate({ 'x-auth-token': user, 'x-service-token': user });
    assert.deepEqual([...(laxId.serviceRoles ?? [])].sort(), ['member', 'reader']);
    await lax.authenticate({ 'x-auth-token': user, 'x-service-token': user });
    assert.equal(warnings.filter((w) => w.includes('X-Service-Token')).length, 1, 'warned once');
  });

  test('Keystone unreachable: 503', async () => {
    // Nothing listens on port 1.
    const nowhere = new KeystoneAuth(options({ authUrl: 'http://127.0.0.1:1' }), { log });
    await assertUnavailable(nowhere.validate(await userToken()));

    // Keystone going away while imago runs: reached through a TCP relay that
    // the test then shuts (the shared Keystone itself keeps running).
    const relay = await startRelay(env.url);
    try {
      const auth = new KeystoneAuth(options({ authUrl: relay.url }), { log });
      const cached = await userToken();
      await auth.validate(cached);
      await relay.close();
      await assertUnavailable(auth.validate(await userToken()));
      // Already validated tokens keep working from the cache meanwhile.
      assert.equal((await auth.validate(cached)).userId, userId);
    } finally {
      await relay.close();
    }
  });

  test('latency: cached vs uncached validation', async (t) => {
    const token = await userToken();
    const uncached = new KeystoneAuth(options({ tokenCacheTime: -1 }), { log });
    await uncached.validate(token); // service token fetched outside the timing
    const n = 30;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await uncached.validate(token);
    const uncachedMs = (performance.now() - t0) / n;

    const cached = new KeystoneAuth(options(), { log });
    await cached.validate(token);
    const m = 10_000;
    t0 = performance.now();
    for (let i = 0; i < m; i++) await cached.validate(token);
    const cachedMs = (performance.now() - t0) / m;
    t.diagnostic(`uncached ${uncachedMs.toFixed(2)} ms/validation (n=${n}), cached ${(cachedMs * 1000).toFixed(1)} µs (n=${m})`);
    assert.equal(uncached.stats.validations, n + 1);
    assert.equal(cached.stats.validations, 1);
    assert.ok(cachedMs < uncachedMs / 10, `cached ${cachedMs} ms vs uncached ${uncachedMs} ms`);
  });
});

/** A TCP relay to Keystone that can be shut like a server going down. */
async function startRelay(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('relay has no port');
  let closed = false;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
