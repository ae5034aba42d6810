// Glance's read-only `http` store: an image location is an http(s) URL on
// someone else's server. Every request goes through the URL policy
// ([import_filtering_opts], as Glance applies to http locations since bug
// 2161330) and safeFetch (pinned DNS, each redirect re-checked, at most 5).
//
// Differences from glance_store, on purpose:
// - Range reads: open() sends `Range: bytes=a-b` and checks the 206's
//   Content-Range. A server that ignores Range (answers 200) is handled by
//   skipping `offset` bytes of the full body, up to rangeSkipLimit (64 MiB by
//   default); past that open() fails with 'unsupported' rather than pull
//   gigabytes to throw them away.
// - Redirects 303/307/308 are followed too (Glance: 301/302 only).
// - 502/503/504 are 'unavailable' (another location may work), not 'bad_uri'.
// - stat() falls back to a one-byte ranged GET when HEAD is refused (signed
//   URLs often allow GET only) or has no Content-Length.
// - Size 0 means unknown, as in Glance.
// Credentials in a location (http://user:pass@host/...) are sent as Basic
// auth and never appear in messages.

import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { OptionReader } from '../config/options.js';
import { ConfigError } from '../config/options.js';
import { FetchError, safeFetch, type FetchTimeouts, type SafeFetchOptions, type SafeResponse } from '../net/safeFetch.js';
import { redactUrl, UrlPolicyError, type UrlPolicy } from '../net/urlPolicy.js';
import { StoreError, type OpenedData, type ReadOptions, type Store, type StoreWriter } from './store.js';

export interface HttpStoreOptions {
  id: string;
  description?: string | undefined;
  weight?: number;
  policy: UrlPolicy;
  /** https_ca_certificates_file: when set, certificates are verified against it whatever https_insecure says. */
  caFile?: string | undefined;
  /** https_insecure (Glance default true): do not verify certificates. */
  insecure: boolean;
  /** http_proxy_information: proxy URL by scheme. */
  proxies: Record<string, string>;
  timeouts?: FetchTimeouts;
  /** Most bytes to read and drop to honour an offset when the server ignores Range (default 64 MiB). */
  rangeSkipLimit?: number;
  log?: { warn(msg: string): void };
}

export function httpStoreOptionsFrom(id: string, opts: OptionReader, policy: UrlPolicy): HttpStoreOptions {
  const proxies: Record<string, string> = {};
  for (const [scheme, proxy] of Object.entries(opts.dict('http_proxy_information'))) {
    const uri = proxy.includes('://') ? proxy : `http://${proxy}`;
    try {
      new URL(uri);
    } catch {
      throw new ConfigError(`[${opts.section}] http_proxy_information: "${proxy}" is not a proxy address`);
    }
    proxies[scheme.toLowerCase()] = uri;
  }
  return {
    id,
    description: opts.str('store_description'),
    weight: opts.int('weight', 0),
    policy,
    caFile: opts.str('https_ca_certificates_file') || undefined,
    insecure: opts.bool('https_insecure', true),
    proxies,
  };
}

const DEFAULT_RANGE_SKIP_LIMIT = 64 * 1024 * 1024;

export class HttpStore implements Store {
  readonly type = 'http';
  readonly schemes = ['http', 'https'] as const;
  readonly capabilities = { write: false, delete: false, rangeRead: true };
  readonly id: string;
  readonly description: string | undefined;
  readonly weight: number;
  private readonly fetchBase: Omit<SafeFetchOptions, 'method' | 'headers' | 'signal'>;
  private readonly rangeSkipLimit: number;

  constructor(opts: HttpStoreOptions) {
    this.id = opts.id;
    this.description = opts.description;
    this.weight = opts.weight ?? 0;
    this.rangeSkipLimit = opts.rangeSkipLimit ?? DEFAULT_RANGE_SKIP_LIMIT;
    let ca: Buffer | undefined;
    if (opts.caFile) {
      try {
        ca = readFileSync(opts.caFile);
      } catch (e) {
        throw new ConfigError(`https_ca_certificates_file: cannot read ${opts.caFile}: ${(e as Error).message}`);
      }
    } else if (opts.insecure) {
      // Said once, when an https location is first read: most deployments never read one.
      this.insecureWarning = () => {
        this.insecureWarning = undefined;
        (opts.log ?? console).warn(
          `http store "${opts.id}": https_insecure is true (Glance's default), so certificates of https locations ` +
            'are not verified; set https_insecure = false or https_ca_certificates_file',
        );
      };
    }
    this.fetchBase = {
      policy: opts.policy,
      maxRedirects: 5,
      tls: { ca, rejectUnauthorized: ca !== undefined || !opts.insecure },
      proxies: opts.proxies,
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
    };
  }

  detail(): Record<string, unknown> {
    return {};
  }

  async createWriter(): Promise<StoreWriter> {
    throw new StoreError('unsupported', 'The http store is read-only: it cannot add image data');
  }

  async delete(): Promise<void> {
    throw new StoreError('unsupported', 'The http store is read-only: it cannot delete image data');
  }

  async open(url: string, opts: ReadOptions = {}): Promise<OpenedData> {
    const offset = opts.offset ?? 0;
    const length = opts.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw new StoreError('invalid', 'Invalid byte range');
    }
    if (length === 0) {
      const { size } = await this.stat(url, opts.signal ? { signal: opts.signal } : {});
      return { stream: Readable.from([]), size };
    }
    const ranged = offset > 0 || length !== undefined;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (ranged) headers.range = `bytes=${offset}-${length !== undefined ? offset + length - 1 : ''}`;
    const res = await this.fetch(url, 'GET', headers, opts.signal);

    if (res.status === 206 && ranged) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || !rangeAnswers(cr, offset, length)) {
        await res.dispose();
        throw new StoreError(
          'unavailable',
          `${redactUrl(url)} answered a range request with Content-Range "${String(res.headers['content-range'])}"`,
        );
      }
      return { stream: res.body, size: cr.total ?? 0 };
    }
    if (res.status === 200) {
      const size = contentLength(res) ?? 0;
      if (!ranged) return { stream: res.body, size };
      if (offset > this.rangeSkipLimit) {
        await res.dispose();
        throw new StoreError(
          'unsupported',
          `${redactUrl(url)} ignores Range requests; refusing to read and drop ${offset} bytes to reach the offset`,
        );
      }
      return { stream: Readable.from(byteWindow(res.body, offset, length), { objectMode: false }), size };
    }
    if (res.status === 416) {
      await res.dispose();
      throw new StoreError('invalid', `The byte range ${offset}- is beyond the end of ${redactUrl(url)}`);
    }
    throw await statusError(res, url);
  }

  async stat(url: string, opts: { signal?: AbortSignal } = {}): Promise<{ size: number }> {
    const head = await this.fetch(url, 'HEAD', { 'accept-encoding': 'identity' }, opts.signal);
    await head.dispose();
    const size = head.status < 300 ? contentLength(head) : undefined;
    if (size !== undefined) return { size };
    // Signed URLs are often valid for GET only, and some servers omit the length on HEAD.
    if (head.status < 300 || [403, 405, 501].includes(head.status)) {
      const get = await this.fetch(url, 'GET', { 'accept-encoding': 'identity', range: 'bytes=0-0' }, opts.signal);
      await get.dispose();
      if (get.status === 206) return { size: parseContentRange(get.headers['content-range'])?.total ?? 0 };
      if (get.status === 200) return { size: contentLength(get) ?? 0 };
      if (get.status === 416) return { size: 0 }; // empty object: no byte 0 to return
      throw await statusError(get, url);
    }
    throw await statusError(head, url);
  }

  private insecureWarning: (() => void) | undefined;

  private async fetch(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal | undefined): Promise<SafeResponse> {
    if (url.startsWith('https:')) this.insecureWarning?.();
    if (!/^https?:\/\//i.test(url)) throw new StoreError('bad_uri', 'The http store reads only http:// and https:// locations');
    try {
      return await safeFetch(url, { ...this.fetchBase, method, headers, signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      if (e instanceof UrlPolicyError) {
        // A name that no longer resolves is an outage, not a bad location.
        const kind = e.reason === 'resolve' ? 'unavailable' : 'bad_uri';
        throw new StoreError(kind, `The location ${redactUrl(url)} does not pass filtering: ${e.message}`, { cause: e });
      }
      if (e instanceof FetchError) {
        const kind = e.kind === 'redirect' || e.kind === 'unsupported' ? 'bad_uri' : 'unavailable';
        const what = kind === 'unavailable' ? 'Remote server where the image is present is unavailable' : 'Bad location';
        throw new StoreError(kind, `${what}: ${e.url}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }
}

/** Maps a final non-success status to Glance's errors; disposes the body. */
async function statusError(res: SafeResponse, url: string): Promise<StoreError> {
  await res.dispose();
  const where = redactUrl(url);
  if (res.status === 404 || res.status === 410) return new StoreError('not_found', `HTTP datastore could not find image at ${where}`);
  if ([502, 503, 504].includes(res.status)) {
    return new StoreError('unavailable', `${where} answered ${res.status}: remote server is unavailable`);
  }
  if (res.status >= 300 && res.status < 400) return new StoreError('bad_uri', `${where} answered ${res.status} without a redirect to follow`);
  return new StoreError('bad_uri', `${where} answered ${res.status}`);
}

function contentLength(res: SafeResponse): number | undefined {
  const v = res.headers['content-length'];
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}

interface ContentRange {
  start: number;
  end: number;
  /** undefined when the server wrote `*` (length unknown). */
  total: number | undefined;
}

export function parseContentRange(v: string | string[] | undefined): ContentRange | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/** Whether a 206's Content-Range is the range asked for (or that range cut at the object's end). */
function rangeAnswers(cr: ContentRange, offset: number, length: number | undefined): boolean {
  if (cr.start !== offset) return false;
  const lastByte = cr.total === undefined ? undefined : cr.total - 1;
  if (length === undefined) return lastByte === undefined || cr.end === lastByte;
  const wantedEnd = offset + length - 1;
  return cr.end === wantedEnd || (cr.end === lastByte && cr.end < wantedEnd);
}

/**
 * Bytes [skip, skip + length) of a stream, for servers that ignore Range.
 * Returning early ends the for-await loop, which destroys the source: the
 * rest of the body is not downloaded.
 */
async function* byteWindow(source: Readable, skip: number, length: number | undefined): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let left = length ?? Infinity;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    let c = chunk;
    if (toSkip > 0) {
      const n = Math.min(toSkip, c.length);
      toSkip -= n;
      c = c.subarray(n);
    }
    if (c.length === 0) continue;
    const part = c.length > left ? c.subarray(0, left) : c;
    left -= part.length;
    yield part;
    if (left === 0) return;
  }
  if (toSkip > 0) throw new StoreError('invalid', 'The byte range starts beyond the end of the remote object');
}
