// POST /v2/tasks: Glance's original task API. {type: "import", input:
// {import_from, import_from_format, image_properties}} creates an image and
// fills it from a URL. It runs as a web-download import, so the same URL policy
// applies (Glance bug 2152110 let it bypass the filter).

import type { RequestContext } from '../auth/context.js';
import { badRequest } from '../errors/index.js';
import { UrlPolicyError, type UrlPolicy } from '../net/urlPolicy.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageService } from '../images/service.js';
import type { Task } from '../tasks/tasks.js';
import type { ImportJobs } from './job.js';
import type { ImportRunner } from './run.js';

export interface LegacyTaskDeps {
  images: ImageService;
  stores: StoreRegistry;
  urlPolicy: UrlPolicy;
  jobs: ImportJobs;
  runner: ImportRunner;
}

export class LegacyTasks {
  constructor(private readonly d: LegacyTaskDeps) {}

  async create(ctx: RequestContext, raw: unknown): Promise<Task> {
    if (raw === undefined) throw badRequest('Body expected in request.');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest("Task 'type' is required");
    const body = raw as Record<string, unknown>;
    for (const k of ['type', 'input']) if (!(k in body)) throw badRequest(`Task '${k}' is required`);
    if (body.type !== 'import') throw badRequest(`Invalid type value: ${String(body.type)}`);
    const input = body.input as Record<string, unknown> | null;
    if (!input || typeof input !== 'object') throw badRequest('Input is required for an import task');
    const from = input.import_from;
    const format = input.import_from_format;
    const props = (input.image_properties ?? {}) as Record<string, unknown>;
    if (typeof from !== 'string' || !from) throw badRequest('Input does not contain import_from');
    if (typeof format !== 'string' || !format) throw badRequest('Input does not contain import_from_format');
    if (typeof props !== 'object' || Array.isArray(props)) throw badRequest('image_properties must be an object');
    try {
      await this.d.urlPolicy.checkWithoutDns(from);
    } catch (e) {
      if (e instanceof UrlPolicyError) throw badRequest(`URI for import does not pass filtering: ${e.message}`);
      throw e;
    }
    const image = await this.d.images.create(ctx, { ...props, disk_format: format, container_format: props.container_format ?? 'bare' });
    const task = await this.d.jobs.begin({
      type: 'import',
      owner: ctx.projectId,
      imageId: image.id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input,
    });
    this.d.runner.start({
      taskId: task.id,
      imageId: image.id,
      method: 'web-download',
      request: { method: { name: 'web-download', uri: from } },
      stores: [this.d.stores.defaultStoreId],
      allMustSucceed: true,
      ctx,
    });
    return task;
  }
}
