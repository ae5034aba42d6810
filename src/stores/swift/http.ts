// The few HTTP exchanges the swift store needs, on node:http/https with
// keep-alive agents: small requests with buffered bodies, streamed GETs, and
// streamed PUTs that wait for `100 Continue`, so that a refused token (401), a
// missing container (404) or an existing object (412) is answered before any
// byte of the body is sent, and the PUT can be sent again after re-auth
// without having to replay data it no longer has.

import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string | undefined;
  signal?: AbortSignal | undefined;
}

/** Thrown for a request that failed below HTTP (refused, reset, timed out). */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A body larger than this from Swift or Keystone is not ours to hold (listings are paged at 10000 names). */
const MAX_BUFFERED_BODY = 64 * 1024 * 1024;
/** Proxies that never say `100 Continue` (or strip Expect) get the body after this long, as curl does. */
const CONTINUE_TIMEOUT_MS = 1000;

export class SwiftHttp {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly opts: { insecure: boolean; ca?: string | undefined; timeoutMs: number }) {
    this.httpAgent = new http.Agent({ keepAlive: true });
    this.httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: !opts.insecure, ...(opts.ca ? { ca: opts.ca } : {}) });
  }

  private request(method: string, url: string, headers: Record<string, string>, signal: AbortSignal | undefined): ClientRequest {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:') throw new NetworkError(`unsupported URL scheme in ${u.origin}`, 'EPROTO');
    const req = (secure ? https : http).request(u, {
      method,
      headers,
      agent: secure ? this.httpsAgent : this.httpAgent,
      timeout: this.opts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
    req.on('timeout', () => req.destroy(new NetworkError(`no answer from ${u.host} within ${this.opts.timeoutMs} ms`, 'ETIMEDOUT')));
    return req;
  }

  /** One request with a small body; the whole answer is read. */
  async send(method: string, url: string, opts: RequestOptions = {}): Promise<HttpResult> {
    opts.signal?.throwIfAborted();
    const headers = { ...opts.headers };
    if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
    else if (method === 'PUT' || method === 'POST') headers['Content-Length'] = '0';
    return new Promise<HttpResult>((resolve, reject) => {
      const req = this.request(method, url, headers, opts.signal);
      let answered: IncomingMessage | undefined;
      req.on('error', (e) => {
        // Swift's error pages come with a body even for HEAD (403 from keystoneauth); Node's
        // parser then fails on the bytes after the headers, which already said everything
        if (method === 'HEAD' && answered && (e as NodeJS.ErrnoException).code?.startsWith('HPE_')) {
          resolve({ status: answered.statusCode ?? 0, headers: answered.headers, body: Buffer.alloc(0) });
        } else {
          reject(asNetworkError(e));
        }
      });
      req.on('response', (res) => {
        answered = res;
        readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), (e) => reject(asNetworkError(e)));
      });
      req.end(opts.body);
    });
  }

  /** A request whose answer is streamed (GET of image data). */
  async open(method: string, url: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    opts.signal?.throwIfAborted();
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.request(method, url, { ...opts.headers }, opts.signal);
      req.on('error', (e) => reject(asNetworkError(e)));
      req.on('response', resolve);
      req.end();
    });
  }

  /**
   * Starts a streamed PUT and waits for `100 Continue`. A final answer that comes first
   * (401, 404, 412...) is returned as `refused`, with nothing sent.
   */
  async startUpload(url: string, opts: { headers: Record<string, string>; signal?: AbortSignal | undefined }): Promise<{ upload: Upload } | { refused: HttpResult }> {
    opts.signal?.throwIfAborted();
    const req = this.request('PUT', url, { ...opts.headers, Expect: '100-continue' }, opts.signal);
    const response = new Promise<HttpResult>((resolve, reject) => {
      req.on('error', (e) => reject(asNetworkError(e)));
      req.on('response', (res) => {
        readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), (e) => reject(asNetworkError(e)));
      });
    });
    response.catch(() => undefined); // observed through Upload or below
    const go = await new Promise<'continue' | 'answered' | Error>((resolve) => {
      const timer = setTimeout(() => resolve('continue'), CONTINUE_TIMEOUT_MS);
      req.once('continue', () => {
        clearTimeout(timer);
        resolve('continue');
      });
      response.then(
        () => {
          clearTimeout(timer);
          resolve('answered');
        },
        (e: Error) => {
          clearTimeout(timer);
          resolve(e);
        },
      );
      req.flushHeaders();
    });
    if (go instanceof Error) throw go;
    if (go === 'answered') {
      const refused = await response;
      req.destroy(); // the body it asked for will never come: this connection cannot be reused
      return { refused };
    }
    return { upload: new Upload(req, response) };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** The body side of a streamed PUT. */
export class Upload {
  private failure: Error | undefined;

  constructor(
    private readonly req: ClientRequest,
    private readonly response: Promise<HttpResult>,
  ) {
    response.then(
      (r) => {
        // an answer while we are still sending is a refusal (413 quota, 5xx...)
        if (!req.writableEnded) this.failure ??= new EarlyAnswer(r);
      },
      (e: Error) => {
        this.failure ??= e;
      },
    );
  }

  /** Resolves once the chunk has been handed to the kernel: the caller may reuse it then. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw await this.explain(this.failure);
    try {
      await new Promise<void>((resolve, reject) => {
        this.req.write(chunk, (e) => (e ? reject(e) : resolve()));
      });
    } catch (e) {
      throw await this.explain(e as Error);
    }
  }

  /** Ends the body and returns Swift's answer. */
  async finish(): Promise<HttpResult> {
    if (this.failure) throw await this.explain(this.failure);
    this.req.end();
    return await this.response;
  }

  destroy(): void {
    this.failure ??= new NetworkError('upload abandoned', 'ECANCELED');
    this.req.destroy();
  }

  /** A broken pipe usually means the server answered and hung up: prefer its answer. */
  private async explain(e: Error): Promise<Error> {
    if (e instanceof EarlyAnswer) return e;
    const answer = await Promise.race([this.response.then((r) => new EarlyAnswer(r)).catch(() => undefined), sleep(300, undefined)]);
    this.req.destroy();
    return answer ?? asNetworkError(e);
  }
}

/** Swift answered before the body was complete. */
export class EarlyAnswer extends Error {
  constructor(readonly result: HttpResult) {
    super(`Swift answered ${result.status} before the upload was complete`);
  }
}

async function readBody(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > MAX_BUFFERED_BODY) {
      res.destroy();
      throw new NetworkError(`answer larger than ${MAX_BUFFERED_BODY} bytes`, 'E2BIG');
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

export function asNetworkError(e: unknown): Error {
  if (e instanceof NetworkError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === 'AbortError') return err;
  return new NetworkError(err?.message ?? String(e), err?.code, { cause: e });
}
