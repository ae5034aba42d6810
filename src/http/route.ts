// Route registration with Glance's router conventions: every other method on a
// known path answers 405 with an Allow header, and GET/DELETE-style routes
// reject a request body with 400 ("body_reject").

import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { badRequest, methodNotAllowed, tooLarge, unsupportedMediaType } from '../errors/index.js';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface MethodSpec {
  handler: Handler;
  /** Refuse a body (Glance's body_reject=True). */
  noBody?: boolean;
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function hasBody(req: FastifyRequest): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te !== '' && te !== 'identity') return true;
  const len = req.headers['content-length'];
  return len !== undefined && Number(len) > 0;
}

export function route(app: FastifyInstance, url: string, methods: Partial<Record<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', MethodSpec | Handler>>): void {
  const allow = Object.keys(methods).join(', ');
  for (const method of ALL_METHODS) {
    const spec = methods[method as keyof typeof methods];
    if (!spec) {
      app.route({
        method,
        url,
        handler: async (req) => {
          throw methodNotAllowed(req.method, allow);
        },
      });
      continue;
    }
    const { handler, noBody } = typeof spec === 'function' ? { handler: spec, noBody: false } : spec;
    app.route({
      method,
      url,
      handler: async (req, reply) => {
        if (noBody && hasBody(req)) throw badRequest('A body is not expected with this request.');
        return handler(req, reply);
      },
    });
  }
}

/** Largest JSON document accepted (image records, patches, member bodies). */
const JSON_LIMIT = 1 << 20;

/**
 * Reads a JSON body whatever its Content-Type (Glance's JSON deserializer does
 * not look at it). Undefined when there is no body.
 */
export async function readJson(req: FastifyRequest): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const stream = req.body as AsyncIterable<Buffer> | undefined;
  if (!stream || typeof (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator] !== 'function') return undefined;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > JSON_LIMIT) throw tooLarge('The request body is too large.');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('Malformed JSON in request body.');
  }
  if (parsed === null || typeof parsed !== 'object') throw badRequest('Unexpected body type. Expected list/dict.');
  return parsed;
}

/** One header's value (the first, when repeated). */
export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The image data of PUT /file and PUT /stage: application/octet-stream only
 * (else 415), the optional x-openstack-image-size, and a signal that fires if
 * the client goes away before the body is complete.
 */
export function imageDataBody(req: FastifyRequest): { body: AsyncIterable<Buffer>; declaredSize: number | undefined; signal: AbortSignal } {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/octet-stream') throw unsupportedMediaType(`Content type ${ct || 'None'} not supported`);
  const declared = header(req, 'x-openstack-image-size');
  if (declared !== undefined && !/^\d+$/.test(declared.trim())) throw badRequest(`Invalid x-openstack-image-size header: ${declared}`);
  const abort = new AbortController();
  req.raw.once('close', () => {
    if (!req.raw.complete) abort.abort();
  });
  const body = (req.body as AsyncIterable<Buffer> | undefined) ?? (async function* () {})();
  return { body, declaredSize: declared === undefined ? undefined : Number(declared), signal: abort.signal };
}

/** webob makes a relative Location absolute against the request's host; clients may rely on it. */
export function absolute(req: FastifyRequest, path: string): string {
  return `${req.protocol}://${req.headers.host ?? req.hostname}${path}`;
}

/** The request id header, on every answer (app.ts's onSend hook) and on hijacked ones (sendFileSlice). */
export function stampRequestId(req: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-openstack-request-id', req.requestId);
}
