// /v2/info/*: what this deployment offers (import methods, stores).

import type { FastifyInstance } from 'fastify';
import { route } from '../http/route.js';
import { notFound } from '../errors/index.js';
import type { Services } from './services.js';

export function discoveryRoutes(app: FastifyInstance, s: Services): void {
  route(app, '/info/import', {
    GET: {
      noBody: true,
      handler: async (_req, reply) =>
        reply.type('application/json').send({
          'import-methods': { description: 'Import methods available.', type: 'array', value: s.config.api.enabledImportMethods },
        }),
    },
  });

  const listed = () => {
    if (!s.stores.multistore) throw notFound('Multi backend is not supported at this site.');
    return s.stores.all().filter((st) => !st.id.startsWith('os_glance_'));
  };

  route(app, '/info/stores', {
    GET: {
      noBody: true,
      handler: async (_req, reply) =>
        reply.type('application/json').send({
          stores: listed().map((st) => ({
            id: st.id,
            ...(st.description ? { description: st.description } : {}),
            ...(st.id === s.stores.defaultStoreId ? { default: 'true' } : {}),
            ...(st.type === 'http' ? { 'read-only': 'true' } : {}),
          })),
        }),
    },
  });

  route(app, '/info/stores/detail', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const stores = listed();
        s.authz.rule(req.ctx, 'stores_info_detail');
        return reply.type('application/json').send({
          stores: stores.map((st) => ({
            id: st.id,
            ...(st.description ? { description: st.description } : {}),
            ...(st.id === s.stores.defaultStoreId ? { default: 'true' } : {}),
            ...(st.type === 'http' ? { 'read-only': 'true' } : {}),
            type: st.type,
            weight: st.weight,
            properties: st.detail(),
          })),
        });
      },
    },
  });

  route(app, '/stores/:store_id/:image_id', {
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { store_id, image_id } = req.params as { store_id: string; image_id: string };
        await s.images.deleteFromStore(req.ctx, store_id, image_id);
        return reply.code(204).send();
      },
    },
  });
}
