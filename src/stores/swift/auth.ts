// Tokens and storage URLs for Swift accounts: tempauth-style v1 auth
// (X-Auth-User/X-Auth-Key -> X-Storage-Url/X-Auth-Token), Keystone v3 password
// auth with the object-store endpoint from the token's catalog, or the caller's
// own token (multi-tenant). A token is renewed before it expires (within
// swift_store_expire_soon_interval) and when Swift refuses it (401).

import { endpointFromCatalog, type CatalogService, type EndpointQuery } from '../../auth/catalog.js';
import { StoreError } from '../store.js';
import { keystoneNames, type EndpointType, type SwiftCredentials } from './config.js';
import { NetworkError, type SwiftHttp } from './http.js';

export interface AuthState {
  token: string;
  storageUrl: string;
  /** Milliseconds since the epoch; undefined when the auth service did not say. */
  expiresAt?: number | undefined;
}

export interface AccountAuth {
  /** A token that will not expire within the expire-soon window, and where to use it. */
  get(signal?: AbortSignal): Promise<AuthState>;
  /** After Swift refused `refused` (401): a new token, or write_denied when there is none to get. */
  renew(refused: string, signal?: AbortSignal): Promise<AuthState>;
}

export interface EndpointSelection extends EndpointQuery {
  /** swift_store_endpoint: replaces the storage URL from the catalog or v1 auth. */
  endpoint?: string | undefined;
  endpointType: EndpointType;
}

/** Counts for tests and logs. */
export interface AuthStats {
  authentications: number;
}

/** Keystone's v3 base from an auth address with or without a version suffix. */
export function keystoneV3(authAddress: string): string {
  return `${authAddress.replace(/\/+$/, '').replace(/\/(v2\.0|v3)$/, '')}/v3`;
}

export class PasswordAuth implements AccountAuth {
  private state: AuthState | undefined;
  private pending: Promise<AuthState> | undefined;
  readonly stats: AuthStats = { authentications: 0 };

  constructor(
    private readonly creds: SwiftCredentials,
    private readonly sel: EndpointSelection,
    private readonly http: SwiftHttp,
    private readonly opts: { expireSoonMs: number; now: () => number },
  ) {}

  async get(signal?: AbortSignal): Promise<AuthState> {
    const s = this.state;
    if (s && (s.expiresAt === undefined || s.expiresAt - this.opts.now() > this.opts.expireSoonMs)) return s;
    return this.authenticate(signal);
  }

  async renew(refused: string, signal?: AbortSignal): Promise<AuthState> {
    // another request may have renewed it already
    if (this.state && this.state.token !== refused) return this.state;
    this.state = undefined;
    const s = await this.authenticate(signal);
    if (s.token === refused) throw new StoreError('write_denied', 'Swift refused a token that its auth service just issued');
    return s;
  }

  /** One authentication at a time; everyone waiting shares it. */
  private authenticate(signal?: AbortSignal): Promise<AuthState> {
    this.pending ??= (this.creds.authVersion === '1' ? this.v1() : this.v3())
      .then((s) => {
        this.state = s;
        this.stats.authentications++;
        return s;
      })
      .finally(() => {
        this.pending = undefined;
      });
    const pending = this.pending;
    if (!signal) return pending;
    // the caller may give up waiting; the authentication itself goes on for the others
    return new Promise<AuthState>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async v1(): Promise<AuthState> {
    const res = await this.call(() =>
      this.http.send('GET', this.creds.authAddress, { headers: { 'X-Auth-User': this.creds.user, 'X-Auth-Key': this.creds.key } }),
    );
    if (res.status === 401 || res.status === 403) {
      throw new StoreError('write_denied', `Swift authentication as ${this.creds.user} at ${this.creds.authAddress} failed (${res.status})`);
    }
    if (res.status < 200 || res.status > 299) throw authUnavailable(this.creds.authAddress, `answered ${res.status}`);
    const token = header(res.headers['x-auth-token'] ?? res.headers['x-storage-token']);
    const storageUrl = this.sel.endpoint ?? header(res.headers['x-storage-url']);
    if (!token || !storageUrl) throw authUnavailable(this.creds.authAddress, 'no X-Auth-Token or X-Storage-Url in the answer');
    const expires = Number(header(res.headers['x-auth-token-expires']));
    return { token, storageUrl, expiresAt: Number.isFinite(expires) && expires > 0 ? this.opts.now() + expires * 1000 : undefined };
  }

  private async v3(): Promise<AuthState> {
    const { user, project } = keystoneNames(this.creds);
    const domain = (id: string | undefined, name: string | undefined) => (id ? { id } : { name });
    const scope = this.creds.projectId
      ? { project: { id: this.creds.projectId } }
      : { project: { name: project, domain: domain(this.creds.projectDomainId, this.creds.projectDomainName) } };
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: domain(this.creds.userDomainId, this.creds.userDomainName), password: this.creds.key } },
        },
        scope,
      },
    };
    const url = `${keystoneV3(this.creds.authAddress)}/auth/tokens`;
    const res = await this.call(() =>
      this.http.send('POST', url, { headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) }),
    );
    if (res.status === 401 || res.status === 403) {
      throw new StoreError('write_denied', `Keystone refused the swift account ${this.creds.user} (${res.status})`);
    }
    if (res.status !== 201 && res.status !== 200) throw authUnavailable(url, `answered ${res.status}`);
    const token = header(res.headers['x-subject-token']);
    let parsed: { token?: { expires_at?: string; catalog?: CatalogService[] } };
    try {
      parsed = JSON.parse(res.body.toString('utf8')) as typeof parsed;
    } catch {
      throw authUnavailable(url, 'the answer is not JSON');
    }
    if (!token) throw authUnavailable(url, 'no X-Subject-Token in the answer');
    const storageUrl = this.sel.endpoint ?? endpointFromCatalog(parsed.token?.catalog, this.sel);
    if (!storageUrl) {
      throw new StoreError(
        'unavailable',
        `Cannot find swift service endpoint: no ${this.sel.serviceType} ${this.sel.endpointType} endpoint` +
          `${this.sel.region ? ` in region ${this.sel.region}` : ''} in the catalog of ${this.creds.user}`,
      );
    }
    const expiresAt = parsed.token?.expires_at ? Date.parse(parsed.token.expires_at) : NaN;
    return { token, storageUrl, expiresAt: Number.isFinite(expiresAt) ? expiresAt : undefined };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof NetworkError) throw authUnavailable(this.creds.authAddress, e.message, e);
      throw e;
    }
  }
}

/** The caller's own token (multi-tenant): nothing to renew it with. */
export class TokenAuth implements AccountAuth {
  constructor(private readonly state: AuthState) {}

  async get(): Promise<AuthState> {
    return this.state;
  }

  async renew(): Promise<AuthState> {
    throw new StoreError('write_denied', 'Swift refused the caller\'s token');
  }
}

function authUnavailable(where: string, why: string, cause?: unknown): StoreError {
  return new StoreError('unavailable', `Swift authentication at ${where} failed: ${why}`, { cause });
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
