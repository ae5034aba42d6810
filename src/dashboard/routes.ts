// Everything under /dashboard/: the page's files and its sign-in calls.

import type { FastifyInstance } from 'fastify';
import { staticRoutes } from './static.js';
import { sessionRoutes, type KeystoneSessions } from './session.js';

export interface DashboardOptions {
  sessions: KeystoneSessions;
  auth: 'none' | 'keystone';
  /** Folder of the built page (tests point elsewhere); default dist/dashboard. */
  dir?: string;
}

/** Register inside a plugin with prefix /dashboard. */
export function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): void {
  // /dashboard -> /dashboard/, so that the page's relative URLs and bookmarks have one form.
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (path === '/dashboard') return reply.code(301).header('location', '/dashboard/').send();
  });
  staticRoutes(app, opts.dir);
  sessionRoutes(app, opts.sessions, opts.auth);
}
