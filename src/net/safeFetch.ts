// The one way imago fetches a URL given by a user or a location: every hop
// (the first URL and each redirect) is checked by the UrlPolicy, and the
// connection goes to exactly the addresses the policy checked (the socket's
// DNS lookup is pinned to them), so a second DNS answer cannot point it
// somewhere else. The Host header and TLS SNI/certificate name still come from
// the URL. Redirects (301/302/303/307/308) are followed by hand, at most
// maxRedirects times; credentials in the URL become Basic auth and are never
// sent to another origin.
//
// With a proxy (http_proxy_information) the proxy resolves the name itself:
// the policy still checks our own resolution, but the egress rules that
// matter then are the proxy's.

import type { LookupAddress, LookupOptions } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** undici costs ~8 MiB when loaded: most deployments fetch nothing, so it loads on first use. */
let undici: Promise<typeof import('undici')> | undefined;
export const loadUndici = () => (undici ??= import('undici'));
import { redactUrl, UrlPolicyError, type CheckedUrl, type ResolvedAddress, type UrlPolicy } from './urlPolicy.js';

export interface FetchTimeouts {
  /** TCP + TLS connect (default 10 s). */
  connectMs?: number;
  /** From request sent to response headers (default 30 s). */
  headersMs?: number;
  /** Longest pause between two body chunks (default 60 s). */
  bodyIdleMs?: number;
}

export interface FetchTls {
  /** PEM CA bundle to verify servers against (replaces the system store). */
  ca?: string | Buffer | undefined;
  /** Verify certificates (default true). */
  rejectUnauthorized?: boolean | undefined;
}

export interface SafeFetchOptions {
  policy: UrlPolicy;
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Default 5, as Glance's http store and SafeRedirectHandler. */
  maxRedirects?: number;
  timeouts?: FetchTimeouts;
  tls?: FetchTls;
  /** Proxy URL by target scheme, e.g. {https: 'http://10.0.0.1:3128'}. */
  proxies?: Readonly<Record<string, string>>;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects), credentials removed. */
  url: string;
  redirects: number;
  /** The raw body (no content decoding). Read it or call dispose(). */
  body: Readable;
  /** Drops the body and releases the connection. */
  dispose(): Promise<void>;
}

export type FetchErrorKind = 'connect' | 'timeout' | 'tls' | 'redirect' | 'unsupported';

/** The remote could not be fetched (as opposed to UrlPolicyError: the URL is not allowed). */
export class FetchError extends Error {
  constructor(
    readonly kind: FetchErrorKind,
    message: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the first origin's secrets: not forwarded to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export async function safeFetch(input: string, opts: SafeFetchOptions): Promise<SafeResponse> {
  const maxRedirects = opts.maxRedirects ?? 5;
  let method = opts.method ?? 'GET';
  const headers = lowerKeys(opts.headers ?? {});
  let current = input;
  let origin: string | undefined;
  let basicAuth: { origin: string; value: string } | undefined;
  for (let redirects = 0; ; redirects++) {
    let target: CheckedUrl;
    try {
      target = await opts.policy.check(current, { signal: opts.signal });
    } catch (e) {
      if (e instanceof UrlPolicyError && redirects > 0) {
        throw new UrlPolicyError(e.reason, `redirect to a refused URL: ${e.message}`, e.url, e.address);
      }
      throw e;
    }
    const scheme = target.url.protocol;
    if (scheme !== 'http:' && scheme !== 'https:') {
      throw new FetchError('unsupported', `cannot fetch ${scheme.slice(0, -1)} URLs`, redactUrl(target.url));
    }
    if (target.url.origin !== origin) {
      if (origin !== undefined) for (const h of CREDENTIAL_HEADERS) delete headers[h];
      origin = target.url.origin;
    }
    // user:password in a URL is Basic auth for that origin, on every hop that stays there.
    if (target.url.username || target.url.password) {
      basicAuth = { origin, value: basicAuthOf(target.url) };
    }
    const auth = basicAuth?.origin === origin ? basicAuth.value : undefined;

    const res = await send(target, method, auth ? { ...headers, authorization: auth } : headers, opts);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || typeof location !== 'string') return { ...res, redirects };
    await res.dispose();
    if (redirects >= maxRedirects) {
      throw new FetchError('redirect', `more than ${maxRedirects} redirects`, res.url);
    }
    if (res.status === 303 && method !== 'HEAD') method = 'GET';
    current = redirectTarget(location, target.url, res.url);
  }
}

/**
 * The next URL as the policy must see it: an absolute or scheme-relative
 * Location is checked as written (resolving it first would turn
 * http://2130706433/ into http://127.0.0.1/ and hide the encoding); a
 * path-relative one is resolved against the current URL.
 */
function redirectTarget(location: string, base: URL, from: string): string {
  if (/[\u0000-\u0020\u007f\\]/.test(location)) {
    throw new UrlPolicyError('invalid', 'redirect to a refused URL: the Location contains whitespace, control characters or backslashes', from);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) return location;
  if (location.startsWith('//')) return `${base.protocol}${location}`;
  try {
    return new URL(location, base).href;
  } catch {
    throw new FetchError('redirect', 'redirect to an invalid URL', from);
  }
}

async function send(
  target: CheckedUrl,
  method: 'GET' | 'HEAD',
  headers: Record<string, string>,
  opts: SafeFetchOptions,
): Promise<Omit<SafeResponse, 'redirects'>> {
  const url = new URL(target.url.href);
  url.username = '';
  url.password = '';
  const sent: Record<string, string> = { 'user-agent': 'imago', ...headers };
  const { request } = await loadUndici();
  const dispatcher = await dispatcherFor(target, opts);
  const release = () => {
    dispatcher.destroy().catch(() => undefined);
  };
  try {
    const res = await request(url, {
      method,
      headers: sent,
      dispatcher,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    res.body.once('close', release);
    return {
      status: res.statusCode,
      headers: res.headers,
      url: url.href,
      body: res.body,
      dispose: async () => {
        // Destroying an unfinished body makes undici emit "Request aborted": expected here.
        res.body.on('error', () => undefined);
        res.body.destroy();
        release();
      },
    };
  } catch (e) {
    release();
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw toFetchError(e, url.href);
  }
}

/** A single-use dispatcher whose sockets can only reach the checked addresses. */
async function dispatcherFor(target: CheckedUrl, opts: SafeFetchOptions): Promise<Dispatcher> {
  const { Agent, ProxyAgent } = await loadUndici();
  const t = opts.timeouts ?? {};
  const tls = {
    ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
    rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
  };
  const timeouts = { headersTimeout: t.headersMs ?? 30_000, bodyTimeout: t.bodyIdleMs ?? 60_000 };
  const scheme = target.url.protocol.slice(0, -1);
  const proxy = opts.proxies?.[scheme];
  if (proxy) {
    return new ProxyAgent({
      uri: proxy.includes('://') ? proxy : `http://${proxy}`,
      // Plain http goes through the proxy as an absolute-form request:
      // proxies commonly allow CONNECT to port 443 only.
      proxyTunnel: scheme === 'https',
      requestTls: tls,
      connect: { timeout: t.connectMs ?? 10_000 },
      ...timeouts,
    });
  }
  return new Agent({
    connect: { ...tls, timeout: t.connectMs ?? 10_000, lookup: pinnedLookup(target.hostname, target.addresses) },
    ...timeouts,
  });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup stand-in that answers only for the checked host, with the checked addresses. */
function pinnedLookup(hostname: string, addresses: readonly ResolvedAddress[]) {
  return (name: string, options: LookupOptions, callback: LookupCallback): void => {
    const wanted = typeof options === 'object' && options ? options : {};
    const found = addresses.filter((a) => !wanted.family || wanted.family === a.family);
    if (name.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '') !== hostname || found.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked address for "${name}"`);
      err.code = 'ENOTFOUND';
      callback(err, '', 0);
      return;
    }
    if (wanted.all) callback(null, found.map((a) => ({ address: a.address, family: a.family })));
    else callback(null, found[0]!.address, found[0]!.family);
  };
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/;

function toFetchError(e: unknown, url: string): FetchError {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code ?? '';
  const redacted = redactUrl(url);
  const detail = `${code || err?.name || 'error'}: ${err?.message ?? String(e)}`;
  if (/TIMEOUT|ETIMEDOUT/.test(code)) return new FetchError('timeout', `timed out (${detail})`, redacted, { cause: e });
  if (TLS_CODES.test(code)) return new FetchError('tls', `TLS failure (${detail})`, redacted, { cause: e });
  return new FetchError('connect', `connection failed (${detail})`, redacted, { cause: e });
}

function basicAuthOf(url: URL): string {
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
