// Keystone token validation, as keystonemiddleware's auth_token does it for
// `[paste_deploy] flavor = keystone`, configured by the same
// `[keystone_authtoken]` options.
//
// imago holds its own service token (password auth, scoped as configured) and
// asks Keystone about each user token with GET /v3/auth/tokens
// (X-Auth-Token: service token, X-Subject-Token: user token). Answers are
// cached in memory for min(token_cache_time, time left before the token
// expires), so:
//   - an expired token is refused at once, cached or not (expires_at is
//     checked on every request);
//   - a REVOKED token (DELETE /v3/auth/tokens, user disabled, password
//     changed...) keeps working until its cache entry ages out, i.e. for at
//     most token_cache_time seconds. keystonemiddleware has the same window;
//     its default (300 s) is kept for a drop-in, and operators who want
//     revocation to bite sooner lower it (e.g. 30). token_cache_time = -1
//     (or 0) turns the cache off: every request then costs a Keystone round
//     trip.
// The cache lives in this process only (memcached_servers is ignored): each
// worker validates a token once per TTL.
//
// Differences from keystonemiddleware, on purpose:
//   - Keystone is reached at auth_url for validation too (the middleware
//     looks up the identity endpoint in its service token's catalog, which in
//     practice is the same place).
//   - No allow_expired for user tokens sent with a service token (long-running
//     operations by other services); no token binding (Kerberos); no
//     delay_auth_decision; no TLS client options (cafile/certfile/insecure):
//     Node's default trust store is used.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config, OptionReader } from '../config/config.js';
import { ConfigError } from '../config/options.js';
import { serviceUnavailable, unauthorized, type ApiError } from '../errors/index.js';
import type { CatalogService } from './catalog.js';

/** Who is calling, from a validated token. */
export interface Identity {
  /** The token itself, for calls made on the user's behalf (glance-download, remote workers). */
  token: string;
  userId: string;
  userName: string;
  userDomainId: string;
  userDomainName?: string;
  /** Project-scoped tokens only. */
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
  /** Domain-scoped tokens only. */
  domainId?: string;
  domainName?: string;
  /** System-scoped tokens only: "all". */
  systemScope?: string;
  roles: string[];
  /** Roles of a valid X-Service-Token sent along with the user token. */
  serviceRoles?: string[];
  /** oslo.context's is_admin_project: true unless Keystone says otherwise. */
  isAdminProject: boolean;
  applicationCredentialId?: string;
  /** A restricted application credential's access rules (checked by authenticate()). */
  accessRules?: { method: string; path: string; service: string }[];
  expiresAt: Date;
  catalog?: CatalogService[];
}

export interface KeystoneAuthOptions {
  /** Sent to clients in `WWW-Authenticate: Keystone uri="..."`. */
  wwwAuthenticateUri: string;
  /** Keystone's root or its /v3 URL; used for the service token and for validation. */
  authUrl: string;
  username?: string;
  userId?: string;
  password: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  /** Read for parity with keystonemiddleware; validation goes to authUrl and needs no region. */
  regionName?: string;
  /** Any one of these roles makes an X-Service-Token a service token. */
  serviceTokenRoles: string[];
  /** When true, an X-Service-Token without one of serviceTokenRoles is refused (401). */
  serviceTokenRolesRequired: boolean;
  /** Seconds a validation is reused; <= 0 disables the cache (oslo's -1). */
  tokenCacheTime: number;
  includeServiceCatalog: boolean;
  /** This service's type in the catalog, to check application credentials' access rules. */
  serviceType?: string;
  /** Per request to Keystone. */
  timeoutMs: number;
  /** Extra attempts when Keystone cannot be reached. */
  connectRetries: number;
  /** Upper bound on cached validations (oldest dropped first). */
  cacheMaxEntries: number;
}

export interface Logger {
  warn(message: string): void;
}

export interface KeystoneAuthDeps {
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  log?: Logger;
}

export interface AuthRequestInfo {
  method: string;
  /** Request path without the query string, for access rules. */
  path: string;
}

export interface KeystoneAuthStats {
  /** GET /v3/auth/tokens calls made. */
  validations: number;
  /** Answers served from the cache. */
  cacheHits: number;
  /** Service tokens obtained (POST /v3/auth/tokens). */
  serviceTokenFetches: number;
}

const AUTH_REQUIRED = 'The request you have made requires authentication.';
const KEYSTONE_UNAVAILABLE = 'The Keystone service is temporarily unavailable.';
/** Get a new service token this long before the current one expires (keystoneauth's margin). */
const SERVICE_TOKEN_MARGIN_MS = 120_000;

/** Token validation failed in a way the client can fix: answer 401. */
class InvalidToken extends Error {}
/** Keystone could not give an answer: answer 503. */
class KeystoneDown extends Error {}

interface CacheEntry {
  identity: Identity;
  /** Reuse until (ms since the epoch). */
  until: number;
}

interface ServiceToken {
  token: string;
  expiresAt: number;
  /** Renew from this time on (ms since the epoch). */
  renewAt: number;
}

// The parts of Keystone's token body that we read.
interface TokenBody {
  expires_at?: string;
  user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  domain?: { id?: string; name?: string };
  system?: Record<string, unknown>;
  roles?: { id?: string; name?: string }[];
  is_admin_project?: boolean;
  catalog?: CatalogService[];
  application_credential?: {
    id?: string;
    access_rules?: { method?: string; path?: string; service?: string }[];
  };
}

export class KeystoneAuth {
  readonly options: KeystoneAuthOptions;
  readonly stats: KeystoneAuthStats = { validations: 0, cacheHits: 0, serviceTokenFetches: 0 };
  private readonly v3: string;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Identity>>();
  private serviceToken: ServiceToken | undefined;
  private serviceTokenPending: Promise<ServiceToken> | undefined;
  private warnedServiceRoles = false;

  constructor(options: KeystoneAuthOptions, deps: KeystoneAuthDeps = {}) {
    this.options = options;
    this.v3 = identityV3Url(options.authUrl);
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? console;
  }

  /** The 401 every rejection uses, with the header that tells clients where to get a token. */
  unauthorized(message = AUTH_REQUIRED): ApiError {
    return unauthorized(message, { 'WWW-Authenticate': `Keystone uri="${this.options.wwwAuthenticateUri}"` });
  }

  /**
   * Authenticate a request from its headers (X-Auth-Token or X-Storage-Token,
   * optional X-Service-Token). Throws ApiError 401 (no/invalid/expired
   * token, invalid service token) or 503 (Keystone unreachable or failing).
   */
  async authenticate(headers: IncomingHttpHeaders, request?: AuthRequestInfo): Promise<Identity> {
    const userToken = headerValue(headers, 'x-auth-token') ?? headerValue(headers, 'x-storage-token');
    const serviceTokenValue = headerValue(headers, 'x-service-token');
    let serviceRoles: string[] | undefined;
    if (serviceTokenValue !== undefined) {
      serviceRoles = await this.checkServiceToken(serviceTokenValue);
    }
    if (userToken === undefined) throw this.unauthorized();
    const identity = await this.validate(userToken);
    if (request) this.checkAccessRules(identity, request, serviceTokenValue !== undefined);
    return serviceRoles ? { ...identity, serviceRoles } : identity;
  }

  /** Validate one token (cached). Throws ApiError 401 or 503. */
  async validate(token: string): Promise<Identity> {
    token = token.trim();
    if (token === '') throw this.unauthorized();
    try {
      return await this.validateCached(token);
    } catch (e) {
      throw this.toHttpError(e);
    }
  }

  /** Forget every cached validation (e.g. after an operator-triggered revocation). */
  clearCache(): void {
    this.cache.clear();
  }

  private toHttpError(e: unknown): unknown {
    if (e instanceof InvalidToken) return this.unauthorized();
    if (e instanceof KeystoneDown) {
      this.log.warn(`keystone: unable to validate token: ${e.message}`);
      return serviceUnavailable(KEYSTONE_UNAVAILABLE);
    }
    return e;
  }

  private async checkServiceToken(token: string): Promise<string[]> {
    const identity = await this.validate(token);
    const wanted = new Set(this.options.serviceTokenRoles);
    if (!identity.roles.some((r) => wanted.has(r))) {
      if (this.options.serviceTokenRolesRequired) throw this.unauthorized();
      if (!this.warnedServiceRoles) {
        this.warnedServiceRoles = true;
        this.log.warn(
          `keystone: a valid token without any of the roles [${this.options.serviceTokenRoles.join(', ')}] was ` +
            'sent as X-Service-Token; accepted because [keystone_authtoken] service_token_roles_required is false',
        );
      }
    }
    return identity.roles;
  }

  private async validateCached(token: string): Promise<Identity> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.until > now) {
        this.stats.cacheHits++;
        return hit.identity;
      }
      this.cache.delete(key);
    }
    // Concurrent requests with the same new token share one Keystone call.
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchIdentity(token)
        .then((identity) => {
          this.remember(key, identity);
          return identity;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private remember(key: string, identity: Identity): void {
    const ttlMs = this.options.tokenCacheTime * 1000;
    if (ttlMs <= 0) return;
    const now = this.now();
    const until = Math.min(now + ttlMs, identity.expiresAt.getTime());
    if (until <= now) return;
    if (this.cache.size >= this.options.cacheMaxEntries) {
      for (const [k, e] of this.cache) if (e.until <= now) this.cache.delete(k);
      // Still full: drop the oldest entries (Map keeps insertion order).
      for (const k of this.cache.keys()) {
        if (this.cache.size < this.options.cacheMaxEntries) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, { identity, until });
  }

  private async fetchIdentity(token: string): Promise<Identity> {
    let service = await this.getServiceToken();
    let res = await this.requestValidation(token, service.token);
    if (res.status === 401) {
      // Our service token was revoked or expired early: get a new one, once.
      this.dropServiceToken(service);
      service = await this.getServiceToken();
      res = await this.requestValidation(token, service.token);
      if (res.status === 401) {
        throw new KeystoneDown('Keystone rejected the service token needed to validate tokens (401)');
      }
    }
    if (res.status === 404) throw new InvalidToken();
    if (res.status !== 200) {
      throw new KeystoneDown(`GET /v3/auth/tokens answered ${res.status}: ${truncate(await res.text())}`);
    }
    const body = await readJson(res);
    const identity = parseIdentity(token, body);
    if (identity.expiresAt.getTime() <= this.now()) throw new InvalidToken();
    return identity;
  }

  private async requestValidation(token: string, serviceToken: string): Promise<Response> {
    this.stats.validations++;
    const url = `${this.v3}/auth/tokens${this.options.includeServiceCatalog ? '' : '?nocatalog'}`;
    return this.send(url, {
      method: 'GET',
      headers: { Accept: 'application/json', 'X-Auth-Token': serviceToken, 'X-Subject-Token': token },
    });
  }

  private getServiceToken(): Promise<ServiceToken> {
    const current = this.serviceToken;
    if (current && current.renewAt > this.now()) return Promise.resolve(current);
    this.serviceTokenPending ??= this.issueServiceToken()
      .then((t) => {
        this.serviceToken = t;
        return t;
      })
      .finally(() => {
        this.serviceTokenPending = undefined;
      });
    return this.serviceTokenPending;
  }

  private dropServiceToken(used: ServiceToken): void {
    if (this.serviceToken === used) this.serviceToken = undefined;
  }

  private async issueServiceToken(): Promise<ServiceToken> {
    const o = this.options;
    const user: Record<string, unknown> = { password: o.password };
    if (o.userId) user.id = o.userId;
    else {
      user.name = o.username;
      user.domain = o.userDomainId ? { id: o.userDomainId } : { name: o.userDomainName ?? 'Default' };
    }
    let scope: Record<string, unknown> | undefined;
    if (o.projectId) scope = { project: { id: o.projectId } };
    else if (o.projectName) {
      const domain = o.projectDomainId ? { id: o.projectDomainId } : { name: o.projectDomainName ?? 'Default' };
      scope = { project: { name: o.projectName, domain } };
    }
    const auth: Record<string, unknown> = { identity: { methods: ['password'], password: { user } } };
    if (scope) auth.scope = scope;
    const res = await this.send(`${this.v3}/auth/tokens?nocatalog`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth }),
    });
    if (res.status !== 201 && res.status !== 200) {
      const detail = truncate(await res.text());
      throw new KeystoneDown(
        res.status === 401
          ? `Keystone refused imago's service credentials ([keystone_authtoken] username/password/project): ${detail}`
          : `POST /v3/auth/tokens answered ${res.status}: ${detail}`,
      );
    }
    const token = res.headers.get('x-subject-token');
    const body = await readJson(res);
    const expiresAt = parseKeystoneTime(body.token?.expires_at);
    if (!token || Number.isNaN(expiresAt)) throw new KeystoneDown('Keystone issued a service token without id or expiry');
    this.stats.serviceTokenFetches++;
    // Renew 2 minutes before expiry, or half-way through a shorter life.
    const margin = Math.min(SERVICE_TOKEN_MARGIN_MS, (expiresAt - this.now()) / 2);
    return { token, expiresAt, renewAt: expiresAt - margin };
  }

  /** fetch with a timeout and a few retries when Keystone cannot be reached (never on an HTTP answer). */
  private async send(url: string, init: RequestInit): Promise<Response> {
    let delay = 100;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetch(url, { ...init, signal: AbortSignal.timeout(this.options.timeoutMs) });
      } catch (e) {
        if (attempt >= this.options.connectRetries) {
          throw new KeystoneDown(`cannot reach Keystone at ${url}: ${describeFetchError(e)}`);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  /** Application credentials with access rules may only call what the rules list (keystonemiddleware's check). */
  private checkAccessRules(identity: Identity, request: AuthRequestInfo, withServiceToken: boolean): void {
    const rules = identity.accessRules;
    if (rules === undefined) return;
    const type = this.options.serviceType;
    if (!type) {
      this.log.warn('keystone: refusing a token with access rules: set [keystone_authtoken] service_type to check them');
      throw this.unauthorized();
    }
    if (!(identity.catalog ?? []).some((s) => s.type === type)) throw this.unauthorized();
    // A service token means a chain of requests started by a user-facing call.
    if (withServiceToken) return;
    const ok = rules.some((r) => r.service === type && r.method === request.method && pathMatches(request.path, r.path));
    if (!ok) throw this.unauthorized();
  }
}

function parseIdentity(token: string, body: { token?: TokenBody }): Identity {
  const t = body.token;
  if (!t?.user?.id || !t.expires_at) throw new InvalidToken();
  const expiresAt = new Date(parseKeystoneTime(t.expires_at));
  if (Number.isNaN(expiresAt.getTime())) throw new InvalidToken();
  const identity: Identity = {
    token,
    userId: t.user.id,
    userName: t.user.name ?? '',
    userDomainId: t.user.domain?.id ?? '',
    userDomainName: t.user.domain?.name,
    roles: (t.roles ?? []).map((r) => r.name ?? '').filter((n) => n !== ''),
    isAdminProject: t.is_admin_project ?? true,
    expiresAt,
  };
  if (t.project) {
    identity.projectId = t.project.id;
    identity.projectName = t.project.name;
    identity.projectDomainId = t.project.domain?.id;
    identity.projectDomainName = t.project.domain?.name;
  }
  if (t.domain) {
    identity.domainId = t.domain.id;
    identity.domainName = t.domain.name;
  }
  if (t.system) identity.systemScope = Object.keys(t.system).filter((k) => t.system![k] === true).join(',') || 'all';
  if (t.catalog) identity.catalog = t.catalog;
  const appCred = t.application_credential;
  if (appCred) {
    identity.applicationCredentialId = appCred.id;
    if (appCred.access_rules) {
      identity.accessRules = appCred.access_rules.map((r) => ({
        method: r.method ?? '',
        path: r.path ?? '',
        service: r.service ?? '',
      }));
    }
  }
  // Shared by every request that presents this token while it is cached.
  Object.freeze(identity.roles);
  return Object.freeze(identity);
}

/**
 * Access-rule path patterns: `*` and `{name}` match one path segment, `**`
 * any number of them; everything else is literal.
 */
export function pathMatches(path: string, pattern: string): boolean {
  let re = '';
  for (const m of pattern.matchAll(/\{[^}]*\}|\*\*|\*|[^{}*]+/g)) {
    const part = m[0];
    if (part === '**') re += '.*';
    else if (part === '*' || part.startsWith('{')) re += '[^/]+';
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(path);
}

/**
 * Keystone's times are UTC; some (a token capped by an application
 * credential's expiry, at issue time) come without the "Z".
 */
function parseKeystoneTime(s: string | undefined): number {
  if (!s) return NaN;
  return Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(s) ? s : `${s}Z`);
}

/** auth_url may name Keystone's root, its /v3 or (legacy) /v2.0: we always talk v3. */
export function identityV3Url(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, '');
  if (/\/v3$/.test(u)) return u;
  if (/\/v2\.0$/.test(u)) return u.replace(/\/v2\.0$/, '/v3');
  return `${u}/v3`;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

async function readJson(res: Response): Promise<{ token?: TokenBody }> {
  try {
    return (await res.json()) as { token?: TokenBody };
  } catch {
    throw new KeystoneDown(`Keystone answered ${res.status} with a body that is not JSON`);
  }
}

function truncate(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** Options that keystonemiddleware has and imago does not use: said once, at start. */
const IGNORED_OPTIONS = [
  'memcached_servers',
  'memcache_security_strategy',
  'memcache_secret_key',
  'memcache_use_advanced_pool',
  'cafile',
  'certfile',
  'keyfile',
  'insecure',
  'delay_auth_decision',
  'enforce_token_bind',
];

/**
 * Read `[keystone_authtoken]` (and the section named by its auth_section, if
 * any) into options, warning once about options imago ignores.
 */
export function keystoneAuthOptionsFromConfig(config: Config, log: Logger = console): KeystoneAuthOptions {
  const main = config.section('keystone_authtoken');
  const authSection = main.str('auth_section');
  // Plugin options (auth_url, username...) may live in another section; the
  // middleware's own options stay in [keystone_authtoken].
  const plugin: OptionReader = authSection ? config.section(authSection, main) : main;
  const where = `[${plugin.section}]`;

  const authType = plugin.str('auth_type') ?? plugin.str('auth_plugin');
  if (authType !== undefined && authType !== 'password' && authType !== 'v3password') {
    throw new ConfigError(`${where} auth_type = ${authType}: imago supports only "password"`);
  }
  const authUrl = plugin.str('auth_url');
  if (!authUrl) throw new ConfigError(`${where} auth_url is required for Keystone authentication`);
  const username = plugin.str('username') || undefined;
  const userId = plugin.str('user_id') || undefined;
  const password = plugin.str('password');
  if (!username && !userId) throw new ConfigError(`${where} username (or user_id) is required`);
  if (password === undefined) throw new ConfigError(`${where} password is required`);

  const defaultDomainId = plugin.str('default_domain_id') || undefined;
  const defaultDomainName = plugin.str('default_domain_name') || undefined;
  const domainOf = (prefix: string) => {
    const id = plugin.str(`${prefix}_domain_id`) || undefined;
    const name = plugin.str(`${prefix}_domain_name`) || undefined;
    if (id || name) return { id, name };
    return { id: defaultDomainId, name: defaultDomainName };
  };
  const userDomain = domainOf('user');
  const projectDomain = domainOf('project');

  for (const opt of IGNORED_OPTIONS) {
    const v = main.str(opt);
    if (v !== undefined && v !== '' && !(opt === 'delay_auth_decision' && /^(false|no|off|0)$/i.test(v))) {
      log.warn(`[keystone_authtoken] ${opt} is ignored by imago (in-process token cache, see src/auth/keystone.ts)`);
    }
  }

  const timeoutSeconds = main.int('http_connect_timeout', 10, 1);
  return {
    wwwAuthenticateUri: main.str('www_authenticate_uri') || main.str('auth_uri') || authUrl,
    authUrl,
    username,
    userId,
    password,
    userDomainId: userDomain.id,
    userDomainName: userDomain.name,
    projectId: plugin.str('project_id') || plugin.str('tenant_id') || undefined,
    projectName: plugin.str('project_name') || plugin.str('tenant_name') || undefined,
    projectDomainId: projectDomain.id,
    projectDomainName: projectDomain.name,
    regionName: main.str('region_name') || undefined,
    serviceTokenRoles: main.list('service_token_roles', ['service']),
    serviceTokenRolesRequired: main.bool('service_token_roles_required', false),
    tokenCacheTime: main.int('token_cache_time', 300),
    includeServiceCatalog: main.bool('include_service_catalog', true),
    serviceType: main.str('service_type') || undefined,
    timeoutMs: timeoutSeconds * 1000,
    connectRetries: main.int('http_request_max_retries', 3, 0),
    cacheMaxEntries: 10_000,
  };
}

/** The validator for `[paste_deploy] flavor = keystone...`, or undefined for noauth flavors. */
export function keystoneAuthFromConfig(config: Config, deps: KeystoneAuthDeps = {}): KeystoneAuth | undefined {
  if (config.auth.flavor !== 'keystone') return undefined;
  return new KeystoneAuth(keystoneAuthOptionsFromConfig(config, deps.log), deps);
}
