// /v2/images, /v2/images/{id}, actions and tags.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { absolute, route, readJson } from '../http/route.js';
import { badRequest } from '../errors/index.js';
import { parseChanges, patchDraft } from '../images/patch.js';
import { stageHostRelay } from '../imports/stageHost.js';
import type { Services } from './services.js';

type IdParams = { image_id: string };

/** The query string as ordered pairs, repeated keys kept (tag=a&tag=b). */
export function queryPairs(req: FastifyRequest): [string, string][] {
  const raw = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
  return [...new URLSearchParams(raw)];
}

export function imageRoutes(app: FastifyInstance, s: Services): void {
  route(app, '/images', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const pairs = queryPairs(req);
        const { images, nextMarker } = await s.images.list(req.ctx, pairs);
        const withoutMarker = pairs.filter(([k]) => k !== 'marker');
        const query = new URLSearchParams(withoutMarker).toString();
        const body: Record<string, unknown> = {
          images: images.map((i) => s.images.view(req.ctx, i)),
          first: query ? `/v2/images?${query}` : '/v2/images',
          schema: '/v2/schemas/images',
        };
        if (nextMarker) body.next = `/v2/images?${new URLSearchParams([...withoutMarker, ['marker', nextMarker]]).toString()}`;
        return reply.type('application/json').send(body);
      },
    },
    POST: async (req, reply) => {
      const image = await s.images.create(req.ctx, await readJson(req));
      reply.code(201).header('Location', absolute(req, `/v2/images/${image.id}`)).type('application/json');
      const methods = s.config.api.enabledImportMethods;
      if (methods.length) reply.header('OpenStack-image-import-methods', methods.join(','));
      if (s.stores.multistore) reply.header('OpenStack-image-store-ids', s.stores.all().map((x) => x.id).join(','));
      return reply.send(s.images.view(req.ctx, image));
    },
  });

  route(app, '/images/:image_id', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id } = req.params as IdParams;
        return reply.type('application/json').send(s.images.view(req.ctx, await s.images.show(req.ctx, image_id)));
      },
    },
    PATCH: async (req, reply) => {
      const { image_id } = req.params as IdParams;
      const draft = patchDraft(req.headers['content-type']);
      const body = await readJson(req);
      if (body === undefined) throw badRequest('Body expected in request.');
      const changes = parseChanges(body, draft, (partial) => s.schemas.validateImage(partial));
      const image = await s.images.update(req.ctx, image_id, changes);
      return reply.type('application/json').send(s.images.view(req.ctx, image));
    },
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        await s.images.delete(req.ctx, (req.params as IdParams).image_id, stageHostRelay(s.stageHost, req, undefined, true));
        return reply.code(204).send();
      },
    },
  });

  route(app, '/images/:image_id/actions/deactivate', {
    POST: {
      noBody: true,
      handler: async (req, reply) => {
        await s.images.deactivate(req.ctx, (req.params as IdParams).image_id);
        return reply.code(204).send();
      },
    },
  });
  route(app, '/images/:image_id/actions/reactivate', {
    POST: {
      noBody: true,
      handler: async (req, reply) => {
        await s.images.reactivate(req.ctx, (req.params as IdParams).image_id);
        return reply.code(204).send();
      },
    },
  });

  route(app, '/images/:image_id/tags/:tag', {
    PUT: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id, tag } = req.params as IdParams & { tag: string };
        await s.images.addTag(req.ctx, image_id, tag);
        return reply.code(204).send();
      },
    },
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id, tag } = req.params as IdParams & { tag: string };
        await s.images.removeTag(req.ctx, image_id, tag);
        return reply.code(204).send();
      },
    },
  });
}
