// Interoperable import: PUT /v2/images/{id}/stage, POST /v2/images/{id}/import,
// GET /v2/images/{id}/tasks; and the tasks API (/v2/tasks).

import type { FastifyInstance } from 'fastify';
import { absolute, header, imageDataBody, route, readJson } from '../http/route.js';
import { ApiError, badRequest, isApiError, notFound } from '../errors/index.js';
import { imageTaskView, parseTaskListQuery, taskOr404, taskStubView, taskView, taskVisible } from '../tasks/tasks.js';
import { queryPairs } from './images.js';
import { stageHostRelay } from '../imports/stageHost.js';
import type { Services } from './services.js';

type IdParams = { image_id: string };

export function importRoutes(app: FastifyInstance, s: Services): void {
  route(app, '/images/:image_id/stage', {
    PUT: async (req, reply) => {
      const { image_id } = req.params as IdParams;
      const { body, declaredSize, signal } = imageDataBody(req);
      await s.importer.stage(req.ctx, image_id, body, { declaredSize, signal });
      return reply.code(204).send();
    },
  });

  route(app, '/images/:image_id/import', {
    POST: async (req, reply) => {
      const { image_id } = req.params as IdParams;
      const body = await readJson(req);
      await s.importer.start(req.ctx, image_id, body, header(req, 'x-image-meta-store'), stageHostRelay(s.stageHost, req, body, false));
      return reply.code(202).send();
    },
  });

  route(app, '/images/:image_id/locations', {
    POST: async (req, reply) => {
      const { image_id } = req.params as IdParams;
      await s.importer.addLocation(req.ctx, image_id, await readJson(req));
      return reply.code(202).send();
    },
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id } = req.params as IdParams;
        const { image, access } = await s.images.load(req.ctx, image_id);
        s.authz.enforce(req.ctx, image, 'fetch_image_location', access);
        const locs = s.images.sortLocations(image.locations.filter((l) => l.status === 'active'));
        return reply.type('application/json').send(locs.map((l) => ({ url: l.url, metadata: l.metadata })));
      },
    },
  });

  route(app, '/images/:image_id/tasks', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id } = req.params as IdParams;
        try {
          await s.images.show(req.ctx, image_id);
        } catch (e) {
          if (isApiError(e, 'forbidden', 'not_found')) throw notFound();
          throw e;
        }
        const tasks = (await s.tasks.forImage(image_id)).filter((t) => taskVisible(req.ctx, t));
        return reply.type('application/json').send({ tasks: tasks.map(imageTaskView) });
      },
    },
  });

  route(app, '/tasks', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        s.authz.rule(req.ctx, 'tasks_api_access');
        const pairs = queryPairs(req);
        const q = parseTaskListQuery(pairs, s.config.api);
        const marker = q.marker ? await taskOr404(s.tasks, req.ctx, q.marker).catch(() => {
          throw badRequest(`Invalid marker: ${q.marker}`);
        }) : undefined;
        const tasks = await s.tasks.list({
          owner: req.ctx.isAdmin ? undefined : req.ctx.projectId,
          ...(q.status ? { status: q.status } : {}),
          ...(q.type ? { type: q.type } : {}),
          limit: q.limit,
          ...(marker ? { marker } : {}),
          sortKey: q.sortKey,
          sortDir: q.sortDir,
        });
        const keep = pairs.filter(([k]) => k !== 'marker');
        const query = new URLSearchParams(keep).toString();
        const body: Record<string, unknown> = {
          tasks: tasks.map(taskStubView),
          first: query ? `/v2/tasks?${query}` : '/v2/tasks',
          schema: '/v2/schemas/tasks',
        };
        if (tasks.length && tasks.length === q.limit) body.next = `/v2/tasks?${new URLSearchParams([...keep, ['marker', tasks[tasks.length - 1]!.id]])}`;
        return reply.type('application/json').send(body);
      },
    },
    POST: async (req, reply) => {
      s.authz.rule(req.ctx, 'tasks_api_access');
      const task = await s.importer.legacyTask(req.ctx, await readJson(req));
      return reply.code(201).header('Location', absolute(req, `/v2/tasks/${task.id}`)).type('application/json').send(taskView(task));
    },
  });

  route(app, '/tasks/:task_id', {
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        s.authz.rule(req.ctx, 'tasks_api_access');
        const task = await taskOr404(s.tasks, req.ctx, (req.params as { task_id: string }).task_id);
        return reply.type('application/json').send(taskView(task));
      },
    },
    DELETE: {
      noBody: true,
      handler: async (req) => {
        s.authz.rule(req.ctx, 'tasks_api_access');
        throw new ApiError(
          'method_not_allowed',
          'This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.',
          { Allow: 'GET' },
        );
      },
    },
  });
}
