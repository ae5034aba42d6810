// /v2/metadefs/*: metadata definition namespaces and their objects, properties,
// tags and resource type associations (the behaviour lives in src/metadefs/service.ts).
// Methods are listed in Glance's order, which is the order of the 405 Allow header.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { absolute, readJson, route } from '../http/route.js';
import { queryPairs } from './images.js';
import type { Services } from './services.js';

type Ns = { namespace: string };

const TRUE_WORDS = ['1', 't', 'true', 'on', 'y', 'yes'];

/** oslo's bool_from_string: anything else (or no header) is false. */
function headerFlag(v: string | string[] | undefined): boolean {
  const s = (Array.isArray(v) ? v[0] : v) ?? '';
  return TRUE_WORDS.includes(s.trim().toLowerCase());
}

const json = (reply: FastifyReply, body: unknown, status = 200) => reply.code(status).type('application/json').send(body);
const noContent = (reply: FastifyReply) => reply.code(204).send();

export function metadefRoutes(app: FastifyInstance, s: Services): void {
  const m = s.metadefs;

  route(app, '/metadefs/resource_types', {
    GET: { noBody: true, handler: async (req, reply) => json(reply, await m.listResourceTypes(req.ctx)) },
  });

  route(app, '/metadefs/namespaces/:namespace/resource_types', {
    GET: { noBody: true, handler: async (req, reply) => json(reply, await m.listAssociations(req.ctx, (req.params as Ns).namespace)) },
    POST: async (req, reply) => json(reply, await m.createAssociation(req.ctx, (req.params as Ns).namespace, await readJson(req)), 201),
  });

  route(app, '/metadefs/namespaces/:namespace/resource_types/:resource_type', {
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, resource_type } = req.params as Ns & { resource_type: string };
        await m.deleteAssociation(req.ctx, namespace, resource_type);
        return noContent(reply);
      },
    },
  });

  route(app, '/metadefs/namespaces', {
    GET: async (req, reply) => json(reply, await m.listNamespaces(req.ctx, queryPairs(req))),
    POST: async (req, reply) => {
      const { body, location } = await m.createNamespace(req.ctx, await readJson(req));
      reply.header('Location', absolute(req, location));
      return json(reply, body, 201);
    },
  });

  route(app, '/metadefs/namespaces/:namespace', {
    GET: { noBody: true, handler: async (req, reply) => json(reply, await m.showNamespace(req.ctx, (req.params as Ns).namespace, queryPairs(req))) },
    PUT: async (req, reply) => json(reply, await m.updateNamespace(req.ctx, (req.params as Ns).namespace, await readJson(req))),
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        await m.deleteNamespace(req.ctx, (req.params as Ns).namespace);
        return noContent(reply);
      },
    },
  });

  route(app, '/metadefs/namespaces/:namespace/properties', {
    GET: { noBody: true, handler: async (req, reply) => json(reply, await m.listProperties(req.ctx, (req.params as Ns).namespace)) },
    POST: async (req, reply) => json(reply, await m.createProperty(req.ctx, (req.params as Ns).namespace, await readJson(req)), 201),
    DELETE: async (req, reply) => {
      await m.deleteContents(req.ctx, (req.params as Ns).namespace, 'properties');
      return noContent(reply);
    },
  });

  type Prop = Ns & { property_name: string };
  route(app, '/metadefs/namespaces/:namespace/properties/:property_name', {
    GET: async (req, reply) => {
      const { namespace, property_name } = req.params as Prop;
      return json(reply, await m.showProperty(req.ctx, namespace, property_name, queryPairs(req)));
    },
    PUT: async (req, reply) => {
      const { namespace, property_name } = req.params as Prop;
      return json(reply, await m.updateProperty(req.ctx, namespace, property_name, await readJson(req)));
    },
    DELETE: async (req, reply) => {
      const { namespace, property_name } = req.params as Prop;
      await m.deleteProperty(req.ctx, namespace, property_name);
      return noContent(reply);
    },
  });

  route(app, '/metadefs/namespaces/:namespace/objects', {
    GET: async (req, reply) => json(reply, await m.listObjects(req.ctx, (req.params as Ns).namespace, queryPairs(req))),
    POST: async (req, reply) => json(reply, await m.createObject(req.ctx, (req.params as Ns).namespace, await readJson(req)), 201),
    DELETE: async (req, reply) => {
      await m.deleteContents(req.ctx, (req.params as Ns).namespace, 'objects');
      return noContent(reply);
    },
  });

  type Obj = Ns & { object_name: string };
  route(app, '/metadefs/namespaces/:namespace/objects/:object_name', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, object_name } = req.params as Obj;
        return json(reply, await m.showObject(req.ctx, namespace, object_name));
      },
    },
    PUT: async (req, reply) => {
      const { namespace, object_name } = req.params as Obj;
      return json(reply, await m.updateObject(req.ctx, namespace, object_name, await readJson(req)));
    },
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, object_name } = req.params as Obj;
        await m.deleteObject(req.ctx, namespace, object_name);
        return noContent(reply);
      },
    },
  });

  route(app, '/metadefs/namespaces/:namespace/tags', {
    GET: async (req, reply) => json(reply, await m.listTags(req.ctx, (req.params as Ns).namespace, queryPairs(req))),
    POST: async (req, reply) => {
      const append = headerFlag(req.headers['x-openstack-append']);
      return json(reply, await m.createTags(req.ctx, (req.params as Ns).namespace, await readJson(req), append), 201);
    },
    DELETE: async (req, reply) => {
      await m.deleteContents(req.ctx, (req.params as Ns).namespace, 'tags');
      return noContent(reply);
    },
  });

  type Tag = Ns & { tag_name: string };
  route(app, '/metadefs/namespaces/:namespace/tags/:tag_name', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, tag_name } = req.params as Tag;
        return json(reply, await m.showTag(req.ctx, namespace, tag_name));
      },
    },
    POST: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, tag_name } = req.params as Tag;
        return json(reply, await m.createTag(req.ctx, namespace, tag_name), 201);
      },
    },
    PUT: async (req, reply) => {
      const { namespace, tag_name } = req.params as Tag;
      return json(reply, await m.updateTag(req.ctx, namespace, tag_name, await readJson(req)));
    },
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { namespace, tag_name } = req.params as Tag;
        await m.deleteTag(req.ctx, namespace, tag_name);
        return noContent(reply);
      },
    },
  });
}
