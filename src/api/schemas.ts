// /v2/schemas/*: the JSON schemas glanceclient and Horizon download (images,
// members, tasks, and the metadefs ones).

import type { FastifyInstance } from 'fastify';
import { route } from '../http/route.js';
import { METADEF_SCHEMA_NAMES, metadefSchemas } from '../metadefs/schemas.js';
import type { Services } from './services.js';

export function schemaRoutes(app: FastifyInstance, s: Services): void {
  const names = ['image', 'images', 'member', 'members', 'task', 'tasks'] as const;
  for (const name of names) {
    route(app, `/schemas/${name}`, {
      GET: { noBody: true, handler: async (_req, reply) => reply.type('application/json').send(s.schemas[name]) },
    });
  }
  const metadefs = metadefSchemas();
  for (const name of METADEF_SCHEMA_NAMES) {
    route(app, `/schemas/metadefs/${name}`, {
      GET: { noBody: true, handler: async (_req, reply) => reply.type('application/json').send(metadefs[name]) },
    });
  }
}
