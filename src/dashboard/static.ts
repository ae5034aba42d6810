// The dashboard's built files (web/, built by `npm run build` into
// dist/dashboard) served under /dashboard/ by @fastify/static.
//
// - Vite names every asset after its content hash (assets/index-3f9a1c.js), so
//   they are cached for a year as immutable; index.html is revalidated on every
//   load (no-cache + ETag), so a new build is picked up at once.
// - wildcard: false makes the plugin list the folder once at start and route
//   only those files: nothing else can be reached (no path traversal, no
//   shadowing: every route lives under /dashboard/).
// - Every answer under /dashboard/ carries a Content-Security-Policy that
//   allows this origin only (the page loads nothing from elsewhere and talks
//   only to imago), and no framing.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { serviceUnavailable } from '../errors/index.js';

/** dist/dashboard, beside dist/src where this module runs from. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function staticRoutes(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  if (!existsSync(`${dir}/index.html`)) {
    app.get('/', async () => {
      throw serviceUnavailable(`The dashboard was not built (${dir}index.html is missing): run "npm run build".`);
    });
    return;
  }
  app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    redirect: false,
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders(res, path) {
      res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
