// CORS as oslo.middleware's CORS filter does it in front of Glance, so that a
// browser page from another origin (Horizon in HORIZON_IMAGES_UPLOAD_MODE =
// 'direct', another dashboard) can call the API and upload straight to it.
//
// In Glance's paste pipeline `cors` comes first, before authtoken: a preflight
// (OPTIONS, no token) is answered 200 whatever the app says behind it, and every
// answer (a 401 too) carries the headers, else the browser hides the error
// from the page. The rules (oslo_middleware/cors.py):
//   - preflight: the origin must be listed (or "*" listed), the requested
//     method in allow_methods, every requested header in allow_headers or the
//     simple headers; then Allow-Origin (the origin, or "*" when only "*" is
//     listed), Allow-Credentials, Max-Age, Allow-Methods (the one requested),
//     Allow-Headers (those requested). Otherwise 200 without CORS headers, so
//     the browser refuses the actual request.
//   - actual request from a listed origin: Vary: Origin, Allow-Origin,
//     Allow-Credentials, Expose-Headers.
// Off (no hooks at all) unless [cors] allowed_origin is set: imago's answers to
// OPTIONS stay what they were for deployments that do not ask for CORS.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CorsOptions, CorsRule } from '../config/config.js';

const SIMPLE_HEADERS = ['accept', 'accept-language', 'content-type', 'cache-control', 'content-language', 'expires', 'last-modified', 'pragma'];

function ruleFor(cors: CorsOptions, origin: string): [string, CorsRule] | undefined {
  const own = cors.origins.get(origin);
  if (own) return [origin, own];
  const any = cors.origins.get('*');
  return any ? ['*', any] : undefined;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Answers a preflight; the headers only when the origin, method and headers are all allowed. */
function preflight(cors: CorsOptions, req: FastifyRequest, reply: FastifyReply): void {
  reply.code(200).header('content-length', '0');
  const found = ruleFor(cors, header(req, 'origin')!);
  const method = header(req, 'access-control-request-method');
  if (!found || method === undefined) return;
  const [origin, rule] = found;
  if (!rule.allowMethods.includes(method)) return;
  const requested = (header(req, 'access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const allowed = new Set([...rule.allowHeaders.map((h) => h.toLowerCase()), ...SIMPLE_HEADERS]);
  if (!requested.every((h) => allowed.has(h.toLowerCase()))) return;
  reply.header('vary', 'Origin').header('access-control-allow-origin', origin);
  if (rule.allowCredentials) reply.header('access-control-allow-credentials', 'true');
  if (rule.maxAge) reply.header('access-control-max-age', String(rule.maxAge));
  reply.header('access-control-allow-methods', method);
  if (requested.length) reply.header('access-control-allow-headers', requested.join(','));
}

/** Adds the CORS hooks when [cors] names at least one origin. Call before any other onRequest hook. */
export function registerCors(app: FastifyInstance, cors: CorsOptions): void {
  if (cors.origins.size === 0) return;
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'OPTIONS' || header(req, 'origin') === undefined) return;
    preflight(cors, req, reply);
    return reply.send();
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const originHeader = header(req, 'origin');
    if (originHeader === undefined || req.method === 'OPTIONS' || reply.hasHeader('access-control-allow-origin')) return payload;
    const found = ruleFor(cors, originHeader);
    if (!found) return payload;
    const [origin, rule] = found;
    const vary = reply.getHeader('vary');
    reply.header('vary', vary ? `${String(vary)},Origin` : 'Origin');
    reply.header('access-control-allow-origin', origin);
    if (rule.allowCredentials) reply.header('access-control-allow-credentials', 'true');
    if (rule.exposeHeaders.length) reply.header('access-control-expose-headers', rule.exposeHeaders.join(','));
    return payload;
  });
}
