// /v2/schemas/*: the JSON schemas glanceclient and Horizon download.

import type { FastifyInstance } from 'fastify';
import { route } from '../http/route.js';
import type { Services } from './services.js';

export function schemaRoutes(app: FastifyInstance, s: Services): void {
  const names = ['image', 'images', 'member', 'members', 'task', 'tasks'] as const;
  for (const name of names) {
    route(app, `/schemas/${name}`, {
      GET: { noBody: true, handler: async (_req, reply) => reply.type('application/json').send(s.schemas[name]) },
    });
  }
}
