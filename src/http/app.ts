// The HTTP front: one Fastify app with Glance's wire conventions — version
// negotiation by URL prefix, x-openstack-request-id on every response, errors
// rendered like webob, bodies handed to routes as raw streams (uploads are
// never buffered; JSON is read by the route that expects it).

import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import type { RequestContext } from '../auth/context.js';
import type { Authenticator } from '../auth/authenticator.js';
import { headerTooLarge, internalError, isApiError, notFound, unsupportedMediaType, type ApiError } from '../errors/index.js';
import { renderError } from './errors.js';
import { allowedPrefixes, versionsBody, type VersionFeatures } from '../api/versions.js';
import { stampRequestId } from './route.js';
import { registerCors } from './cors.js';

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext;
    requestId: string;
  }
}

export interface AppOptions {
  config: Config;
  auth: Authenticator;
  features: VersionFeatures;
  /** Registers the /v2 routes. */
  routes: (app: FastifyInstance) => void;
  /** Registers the web dashboard under /dashboard/ (outside version negotiation and the API's auth). */
  dashboard?: (app: FastifyInstance) => void;
  logger?: boolean;
}

const VND = 'application/vnd.openstack.images-';

export function buildApp(opts: AppOptions): FastifyInstance {
  const prefixes = allowedPrefixes(opts.features);
  const app = Fastify({
    logger: opts.logger ?? false,
    // Image ids and tags can be long; uploads are streams, so no body limit applies to them.
    routerOptions: { maxParamLength: 1024 },
    exposeHeadRoutes: false,
    bodyLimit: Number.MAX_SAFE_INTEGER,
    // Keep idle clients from pinning sockets forever, but never cut a long upload or download.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    rewriteUrl: (req) => rewrite(req.url ?? '/', String(req.headers.accept ?? ''), prefixes),
  });

  // Every body reaches routes as the raw request stream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  // First of the onRequest hooks: preflights are answered before authentication, as oslo's cors filter heads Glance's pipeline.
  registerCors(app, opts.config.cors);

  app.decorateRequest('ctx', null as unknown as RequestContext);
  app.decorateRequest('requestId', '');

  app.addHook('onRequest', async (req) => {
    const inbound = req.headers['x-openstack-request-id'];
    const given = Array.isArray(inbound) ? inbound[0] : inbound;
    const max = opts.config.server.maxRequestIdLength;
    req.requestId = given ? (given.startsWith('req-') ? given : `req-${given}`) : `req-${randomUUID()}`;
    if (given && max > 0 && given.length > max) {
      req.requestId = `req-${randomUUID()}`;
      throw headerTooLarge(`x-openstack-request-id is too long, max size ${max}`);
    }
    if (req.url.startsWith('/v2/')) req.ctx = await opts.auth.authenticate(req.requestId, req.headers, { method: req.method, path: req.url.split('?')[0]! });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    stampRequestId(req, reply);
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    let http: ApiError;
    if (isApiError(err)) http = err;
    else if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') http = unsupportedMediaType('Unsupported Content-Type');
    else {
      req.log.error(err);
      console.error(`imago: ${req.method} ${req.url} failed:`, err);
      http = internalError();
    }
    const { contentType, body } = renderError(http, req.headers.accept);
    reply.code(http.status).headers(http.headers).type(contentType).send(body);
  });

  app.setNotFoundHandler(async () => {
    throw notFound(`The resource could not be found.`);
  });

  const versions = (status: number) => async (req: FastifyRequest, reply: import('fastify').FastifyReply) =>
    reply.code(status).type('application/json').send(versionsBody(opts.features, opts.config.server.publicEndpoint, req));
  app.get('/versions', versions(200));
  app.all('/__version_choices', versions(300));
  app.get('/healthcheck', async (_req, reply) => reply.type('text/plain').send('OK'));

  app.register(async (v2) => opts.routes(v2), { prefix: '/v2' });
  if (opts.dashboard) app.register(async (web) => opts.dashboard!(web), { prefix: '/dashboard' });
  return app;
}

/**
 * Glance's VersionNegotiationFilter: /versions answers 200; /dashboard is the
 * web dashboard (no API version lives there); /v2, /v2.N (when
 * that version is offered) or an Accept: application/vnd.openstack.images-v2
 * header reach the v2 API; anything else gets the 300 version choices.
 */
export function rewrite(url: string, accept: string, prefixes: Set<string>): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  const trimmed = path.replace(/^\/+/, '');
  const first = trimmed.split('/')[0] ?? '';
  if (first === 'versions' || first === 'healthcheck' || first === 'dashboard') return url;
  if (accept.startsWith(VND)) {
    const version = accept.slice(VND.length).split(/[;,\s]/)[0]!;
    if (prefixes.has(version)) return `/v2/${trimmed}${query}`;
    return '/__version_choices';
  }
  if (prefixes.has(first)) return `/v2${trimmed.slice(first.length) || '/'}${query}`;
  return '/__version_choices';
}
