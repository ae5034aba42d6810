// Data staged into a node's own folder can only be imported (or cleaned up) by that node.
// As in Glance, the staging node records its URL (worker_self_reference_url, else
// public_endpoint) in os_glance_stage_host, and another node that receives the import or the
// delete replays the request there, with the caller's own headers (token or identity), so the
// stage host decides exactly as if it had been asked directly. Staging into a shared store
// (imago_staging_store) records no host: any node can finish those imports.

import type { IncomingHttpHeaders } from 'node:http';
import { isApiError, SERVER_FAILURES } from '../errors/index.js';
import { errorBodyMessage, HttpError } from '../http/errors.js';
import type { Image } from '../images/model.js';
import { loadUndici } from '../net/safeFetch.js';
import type { Relay } from '../images/service.js';

export const STAGE_HOST = 'os_glance_stage_host';


/** Hop-by-hop and per-connection headers, which must not be replayed. */
const NOT_FORWARDED = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);

export interface ReplayedRequest {
  method: string;
  /** Path and query, as received (`/v2/images/{id}/import`). */
  url: string;
  headers: IncomingHttpHeaders;
  body?: unknown;
}

export interface Replayed {
  status: number;
  /** The stage host's x-openstack-request-id, which the client should see. */
  requestId: string | undefined;
}

export class StageHost {
  /** How long the stage host may take to answer (Glance: 60 s). */
  static timeoutMs = 60_000;

  /** `selfUrl`: this node's URL, recorded on what it stages; undefined records nothing. */
  constructor(readonly selfUrl: string | undefined) {}

  /** The properties to record on an image whose data this node just staged in its own folder. */
  record(): Record<string, string> {
    return this.selfUrl ? { [STAGE_HOST]: this.selfUrl } : {};
  }

  /** The node holding this image's staged data, when it is another one. */
  elsewhere(image: Image): string | undefined {
    const host = image.properties[STAGE_HOST];
    return host && host !== this.selfUrl ? host : undefined;
  }

  /**
   * Sends the request to `host`. A 2xx answer is returned; any other answer becomes the same
   * HttpError; no answer is 504 (could not connect or timed out) or 502 (anything else).
   */
  async replay(host: string, req: ReplayedRequest): Promise<Replayed> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || NOT_FORWARDED.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const target = host.replace(/\/+$/, '') + req.url;
    const { request, errors } = await loadUndici();
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(target, {
        method: req.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        headersTimeout: StageHost.timeoutMs,
        bodyTimeout: StageHost.timeoutMs,
        signal: AbortSignal.timeout(StageHost.timeoutMs),
      });
    } catch (e) {
      const unreachable =
        e instanceof errors.ConnectTimeoutError ||
        e instanceof errors.HeadersTimeoutError ||
        (e as Error).name === 'TimeoutError' ||
        ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET'].includes((e as NodeJS.ErrnoException).code ?? '');
      console.error(`imago: could not replay ${req.method} ${req.url} on stage host ${host}: ${(e as Error).message}`);
      throw new HttpError(unreachable ? 504 : 502, 'Stage host is unavailable');
    }
    const text = await res.body.text();
    const id = res.headers['x-openstack-request-id'];
    const requestId = Array.isArray(id) ? id[0] : id;
    if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, requestId };
    throw new HttpError(res.statusCode, errorBodyMessage(text) ?? `The stage host ${host} answered ${res.statusCode}`);
  }
}

/** The parts of the incoming request a relay needs (a FastifyRequest has them). */
export interface IncomingRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  requestId: string;
}

/**
 * A Relay (src/images/service.ts) that replays `req` on the image's stage host when that is
 * another node. `fallBackHere`: when the stage host cannot be reached or fails (5xx), go on
 * locally (a delete still deletes, leaving the staged copy on that node, as Glance does).
 */
export function stageHostRelay(stageHost: StageHost, req: IncomingRequest, body: unknown, fallBackHere: boolean): Relay {
  return async (image) => {
    const host = stageHost.elsewhere(image);
    if (!host) return false;
    try {
      const answer = await stageHost.replay(host, { method: req.method, url: req.url, headers: req.headers, body });
      // the client sees the id of the request that did the work, as with Glance
      if (answer.requestId) req.requestId = answer.requestId;
      return true;
    } catch (e) {
      if (fallBackHere && isApiError(e, ...SERVER_FAILURES)) return false;
      throw e;
    }
  };
}
