// Every call from the page to imago: the token header, a timeout, and the
// API's own error message turned into an ApiError that the page shows.

import { setSession, sessionStore, token } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The explanation in an error body: Glance's JSON ({message}), its HTML page, or plain text. */
export function errorMessage(status: number, body: string): string {
  try {
    const j = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } };
    const m = typeof j.message === 'string' ? j.message : typeof j.error?.message === 'string' ? j.error.message : undefined;
    if (m) return m.replace(/<br \/>[\s\S]*$/, '').trim();
  } catch {
    // not JSON
  }
  const html = /<\/h1>([\s\S]*?)<br \/>/.exec(body);
  if (html?.[1]) return html[1].replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))).trim();
  const plain = /^\d{3} [^\n]*\n\n([\s\S]*?)\s*$/.exec(body);
  if (plain?.[1]) return plain[1];
  return `The server answered ${status}.`;
}

export interface CallOptions {
  method?: string;
  /** Sent as JSON. */
  json?: unknown;
  /** JSON patch (application/openstack-images-v2.1-json-patch). */
  patch?: unknown[];
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { 'X-Auth-Token': t } : {};
}

/** The session ended (expired or revoked token): back to the sign-in form. */
function expired(): void {
  if (sessionStore.get().auth === 'keystone' && sessionStore.get().session) {
    setSession(undefined, 'Your session has ended (the token expired or was revoked): sign in again.');
  }
}

export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const method = opts.method ?? (opts.json !== undefined ? 'POST' : 'GET');
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders(), ...opts.headers };
  let body: string | undefined;
  if (opts.patch) {
    headers['Content-Type'] = 'application/openstack-images-v2.1-json-patch';
    body = JSON.stringify(opts.patch);
  } else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, signal });
  } catch (e) {
    if (timeout.aborted) throw new ApiError(0, `imago did not answer ${method} ${path} within ${(opts.timeoutMs ?? 30_000) / 1000} s: try again.`);
    if (opts.signal?.aborted) throw e;
    throw new ApiError(0, `imago could not be reached (${method} ${path}): check the network connection and try again.`);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    if (res.status === 401 && path.startsWith('/v2/')) expired();
    throw new ApiError(res.status, errorMessage(res.status, text));
  }
  return res;
}

export async function json<T>(path: string, opts: CallOptions = {}): Promise<T> {
  const res = await call(path, opts);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
