// /v2/images/{id}/members and /members/{member_id}.

import type { FastifyInstance } from 'fastify';
import { route, readJson } from '../http/route.js';
import { memberView } from '../images/members.js';
import type { Services } from './services.js';

type Params = { image_id: string; member_id: string };

export function memberRoutes(app: FastifyInstance, s: Services): void {
  route(app, '/images/:image_id/members', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id } = req.params as Params;
        const loaded = await s.images.load(req.ctx, image_id);
        const members = await s.members.list(req.ctx, loaded);
        return reply.type('application/json').send({ members: members.map(memberView), schema: '/v2/schemas/members' });
      },
    },
    POST: async (req, reply) => {
      const { image_id } = req.params as Params;
      const body = await readJson(req);
      const loaded = await s.images.load(req.ctx, image_id);
      return reply.type('application/json').send(memberView(await s.members.create(req.ctx, loaded, body)));
    },
  });
  route(app, '/images/:image_id/members/:member_id', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id, member_id } = req.params as Params;
        const loaded = await s.images.load(req.ctx, image_id);
        return reply.type('application/json').send(memberView(await s.members.show(req.ctx, loaded, member_id)));
      },
    },
    PUT: async (req, reply) => {
      const { image_id, member_id } = req.params as Params;
      const body = await readJson(req);
      const loaded = await s.images.load(req.ctx, image_id);
      return reply.type('application/json').send(memberView(await s.members.update(req.ctx, loaded, member_id, body)));
    },
    DELETE: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id, member_id } = req.params as Params;
        const loaded = await s.images.load(req.ctx, image_id);
        await s.members.delete(req.ctx, loaded, member_id);
        return reply.code(204).send();
      },
    },
  });
}
