// /v2/cache: the cache management API (Glance's cached_images.py, API 2.14),
// plus POST /v2/cache/clean and /v2/cache/prune, which run the cleaner and the
// pruner now (they also run on their own, see src/cache/imageCache.ts).
// Without [DEFAULT] image_cache_dir every route answers 404.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, notFound } from '../errors/index.js';
import { header, route } from '../http/route.js';
import type { ImageCache } from '../cache/imageCache.js';
import type { Image } from '../images/model.js';
import type { Services } from './services.js';

type IdParams = { image_id: string };

export function cacheRoutes(app: FastifyInstance, s: Services): void {
  const cache = (): ImageCache => {
    if (!s.cache) throw notFound('Caching via API is not supported at this site.');
    return s.cache;
  };
  /** The image as the caller's lookup finds it (missing and invisible are both undefined). */
  const find = async (req: FastifyRequest, id: string): Promise<Image | undefined> => {
    try {
      return (await s.images.load(req.ctx, id)).image;
    } catch {
      return undefined;
    }
  };

  route(app, '/cache', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const c = cache();
        s.authz.rule(req.ctx, 'cache_list');
        return reply.type('application/json').send(await c.list());
      },
    },
    DELETE: async (req, reply) => {
      const c = cache();
      // Glance guards clearing with cache_delete (there is no cache_clear rule).
      s.authz.rule(req.ctx, 'cache_delete');
      // glanceclient sends no header for "both"; imago also takes "both" spelled out.
      const target = (header(req, 'x-image-cache-clear-target') ?? '').trim().toLowerCase();
      if (!['', 'both', 'cache', 'queue'].includes(target)) {
        throw badRequest("If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string.");
      }
      if (target !== 'queue') await c.clearCache();
      if (target !== 'cache') await c.clearQueue();
      return reply.code(204).send();
    },
  });

  route(app, '/cache/:image_id', {
    PUT: async (req, reply) => {
      const c = cache();
      const { image_id } = req.params as IdParams;
      const image = await find(req, image_id);
      if (!image) throw notFound(`Image ${image_id} not found.`);
      s.authz.imageRule(req.ctx, 'cache_image', image);
      if (image.status !== 'active') throw badRequest('Only images with status active can be targeted for queueing');
      await c.queue(image_id);
      return reply.code(202).send();
    },
    DELETE: async (req, reply) => {
      const c = cache();
      const { image_id } = req.params as IdParams;
      // A deleted image may still be cached or queued: it can be removed all the same.
      const image = await find(req, image_id);
      if (!image && !(await c.isKnown(image_id))) throw notFound(`Image ${image_id} not found.`);
      if (image) s.authz.imageRule(req.ctx, 'cache_delete', image);
      else s.authz.rule(req.ctx, 'cache_delete');
      await c.purge(image_id);
      return reply.code(204).send();
    },
  });

  route(app, '/cache/clean', {
    POST: async (req, reply) => {
      const c = cache();
      s.authz.rule(req.ctx, 'cache_clean');
      return reply.type('application/json').send({ files_removed: await c.clean() });
    },
  });

  route(app, '/cache/prune', {
    POST: async (req, reply) => {
      const c = cache();
      s.authz.rule(req.ctx, 'cache_prune');
      const pruned = await c.prune();
      return reply.type('application/json').send({ files_pruned: pruned.files, bytes_pruned: pruned.bytes });
    },
  });
}
