// OpenStack Swift store, Glance's `swift` driver, with its options and URL
// forms (see ./swift/config.ts). Image data is always streamed:
// - a known size below swift_store_large_object_size: one PUT with Content-Length;
// - otherwise a Static Large Object: segments of swift_store_large_object_chunk_size
//   (Content-Length when the size is known, chunked transfer when not), one at a
//   time, then the manifest (`?multipart-manifest=put`). More than 1000 segments
//   (Swift's and radosgw's default max_manifest_segments) become sub-manifests.
// The last PUT carries `If-None-Match: *`, so an image id that already has data is
// refused (duplicate) and never overwritten; a HEAD afterwards catches the rare
// race that If-None-Match cannot (two PUTs in flight at once).
//
// Differences from glance_store, on purpose:
// - SLO instead of DLO (a DLO's listing is eventually consistent: a DLO read right
//   after its upload could miss segments). Legacy DLO images are read and deleted.
// - Segments live in the image's own container, as Glance's DLO segments do, named
//   `<image id>/<upload id>/<00000001>`: deployments that pre-create the container
//   (create_container_on_put = false, Glance's default) need nothing more, the
//   container ACLs of multi-tenant images cover the segments, and deleting an image
//   also removes whatever an interrupted upload of it left (`<image id>/` prefix).
// - Writes are atomic: the object name holds nothing until commit; abort or any
//   failure deletes every segment written; deletions that fail because Swift is
//   unreachable are retried in the background until it is back (30 min at most).
// - Every request re-authenticates once on 401, for v1 auth as well; PUTs wait for
//   `100 Continue`, so a token that expired between segments is renewed without
//   losing data. swift_buffer_on_upload additionally retries a segment PUT that
//   fails midway, from its copy in swift_upload_buffer_dir.
// - Ranged reads (`Range:`), and swift_store_retry_get_count resumes a broken GET
//   from the byte reached; a download that stays broken ends with an error, never
//   as a short image.
// - Only Swift endpoints the configuration names are contacted: a legacy location
//   with credentials must use the auth address of a configured reference, and a
//   multi-tenant location the object-store endpoint of the caller's catalog (or
//   swift_store_endpoint): a location is user input and must not send tokens away.
// - Multi-tenant containers are always created (Glance requires
//   swift_store_create_container_on_put for that), and no trusts are made
//   (swift_store_use_trusts): the caller's token is used.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  StoreError,
  type CallOptions,
  type CommittedData,
  type OpenedData,
  type ReadOptions,
  type Store,
  type StoreRequestContext,
  type StoreWriter,
  type WriteOptions,
} from './store.js';
import { catalogUrls, endpointFromCatalog } from '../auth/catalog.js';
import { PasswordAuth, TokenAuth, type AccountAuth, type AuthState } from './swift/auth.js';
import {
  configLocation,
  containerFor,
  parseSwiftLocation,
  sameAuthAddress,
  storageLocation,
  SWIFT_SCHEMES,
  type SwiftCredentials,
  type SwiftLocation,
  type SwiftStoreOptions,
} from './swift/config.js';
import { ConfigError } from '../config/options.js';
import { EarlyAnswer, NetworkError, SwiftHttp, type HttpResult, type Upload } from './swift/http.js';

export { swiftStoreOptionsFrom, type SwiftStoreOptions, type SwiftCredentials } from './swift/config.js';

/** Swift's (and radosgw's) default max_manifest_segments. */
const MAX_MANIFEST_SEGMENTS = 1000;
/** An upload whose newest segment is older than this, with no manifest, belongs to a writer that is gone. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;
/** Attempts per segment when it is buffered on disk (swift_buffer_on_upload). */
const BUFFERED_SEGMENT_ATTEMPTS = 3;
/** Background deletion of what a failed upload left: first retry after 1 s, then doubling up to 30 s, for 30 min. */
const CLEANUP_FIRST_DELAY_MS = 1000;
const CLEANUP_MAX_DELAY_MS = 30_000;
const CLEANUP_GIVE_UP_MS = 30 * 60_000;
const READ_HIGH_WATER_MARK = 1 << 20;
/** Accounts (and their tokens) kept for credentials found in legacy location URLs. */
const MAX_URL_ACCOUNTS = 32;
/** `<image>/<upload>/<00000001>` or `<image>/<upload>/manifest-<level>-<00001>`: what SwiftWriter names. */
const SEGMENT_NAME = /^(.+)\/([0-9a-z]{8,})\/(\d{8}|manifest-\d+-\d{5})$/;

/** Container ACLs of a multi-tenant image (Glance's set_acls). */
export interface SwiftAcls {
  public: boolean;
  readTenants?: string[];
  writeTenants?: string[];
}

export class SwiftStore implements Store {
  readonly type = 'swift';
  readonly schemes = SWIFT_SCHEMES;
  readonly capabilities = { write: true, delete: true, rangeRead: true };
  readonly id: string;
  readonly description: string | undefined;
  readonly weight: number;
  readonly opts: SwiftStoreOptions;
  private readonly http: SwiftHttp;
  private readonly now: () => number;
  private readonly log: { warn(msg: string): void };
  /** Accounts of references and legacy URL credentials, by key (auth is cached in them). */
  private readonly accounts = new Map<string, SwiftAccount>();
  /** Containers known to exist, by account and name. */
  private readonly containers = new Set<string>();
  readonly janitor: Janitor;

  constructor(opts: SwiftStoreOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.description = opts.description;
    this.weight = opts.weight ?? 0;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? console;
    this.http = new SwiftHttp({
      insecure: opts.insecure,
      ca: opts.cacert ? readFileSync(opts.cacert, 'utf8') : undefined,
      timeoutMs: opts.requestTimeoutMs ?? 60_000,
    });
    this.janitor = new Janitor(this.log);
  }

  /** Checks what can be checked without Swift: the buffer folder is writable (Glance's validate_buffering). */
  async init(): Promise<void> {
    if (!this.opts.uploadBufferDir) return;
    const probe = join(this.opts.uploadBufferDir, `.imago-swift-probe-${randomBytes(4).toString('hex')}`);
    try {
      await (await open(probe, 'wx')).close();
      await rm(probe, { force: true });
    } catch (e) {
      throw new ConfigError(`Unable to use buffer directory set with "swift_upload_buffer_dir": ${(e as Error).message}`, { cause: e });
    }
  }

  detail(): Record<string, unknown> {
    return {
      container: this.opts.container,
      large_object_size: this.opts.largeObjectSize,
      large_object_chunk_size: this.opts.largeObjectChunkSize,
    };
  }

  /** Glance's url_prefix match: locations of the accounts this store is configured for. */
  ownsLocation(url: string): boolean {
    let loc: SwiftLocation;
    try {
      loc = parseSwiftLocation(url);
    } catch {
      return false;
    }
    if (loc.reference !== undefined) return this.opts.references.has(loc.reference);
    if (loc.credentials) return [...this.opts.references.values()].some((r) => sameAuthAddress(r.authAddress, loc.credentials!.authAddress));
    if (!this.opts.multiTenant) return false;
    return !this.opts.endpoint || sameOrigin(this.opts.endpoint, loc.storageUrl!);
  }

  async close(): Promise<void> {
    this.janitor.close();
    this.http.close();
  }

  // --- whose account -------------------------------------------------------------------------

  /** The account of a configured reference (swift+config://<reference>/...). */
  account(reference: string): SwiftAccount {
    const creds = this.opts.references.get(reference);
    if (!creds) throw new StoreError('bad_uri', `Badly formed Swift URI. Credentials not found for account reference "${reference}"`);
    return this.passwordAccount(`ref\0${reference}`, creds);
  }

  private passwordAccount(key: string, creds: SwiftCredentials): SwiftAccount {
    let a = this.accounts.get(key);
    if (!a) {
      // credentials from location URLs are user input: keep a bounded number of them
      const fromUrls = [...this.accounts.keys()].filter((k) => k.startsWith('url\0'));
      if (key.startsWith('url\0') && fromUrls.length >= MAX_URL_ACCOUNTS) this.accounts.delete(fromUrls[0]!);
      const auth = new PasswordAuth(
        creds,
        { endpoint: this.opts.endpoint, region: this.opts.region, endpointType: this.opts.endpointType, serviceType: this.opts.serviceType },
        this.http,
        { expireSoonMs: this.opts.expireSoonInterval * 1000, now: this.now },
      );
      a = new SwiftAccount(key, auth, this.http);
      this.accounts.set(key, a);
    }
    return a;
  }

  /** The caller's own account (multi-tenant), at the storage URL of its catalog. */
  private callerAccount(ctx: StoreRequestContext | undefined, storageUrl?: string): SwiftAccount {
    if (!ctx?.authToken) throw new StoreError('invalid', 'Multi-tenant Swift storage requires a user context');
    let url = storageUrl;
    if (!url) {
      url = this.opts.endpoint ?? endpointFromCatalog(ctx.catalog, this.opts);
      if (!url) {
        throw new StoreError(
          'invalid',
          ctx.catalog ? `No ${this.opts.serviceType} ${this.opts.endpointType} endpoint in the caller's service catalog` : 'Multi-tenant Swift storage requires a service catalog',
        );
      }
    }
    const state: AuthState = { token: ctx.authToken, storageUrl: url };
    return new SwiftAccount(`caller\0${url}`, new TokenAuth(state), this.http);
  }

  /** Account, container and object of a location, refusing endpoints the configuration does not name. */
  private resolve(url: string, ctx: StoreRequestContext | undefined): { account: SwiftAccount; loc: SwiftLocation } {
    const loc = parseSwiftLocation(url);
    if (loc.reference !== undefined) return { account: this.account(loc.reference), loc };
    if (loc.credentials) {
      const { user, key, authAddress } = loc.credentials;
      const known = [...this.opts.references.values()].find((r) => sameAuthAddress(r.authAddress, authAddress));
      if (!known) throw new StoreError('bad_uri', `Swift location uses an auth address that no configured swift account reference has`);
      const fingerprint = createHash('sha256').update(`${authAddress}\0${user}\0${key}`).digest('hex');
      return { account: this.passwordAccount(`url\0${fingerprint}`, { ...known, authAddress, user, key }), loc };
    }
    // a storage URL without credentials: the multi-tenant form, read with the caller's token
    if (!this.opts.multiTenant) throw new StoreError('bad_uri', 'Location is missing user:password information.');
    const storageUrl = loc.storageUrl!;
    const allowed = [this.opts.endpoint, ...catalogUrls(ctx?.catalog, this.opts.serviceType)].filter((u): u is string => !!u);
    if (!allowed.some((u) => sameOrigin(u, storageUrl))) {
      throw new StoreError('bad_uri', `Swift location ${redact(url)} is not on an object-store endpoint of the caller's catalog`);
    }
    return { account: this.callerAccount(ctx, storageUrl), loc };
  }

  // --- write ---------------------------------------------------------------------------------

  async createWriter(imageId: string, opts: WriteOptions = {}): Promise<StoreWriter> {
    opts.signal?.throwIfAborted();
    if (opts.sizeHint !== undefined && (!Number.isSafeInteger(opts.sizeHint) || opts.sizeHint < 0)) {
      throw new StoreError('invalid', `Invalid image size ${opts.sizeHint}`);
    }
    const container = containerFor(this.opts, imageId);
    let account: SwiftAccount;
    let url: string;
    if (this.opts.multiTenant) {
      account = this.callerAccount(opts.context);
      url = storageLocation((await account.auth.get(opts.signal)).storageUrl, container, imageId);
    } else {
      account = this.account(this.opts.defaultReference);
      url = configLocation(this.opts.defaultReference, container, imageId);
    }
    const head = await account.request('HEAD', container, imageId, { signal: opts.signal });
    if (head.status >= 200 && head.status < 300) throw new StoreError('duplicate', `Swift already has an image at ${redact(url)}`);
    if (head.status !== 404) throw statusError(head, `HEAD ${container}/${imageId}`);
    await this.ensureContainer(account, container, opts.signal);
    return new SwiftWriter(this, account, container, imageId, url, opts);
  }

  async ensureContainer(account: SwiftAccount, container: string, signal?: AbortSignal, force = false): Promise<void> {
    const key = `${account.key}\0${container}`;
    if (!force && this.containers.has(key)) return;
    if (this.opts.multiTenant) {
      // a new container per image, in the caller's account; admin tenants may write to it
      const headers: Record<string, string> = {};
      if (this.opts.adminTenants.length) headers['X-Container-Write'] = this.opts.adminTenants.map((t) => `${t}:*`).join(',');
      const r = await account.request('PUT', container, undefined, { headers, signal });
      if (r.status !== 201 && r.status !== 202) throw statusError(r, `PUT container ${container}`);
    } else {
      const r = await account.request('HEAD', container, undefined, { signal });
      if (r.status === 404) {
        if (!this.opts.createContainerOnPut) {
          throw new StoreError(
            'unavailable',
            `The container ${container} does not exist in Swift. Please set the swift_store_create_container_on_put option to add container to Swift automatically.`,
          );
        }
        const p = await account.request('PUT', container, undefined, { signal });
        if (p.status !== 201 && p.status !== 202) throw statusError(p, `Failed to add container ${container} to Swift`);
      } else if (r.status < 200 || r.status > 299) {
        throw statusError(r, `HEAD container ${container}`);
      }
    }
    this.containers.add(key);
  }

  forgetContainer(account: SwiftAccount, container: string): void {
    this.containers.delete(`${account.key}\0${container}`);
  }

  // --- read ----------------------------------------------------------------------------------

  async open(url: string, opts: ReadOptions = {}): Promise<OpenedData> {
    const { account, loc } = this.resolve(url, opts.context);
    const offset = opts.offset ?? 0;
    if (offset < 0 || (opts.length !== undefined && opts.length < 0)) throw new StoreError('invalid', 'Invalid range');
    if (opts.length === 0) {
      const { size } = await this.stat(url, opts);
      if (offset > size) throw new StoreError('invalid', `Range starts at ${offset}, beyond the ${size} bytes of the image`);
      return { stream: Readable.from([]), size };
    }
    const wantEnd = opts.length !== undefined ? offset + opts.length - 1 : undefined;
    const ranged = offset > 0 || wantEnd !== undefined;
    const first = await account.get(loc.container, loc.object, ranged ? `bytes=${offset}-${wantEnd ?? ''}` : undefined, opts.signal);
    if (first.statusCode === 416) {
      first.resume();
      const { size } = await this.stat(url, opts);
      if (offset === size) return { stream: Readable.from([]), size };
      throw new StoreError('invalid', `Range ${offset}+${opts.length ?? ''} is not within the ${size} bytes of the image`);
    }
    if (first.statusCode !== 200 && first.statusCode !== 206) throw statusError(await drain(first), `GET ${loc.container}/${loc.object}`);
    const span = responseSpan(first, offset);
    const end = wantEnd === undefined ? span.size - 1 : Math.min(wantEnd, span.size - 1);
    const reopen = async (from: number): Promise<IncomingMessage> => {
      const r = await account.get(loc.container, loc.object, `bytes=${from}-${end}`, opts.signal);
      if (r.statusCode !== 206) throw statusError(await drain(r), `GET ${loc.container}/${loc.object} from byte ${from}`);
      return r;
    };
    const body = readWithRetries(first, span.start, offset, end, this.opts.retryGetCount, reopen, opts.signal, this.log, `${loc.container}/${loc.object}`);
    const stream = Readable.from(body, { objectMode: false, highWaterMark: READ_HIGH_WATER_MARK });
    stream.once('close', () => first.destroy()); // also when destroyed before the first read
    return { stream, size: span.size };
  }

  async stat(url: string, opts: CallOptions = {}): Promise<{ size: number }> {
    const { account, loc } = this.resolve(url, opts.context);
    const r = await account.request('HEAD', loc.container, loc.object, { signal: opts.signal });
    if (r.status < 200 || r.status > 299) throw statusError(r, `HEAD ${loc.container}/${loc.object}`);
    return { size: Number(r.headers['content-length'] ?? 0) };
  }

  // --- delete --------------------------------------------------------------------------------

  /**
   * SLO: the manifest and its segments at once (`multipart-manifest=delete`); DLO (Glance's
   * own uploads): the segments of the manifest's prefix, then the manifest. Then whatever is
   * left under `<object>/` (an interrupted upload of the same image), and in multi-tenant
   * mode the image's container.
   */
  async delete(url: string, opts: CallOptions = {}): Promise<void> {
    const { account, loc } = this.resolve(url, opts.context);
    const { container, object } = loc;
    const signal = opts.signal;
    const head = await account.request('HEAD', container, object, { signal, query: 'multipart-manifest=get' });
    const found = head.status >= 200 && head.status < 300;
    if (!found && head.status !== 404) throw statusError(head, `HEAD ${container}/${object}`);
    if (found) {
      if (String(head.headers['x-static-large-object']).toLowerCase() === 'true') {
        const r = await account.request('DELETE', container, object, { signal, query: 'multipart-manifest=delete', headers: { Accept: 'application/json' } });
        if (r.status !== 200 && r.status !== 204 && r.status !== 404) throw statusError(r, `DELETE ${container}/${object}`);
        const errors = bulkErrors(r);
        if (errors) throw new StoreError('unavailable', `Swift could not delete every segment of ${container}/${object}: ${errors}`);
      } else {
        const dlo = headerValue(head.headers['x-object-manifest']);
        if (dlo) {
          const slash = dlo.indexOf('/');
          const segContainer = decodeURIComponent(dlo.slice(0, slash));
          const prefix = decodeURIComponent(dlo.slice(slash + 1));
          for (const name of await account.list(segContainer, prefix, signal)) await deleteObject(account, segContainer, name, signal);
        }
        const r = await account.request('DELETE', container, object, { signal });
        if (r.status !== 204 && r.status !== 200 && r.status !== 404) throw statusError(r, `DELETE ${container}/${object}`);
      }
    }
    for (const name of await account.list(container, `${object}/`, signal).catch(() => [])) {
      await deleteObject(account, container, name, signal).catch(() => undefined);
    }
    if (this.opts.multiTenant && container === containerFor(this.opts, object)) {
      const r = await account.request('DELETE', container, undefined, { signal });
      if (r.status === 409) this.log.warn(`swift: container ${container} is not empty after deleting its image; kept`);
      this.forgetContainer(account, container);
    }
    if (!found) throw new StoreError('not_found', `Swift could not find image at ${redact(url)}`);
  }

  /**
   * Deletes the segments of uploads whose writer died (a crashed process or lost node never
   * runs its cleanup): `<image>/<upload>/...` objects whose newest one is older than an hour
   * and that no manifest uses. Single tenant only: multi-tenant data is in the users' accounts.
   * An image whose object exists and that has exactly one upload keeps it without further
   * checks (normally that upload is the image); with several, the manifest tells which is used.
   */
  async sweep(opts: { olderThanMs?: number; signal?: AbortSignal } = {}): Promise<{ deleted: number }> {
    if (this.opts.multiTenant) return { deleted: 0 };
    const account = this.account(this.opts.defaultReference);
    const before = this.now() - (opts.olderThanMs ?? STALE_UPLOAD_MS);
    const containers: string[] = [];
    if (this.opts.multipleContainersSeed === 0) containers.push(this.opts.container);
    else for await (const page of account.pages(undefined, `${this.opts.container}_`, opts.signal)) containers.push(...page.map((c) => c.name));
    let deleted = 0;
    for (const container of containers) deleted += await this.sweepContainer(account, container, before, opts.signal);
    return { deleted };
  }

  private async sweepContainer(account: SwiftAccount, container: string, before: number, signal?: AbortSignal): Promise<number> {
    // the listing is sorted: an image's object comes right before its `<image>/...` segments
    let image: { name: string; exists: boolean; uploads: Map<string, { names: string[]; newest: number }> } | undefined;
    let deleted = 0;
    const settle = async () => {
      if (!image || image.uploads.size === 0) return;
      let keep = new Set<string>();
      if (image.exists && image.uploads.size === 1) return;
      if (image.exists) keep = await this.uploadsInUse(account, container, image.name, signal);
      for (const [upload, u] of image.uploads) {
        if (keep.has(upload) || u.newest >= before) continue;
        for (const name of u.names) await deleteObject(account, container, name, signal);
        deleted += u.names.length;
      }
    };
    for await (const page of account.pages(container, '', signal)) {
      for (const o of page) {
        const m = SEGMENT_NAME.exec(o.name);
        const owner = m ? m[1]! : o.name;
        if (image?.name !== owner) {
          await settle();
          image = { name: owner, exists: false, uploads: new Map() };
        }
        if (!m) {
          image.exists = true;
          continue;
        }
        const u = image.uploads.get(m[2]!) ?? { names: [], newest: 0 };
        u.names.push(o.name);
        u.newest = Math.max(u.newest, o.last_modified ? Date.parse(`${o.last_modified}Z`) : Date.now());
        image.uploads.set(m[2]!, u);
      }
    }
    await settle();
    return deleted;
  }

  /** Upload ids an image's SLO manifest points into (none for a plain object). */
  private async uploadsInUse(account: SwiftAccount, container: string, object: string, signal?: AbortSignal): Promise<Set<string>> {
    const head = await account.request('HEAD', container, object, { query: 'multipart-manifest=get', signal });
    if (String(head.headers['x-static-large-object']).toLowerCase() !== 'true') return new Set();
    const r = await account.request('GET', container, object, { query: 'multipart-manifest=get&format=raw', signal });
    if (r.status !== 200) throw statusError(r, `GET manifest ${container}/${object}`);
    const used = new Set<string>();
    for (const e of JSON.parse(r.body.toString('utf8')) as { path?: string; name?: string }[]) {
      const m = SEGMENT_NAME.exec((e.path ?? e.name ?? '').replace(/^\/[^/]+\//, ''));
      if (m) used.add(m[2]!);
    }
    return used;
  }

  /** Who may read and write a multi-tenant image's container (Glance's set_acls). */
  async setAcls(url: string, acls: SwiftAcls, opts: CallOptions = {}): Promise<void> {
    const { account, loc } = this.resolve(url, opts.context);
    const write = [...(acls.writeTenants ?? []), ...this.opts.adminTenants];
    const headers = {
      'X-Container-Read': acls.public ? '*:*' : (acls.readTenants ?? []).map((t) => `${t}:*`).join(','),
      'X-Container-Write': write.map((t) => `${t}:*`).join(','),
    };
    const r = await account.request('POST', loc.container, undefined, { headers, signal: opts.signal });
    if (r.status < 200 || r.status > 299) throw statusError(r, `POST container ${loc.container}`);
  }
}

/** One Swift account: its auth, and requests that renew the token once when Swift refuses it. */
export class SwiftAccount {
  constructor(
    readonly key: string,
    readonly auth: AccountAuth,
    private readonly http: SwiftHttp,
  ) {}

  url(state: AuthState, container?: string, object?: string, query?: string): string {
    let u = state.storageUrl.replace(/\/+$/, '');
    if (container !== undefined) u += `/${encodeURIComponent(container)}`;
    if (object !== undefined) u += `/${object.split('/').map(encodeURIComponent).join('/')}`;
    return query ? `${u}?${query}` : u;
  }

  /**
   * Runs `fn` with the current token, and once more with a renewed one when Swift answers 401.
   * `fn` returns the HTTP status next to its result.
   */
  private async withToken<T>(signal: AbortSignal | undefined, fn: (s: AuthState) => Promise<[number, T]>): Promise<T> {
    const state = await this.auth.get(signal);
    const [status, value] = await fn(state);
    if (status !== 401) return value;
    return (await fn(await this.auth.renew(state.token, signal)))[1];
  }

  async request(
    method: string,
    container: string | undefined,
    object: string | undefined,
    opts: { headers?: Record<string, string>; body?: Buffer | string; query?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<HttpResult> {
    return this.withToken(opts.signal, async (s) => {
      const send = () =>
        this.http.send(method, this.url(s, container, object, opts.query), {
          headers: { ...opts.headers, 'X-Auth-Token': s.token },
          body: opts.body,
          signal: opts.signal,
        });
      try {
        const r = await send().catch(async (e: unknown) => {
          // a kept-alive connection the server had just closed: once more, on a new one
          if (method === 'POST' || !(e instanceof NetworkError) || (e.code !== 'ECONNRESET' && e.code !== 'EPIPE')) throw e;
          return send();
        });
        return [r.status, r];
      } catch (e) {
        throw mapError(e);
      }
    });
  }

  async get(container: string, object: string, range: string | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return this.withToken(signal, async (s) => {
      try {
        const res = await this.http.open('GET', this.url(s, container, object), {
          headers: { 'X-Auth-Token': s.token, ...(range ? { Range: range } : {}) },
          signal,
        });
        if (res.statusCode === 401) res.resume();
        return [res.statusCode ?? 0, res];
      } catch (e) {
        throw mapError(e);
      }
    });
  }

  /** A streamed PUT, once Swift said `100 Continue`; a refusal becomes a StoreError. */
  async startPut(container: string, object: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Upload> {
    const started = await this.withToken(signal, async (s) => {
      try {
        const r = await this.http.startUpload(this.url(s, container, object), { headers: { ...headers, 'X-Auth-Token': s.token }, signal });
        return ['upload' in r ? 100 : r.refused.status, r];
      } catch (e) {
        throw mapError(e);
      }
    });
    if ('refused' in started) throw statusError(started.refused, `PUT ${container}/${object}`);
    return started.upload;
  }

  /** Object names under a prefix (every page). */
  async list(container: string, prefix: string, signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    for await (const page of this.pages(container, prefix, signal)) names.push(...page.map((o) => o.name));
    return names;
  }

  /** A container's listing (or the account's, without container), a page at a time. */
  async *pages(container: string | undefined, prefix: string, signal?: AbortSignal): AsyncGenerator<ListedObject[]> {
    let marker = '';
    for (;;) {
      const query = `format=json&prefix=${encodeURIComponent(prefix)}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`;
      const r = await this.request('GET', container, undefined, { query, signal });
      if (r.status === 404 || r.status === 204) return;
      if (r.status !== 200) throw statusError(r, `GET ${container === undefined ? 'account' : `container ${container}`}`);
      const page = JSON.parse(r.body.toString('utf8')) as ListedObject[];
      if (page.length === 0) return;
      yield page;
      marker = page[page.length - 1]!.name;
    }
  }
}

export interface ListedObject {
  name: string;
  bytes?: number;
  hash?: string;
  /** UTC, without a zone: 2024-01-31T12:00:00.123456 */
  last_modified?: string;
}

interface Segment {
  name: string;
  etag: string;
  size: number;
}

/** What a writer may have left in Swift: removed on abort and failure. */
interface Leftover {
  name: string;
  /** Delete only when its ETag is this (an object whose PUT had an unknown outcome may be someone else's). */
  ifEtag?: string | undefined;
  /** A manifest: delete with its segments. */
  manifest?: boolean;
}

/** The PUT being sent: one segment, or the whole object. */
interface PutInFlight {
  name: string;
  upload: Upload;
  md5: ReturnType<typeof createHash>;
  bytes: number;
  /** Content-Length, when known (else the PUT is chunked). */
  length: number | undefined;
  /** Its last byte, held back until finishPut() when the length is known. */
  held?: Buffer;
}

class SwiftWriter implements StoreWriter {
  private readonly uploadId = `${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
  private readonly segmented: boolean;
  private readonly segments: Segment[] = [];
  /** Names to delete should the upload not complete. */
  private readonly leftovers: Leftover[] = [];
  private current: PutInFlight | undefined;
  /** The answer to a PUT whose whole body is sent: abort() waits for it, or its object could appear after the cleanup. */
  private finishing: Promise<unknown> | undefined;
  private buffer: { fh: FileHandle; path: string; bytes: number; md5: ReturnType<typeof createHash> } | undefined;
  private written = 0;
  private state: 'open' | 'committing' | 'done' = 'open';
  private failure: Error | undefined;
  private readonly onAbort: (() => void) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly sizeHint: number | undefined;

  constructor(
    private readonly store: SwiftStore,
    private readonly account: SwiftAccount,
    private readonly container: string,
    private readonly object: string,
    private readonly url: string,
    opts: WriteOptions,
  ) {
    this.sizeHint = opts.sizeHint;
    this.signal = opts.signal;
    this.segmented = this.sizeHint === undefined || this.sizeHint >= store.opts.largeObjectSize;
    if (opts.signal) {
      const signal = opts.signal;
      this.onAbort = () => {
        if (this.state === 'done') return;
        this.failure ??= signal.reason instanceof Error ? signal.reason : new DOMException('The write was aborted', 'AbortError');
        void this.abort();
      };
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private get chunkSize(): number {
    return this.store.opts.largeObjectChunkSize;
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error('writer already finished');
  }

  async write(chunk: Buffer): Promise<void> {
    this.usable();
    if (chunk.length === 0) return;
    if (this.sizeHint !== undefined && this.written + chunk.length > this.sizeHint) {
      throw await this.fail(new StoreError('invalid', `More image data than the declared ${this.sizeHint} bytes`));
    }
    try {
      if (!this.segmented) {
        this.current ??= await this.startObject(this.object, this.sizeHint);
        await this.send(chunk);
      } else if (this.store.opts.uploadBufferDir) {
        await this.writeBuffered(chunk);
      } else {
        let rest = chunk;
        while (rest.length > 0) {
          this.current ??= await this.startObject(this.segmentName(), this.segmentLength());
          const part = rest.subarray(0, this.chunkSize - this.current.bytes);
          await this.send(part);
          rest = rest.subarray(part.length);
          if (this.current.bytes === this.chunkSize) await this.finishSegment();
        }
      }
    } catch (e) {
      throw await this.fail(e);
    }
  }

  private segmentName(): string {
    return `${this.object}/${this.uploadId}/${String(this.segments.length + 1).padStart(8, '0')}`;
  }

  /** Bytes of the next segment when the total is known (Content-Length), else undefined (chunked). */
  private segmentLength(): number | undefined {
    if (this.sizeHint === undefined) return undefined;
    return Math.min(this.chunkSize, this.sizeHint - this.written);
  }

  private async startObject(name: string, length: number | undefined) {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (length !== undefined) headers['Content-Length'] = String(length);
    const isObject = name === this.object;
    // the image's own name is someone else's if it exists: never ours to delete unless our PUT made it
    if (isObject) headers['If-None-Match'] = '*';
    else this.leftovers.push({ name });
    const upload = await this.account.startPut(this.container, name, headers, this.signal);
    if (this.state === 'done') {
      // aborted while the PUT was starting: abort() did not see it
      upload.destroy();
      if (!isObject) await this.store.janitor.run([{ account: this.account, container: this.container, name }]);
      throw this.failure ?? new Error('writer already finished');
    }
    return { name, upload, md5: createHash('md5'), bytes: 0, length };
  }

  private async send(part: Buffer): Promise<void> {
    const c = this.current!;
    c.md5.update(part);
    c.bytes += part.length;
    this.written += part.length;
    if (c.length !== undefined && c.bytes === c.length) {
      // The last byte waits for finishPut(): given its whole body, Swift stores the object even
      // if we abort, maybe after our cleanup ran (and the image's own name is not ours to delete).
      c.held = Buffer.from(part.subarray(part.length - 1));
      part = part.subarray(0, part.length - 1);
    }
    if (part.length === 0) return;
    await c.upload.write(part).catch((e: unknown) => {
      throw mapError(e);
    });
  }

  /** Ends the current PUT and checks Swift stored what we sent. */
  private async finishPut(): Promise<Segment> {
    const c = this.current!;
    this.current = undefined;
    if (c.length !== undefined && c.bytes !== c.length) {
      c.upload.destroy();
      throw new StoreError('invalid', `Image data ended after ${this.written} bytes, ${this.sizeHint} were declared`);
    }
    const etag = c.md5.digest('hex');
    // the whole body is sent: if the answer gets lost, the object may exist, and is ours if its ETag is ours
    const mine: Leftover | undefined = c.name === this.object ? { name: c.name, ifEtag: etag } : undefined;
    if (mine) this.leftovers.push(mine);
    const answer = (async () => {
      if (c.held) await c.upload.write(c.held);
      return c.upload.finish();
    })();
    this.finishing = answer.catch(() => undefined);
    const r = await answer.catch((e: unknown) => {
      throw mapError(e);
    });
    if (r.status !== 201) {
      if (mine) this.forget(mine); // refused (412: someone else's image is there): nothing of ours
      throw statusError(r, `PUT ${c.name}`);
    }
    const stored = unquote(headerValue(r.headers.etag));
    if (stored !== etag) {
      if (mine) mine.ifEtag = stored;
      throw new StoreError('unavailable', `Swift stored ${c.name} with ETag ${stored}, expected ${etag}: data corrupted on the way`);
    }
    return { name: c.name, etag, size: c.bytes };
  }

  private forget(l: Leftover): void {
    const i = this.leftovers.indexOf(l);
    if (i >= 0) this.leftovers.splice(i, 1);
  }

  private async finishSegment(): Promise<void> {
    this.segments.push(await this.finishPut());
  }

  // swift_buffer_on_upload: each segment goes to a file first, so its PUT can be sent again
  private async writeBuffered(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      if (!this.buffer) {
        const path = join(this.store.opts.uploadBufferDir!, `.imago-swift-${this.uploadId}`);
        this.buffer = { fh: await open(path, 'w+', 0o600), path, bytes: 0, md5: createHash('md5') };
      }
      const b = this.buffer;
      const part = rest.subarray(0, this.chunkSize - b.bytes);
      let off = 0;
      while (off < part.length) off += (await b.fh.write(part, off, part.length - off, b.bytes + off)).bytesWritten;
      b.md5.update(part);
      b.bytes += part.length;
      this.written += part.length;
      rest = rest.subarray(part.length);
      if (b.bytes === this.chunkSize) await this.flushBuffer();
    }
  }

  private async flushBuffer(): Promise<void> {
    const b = this.buffer;
    if (!b || b.bytes === 0) return;
    const name = this.segmentName();
    const etag = b.md5.digest('hex');
    this.leftovers.push({ name });
    for (let attempt = 1; ; attempt++) {
      try {
        const put = (async () => {
          const upload = await this.account.startPut(this.container, name, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(b.bytes) }, this.signal);
          for await (const piece of createReadStream('', { fd: b.fh.fd, start: 0, end: b.bytes - 1, autoClose: false, highWaterMark: 1 << 20 })) {
            await upload.write(piece as Buffer);
          }
          return upload.finish();
        })();
        this.finishing = put.catch(() => undefined);
        const r = await put.catch((e: unknown) => {
          throw mapError(e);
        });
        if (r.status !== 201) throw statusError(r, `PUT ${name}`);
        if (unquote(headerValue(r.headers.etag)) !== etag) throw new StoreError('unavailable', `Swift stored ${name} with a different ETag`);
        break;
      } catch (e) {
        const retriable = e instanceof StoreError && e.kind === 'unavailable' && !this.signal?.aborted;
        if (!retriable || attempt >= BUFFERED_SEGMENT_ATTEMPTS) throw e;
        this.store.opts.log?.warn(`swift: segment ${name} failed (${(e as Error).message}); sending it again (${attempt + 1}/${BUFFERED_SEGMENT_ATTEMPTS})`);
        await sleep(500 * attempt);
      }
    }
    this.segments.push({ name, etag, size: b.bytes });
    b.bytes = 0;
    b.md5 = createHash('md5');
    await b.fh.truncate(0);
  }

  private async dropBuffer(): Promise<void> {
    const b = this.buffer;
    this.buffer = undefined;
    if (!b) return;
    await b.fh.close().catch(() => undefined);
    await rm(b.path, { force: true });
  }

  async commit(): Promise<CommittedData> {
    this.usable();
    this.state = 'committing';
    try {
      if (this.sizeHint !== undefined && this.written !== this.sizeHint) {
        throw new StoreError('invalid', `Image data ended after ${this.written} bytes, ${this.sizeHint} were declared`);
      }
      let expected: string;
      if (!this.segmented) {
        this.current ??= await this.startObject(this.object, this.sizeHint);
        expected = (await this.finishPut()).etag;
      } else {
        if (this.buffer) await this.flushBuffer();
        if (this.current) await this.finishSegment();
        expected = this.segments.length === 0 ? await this.putEmpty() : await this.putManifest();
      }
      await this.checkWinner(expected);
    } catch (e) {
      this.state = 'open';
      throw await this.fail(e);
    }
    this.finish();
    await this.dropBuffer();
    return { url: this.url, size: this.written, metadata: { ...this.store.opts.locationMetadata } };
  }

  /** Nothing was written to a segmented upload: a plain empty object. */
  private async putEmpty(): Promise<string> {
    this.current = await this.startObject(this.object, 0);
    return (await this.finishPut()).etag;
  }

  /** The SLO manifest (with sub-manifests past MAX_MANIFEST_SEGMENTS); returns the SLO's ETag. */
  private async putManifest(): Promise<string> {
    let entries = this.segments.map((s) => ({ path: `/${this.container}/${s.name}`, etag: s.etag, size_bytes: s.size }));
    const max = this.store.opts.maxManifestSegments ?? MAX_MANIFEST_SEGMENTS;
    let level = 0;
    while (entries.length > max) {
      level++;
      const grouped: typeof entries = [];
      for (let i = 0; i < entries.length; i += max) {
        const group = entries.slice(i, i + max);
        const name = `${this.object}/${this.uploadId}/manifest-${level}-${String(grouped.length + 1).padStart(5, '0')}`;
        this.leftovers.push({ name });
        await this.sendManifest(name, group, {});
        grouped.push({ path: `/${this.container}/${name}`, etag: sloEtag(group), size_bytes: group.reduce((n, g) => n + g.size_bytes, 0) });
      }
      entries = grouped;
    }
    const etag = sloEtag(entries);
    // its outcome may stay unknown (connection lost): then delete it only if it is ours
    const mine: Leftover = { name: this.object, ifEtag: etag, manifest: true };
    this.leftovers.push(mine);
    try {
      await this.sendManifest(this.object, entries, { 'If-None-Match': '*' });
    } catch (e) {
      if (e instanceof StoreError && e.kind !== 'unavailable') this.forget(mine); // refused: nothing stored
      throw e;
    }
    return etag;
  }

  private async sendManifest(name: string, entries: { path: string; etag: string; size_bytes: number }[], headers: Record<string, string>): Promise<void> {
    const r = await this.account.request('PUT', this.container, name, {
      query: 'multipart-manifest=put',
      headers: { ...headers, 'Content-Type': 'application/octet-stream' },
      body: JSON.stringify(entries),
      signal: this.signal,
    });
    if (r.status !== 201) throw statusError(r, `PUT manifest ${name}`);
  }

  /**
   * If-None-Match cannot stop two PUTs in flight at the same moment: the later one replaces
   * the other. The one whose bytes are not there lost; it cleans up and reports a duplicate.
   */
  private async checkWinner(etag: string): Promise<void> {
    const r = await this.account.request('HEAD', this.container, this.object, { signal: this.signal });
    if (r.status === 404) return; // an eventually consistent listing; the PUT said 201
    if (r.status < 200 || r.status > 299) throw statusError(r, `HEAD ${this.object}`);
    if (unquote(headerValue(r.headers.etag)) !== etag) {
      // the object is someone else's now: only our segments are ours to delete
      for (const l of this.leftovers.filter((x) => x.name === this.object)) this.forget(l);
      throw new StoreError('duplicate', `Swift already has an image at ${redact(this.url)}`);
    }
  }

  /** Records the first failure, abandons the upload and removes what it wrote; returns the error to throw. */
  private async fail(e: unknown): Promise<Error> {
    const err = this.failure ?? mapError(e);
    this.failure = err;
    await this.abort();
    return err;
  }

  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.finish();
    // a PUT missing its last byte is dropped by Swift; one with its whole body is waited for
    this.current?.upload.destroy();
    this.current = undefined;
    await this.finishing;
    await this.dropBuffer();
    // the object name itself (one PUT, or the manifest) is deleted only when it may be ours
    const tasks = this.leftovers.map((l) => ({ account: this.account, container: this.container, ...l }));
    this.leftovers.length = 0;
    await this.store.janitor.run(tasks);
  }

  private finish(): void {
    this.state = 'done';
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

interface CleanupTask extends Leftover {
  account: SwiftAccount;
  container: string;
}

/**
 * Deletes what failed uploads left. A deletion that fails because Swift cannot be reached
 * is tried again in the background (1 s, 2 s, ... 30 s apart) until Swift answers.
 */
export class Janitor {
  private queue: { task: CleanupTask; since: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private delay = CLEANUP_FIRST_DELAY_MS;
  private closed = false;

  constructor(private readonly log: { warn(msg: string): void }) {}

  /** Tries every task once; returns when each is done or queued for later. */
  async run(tasks: CleanupTask[]): Promise<void> {
    const failed = await this.attempt(tasks);
    if (failed.length === 0) return;
    this.log.warn(`swift: ${failed.length} object(s) of a failed upload could not be deleted yet; retrying in the background`);
    const now = Date.now();
    this.queue.push(...failed.map((task) => ({ task, since: now })));
    this.schedule();
  }

  /** Objects waiting for deletion (for tests and logs). */
  get pending(): number {
    return this.queue.length;
  }

  private async attempt(tasks: CleanupTask[]): Promise<CleanupTask[]> {
    const failed: CleanupTask[] = [];
    // segments first, the manifest last: a manifest never points at nothing for long
    const ordered = [...tasks.filter((t) => !t.manifest), ...tasks.filter((t) => t.manifest)];
    for (let i = 0; i < ordered.length; i += 8) {
      const batch = ordered.slice(i, i + 8);
      const results = await Promise.allSettled(batch.map((t) => this.remove(t)));
      results.forEach((r, j) => {
        if (r.status === 'fulfilled') return;
        const e = r.reason as unknown;
        if (e instanceof StoreError && e.kind === 'unavailable') failed.push(batch[j]!);
        else this.log.warn(`swift: could not delete ${batch[j]!.container}/${batch[j]!.name}: ${(e as Error).message}`);
      });
    }
    return failed;
  }

  private async remove(t: CleanupTask): Promise<void> {
    if (t.ifEtag !== undefined) {
      const h = await t.account.request('HEAD', t.container, t.name);
      if (h.status === 404) return;
      if (h.status < 200 || h.status > 299) throw statusError(h, `HEAD ${t.name}`);
      if (unquote(headerValue(h.headers.etag)) !== t.ifEtag) return; // not ours
    }
    await deleteObject(t.account, t.container, t.name, undefined, t.manifest ? 'multipart-manifest=delete' : undefined);
  }

  private schedule(): void {
    if (this.closed || this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.retry();
    }, this.delay);
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    const due = this.queue;
    this.queue = [];
    const failed = new Set(await this.attempt(due.map((d) => d.task)));
    const now = Date.now();
    for (const d of due) {
      if (!failed.has(d.task)) continue;
      if (now - d.since > CLEANUP_GIVE_UP_MS) {
        this.log.warn(`swift: gave up deleting ${d.task.container}/${d.task.name} of a failed upload`);
        continue;
      }
      this.queue.push(d);
    }
    this.delay = failed.size ? Math.min(this.delay * 2, CLEANUP_MAX_DELAY_MS) : CLEANUP_FIRST_DELAY_MS;
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length) this.log.warn(`swift: ${this.queue.length} object(s) of failed uploads left undeleted at shutdown`);
  }
}

async function deleteObject(account: SwiftAccount, container: string, name: string, signal?: AbortSignal, query?: string): Promise<void> {
  const r = await account.request('DELETE', container, name, { signal, ...(query ? { query } : {}) });
  if (r.status !== 204 && r.status !== 200 && r.status !== 404) throw statusError(r, `DELETE ${container}/${name}`);
}

/**
 * The body of a GET, resumed with `Range: bytes=<reached>-<end>` up to `retries` times when the
 * connection breaks. Ends with an error unless every byte up to `end` came.
 */
async function* readWithRetries(
  first: IncomingMessage,
  firstStart: number,
  offset: number,
  end: number,
  retries: number,
  reopen: (from: number) => Promise<IncomingMessage>,
  signal: AbortSignal | undefined,
  log: { warn(msg: string): void },
  what: string,
): AsyncGenerator<Buffer> {
  let res = first;
  let pos = firstStart; // offset in the object of the next byte the response will give
  let left = retries;
  try {
    for (;;) {
      try {
        for await (const c of res) {
          let chunk = c as Buffer;
          if (pos < offset) {
            // a server that ignored Range: drop what comes before the offset
            const skip = Math.min(chunk.length, offset - pos);
            pos += skip;
            chunk = chunk.subarray(skip);
          }
          if (pos + chunk.length > end + 1) chunk = chunk.subarray(0, Math.max(0, end + 1 - pos));
          if (chunk.length === 0) continue;
          pos += chunk.length;
          yield chunk;
          if (pos > end) break;
        }
        if (pos > end) return;
        throw new NetworkError(`connection closed after byte ${pos} of ${end + 1}`, 'ECONNRESET');
      } catch (e) {
        res.destroy();
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : e;
        if (e instanceof StoreError) throw e;
        if (left <= 0) {
          throw new StoreError('unavailable', `Download of ${what} broke off at byte ${pos} of ${end + 1}: ${(e as Error).message}`, { cause: e });
        }
        left--;
        log.warn(`swift: download of ${what} broke off at byte ${pos}; resuming (${retries - left}/${retries})`);
        res = await reopen(pos);
      }
    }
  } finally {
    res.destroy();
  }
}

/** Where a GET's body starts and the object's total size, from Content-Range or Content-Length. */
function responseSpan(res: IncomingMessage, offset: number): { start: number; size: number } {
  if (res.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headerValue(res.headers['content-range']) ?? '');
    if (!m) throw new StoreError('unavailable', `Swift answered 206 without a usable Content-Range`);
    if (Number(m[1]) !== offset) throw new StoreError('unavailable', `Swift sent bytes from ${m[1]}, ${offset} were asked`);
    return { start: Number(m[1]), size: Number(m[3]) };
  }
  return { start: 0, size: Number(res.headers['content-length'] ?? 0) };
}

async function drain(res: IncomingMessage): Promise<HttpResult> {
  const parts: Buffer[] = [];
  for await (const c of res) if (parts.length < 16) parts.push(c as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) };
}

/** The ETag Swift gives an SLO: md5 of its segments' ETags. */
function sloEtag(entries: { etag: string }[]): string {
  return createHash('md5')
    .update(entries.map((e) => e.etag).join(''))
    .digest('hex');
}

/** A bulk delete answer (multipart-manifest=delete with Accept: application/json) lists failures. */
function bulkErrors(r: HttpResult): string | undefined {
  if (r.status !== 200 || !r.body.length) return undefined;
  try {
    const b = JSON.parse(r.body.toString('utf8')) as { Errors?: [string, string][]; 'Response Status'?: string };
    if (b.Errors && b.Errors.length) return b.Errors.map(([n, s]) => `${n}: ${s}`).join('; ');
    const status = b['Response Status'] ?? '';
    // a segment already gone (404) is fine; anything else is not
    if (status && !/^2\d\d/.test(status) && !/^404/.test(status)) return status;
  } catch {
    return undefined;
  }
  return undefined;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function unquote(v: string | undefined): string | undefined {
  return v?.replace(/^"(.*)"$/, '$1');
}

function redact(url: string): string {
  return url.replace(/\/\/[^/]*@/, '//***@');
}

/** Swift's answer as a StoreError kind. */
export function statusError(r: HttpResult, what: string): StoreError {
  const detail = r.body.length ? `: ${r.body.subarray(0, 200).toString('utf8').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()}` : '';
  const msg = `${what}: Swift answered ${r.status}${detail}`;
  const s = r.status;
  if (s === 404) return new StoreError('not_found', msg);
  if (s === 401 || s === 403) return new StoreError('write_denied', msg);
  // 412: only the last PUT of an upload has a precondition (If-None-Match: *)
  if (s === 409 || s === 412) return new StoreError('duplicate', msg);
  if (s === 413 || s === 507) return new StoreError('storage_full', msg);
  if (s === 416 || s === 400 || s === 411 || s === 422) return new StoreError('invalid', msg);
  return new StoreError('unavailable', msg);
}

/** Below-HTTP failures and early answers as StoreErrors; aborts pass through. */
export function mapError(e: unknown): Error {
  if (e instanceof StoreError) return e;
  if (e instanceof EarlyAnswer) return statusError(e.result, 'PUT');
  const err = e as Error;
  if (err?.name === 'AbortError') return err;
  if (e instanceof NetworkError) return new StoreError('unavailable', `Swift is unreachable: ${e.message}`, { cause: e });
  return new StoreError('unavailable', `Swift request failed: ${err?.message ?? String(e)}`, { cause: e });
}
