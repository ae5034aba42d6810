// Interoperable image import, as Glance's api_image_import does it: POST
// /v2/images/{id}/import is validated and accepted here, then run as a task
// (run.ts) under the image's import lock (job.ts). The other entry points of
// the folder are wired here too: PUT /stage (stage.ts), the 2.17 locations API
// (locationImport.ts), legacy import tasks (legacyTask.ts) and recovery
// (janitor.ts). Unlike Glance, copies to several stores run in parallel.

import type { Config } from '../config/config.js';
import type { RequestContext } from '../auth/context.js';
import { badRequest, conflict } from '../errors/index.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import { UrlPolicyError, type UrlPolicy } from '../net/urlPolicy.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageAuthorizer } from '../images/authz.js';
import type { ImageRepository } from '../images/repository.js';
import type { LocationRules } from '../images/locations.js';
import type { ImageService, Relay } from '../images/service.js';
import type { Task, TaskRepository } from '../tasks/tasks.js';
import type { ImportPlugin } from './plugins.js';
import type { StagingArea } from './staging.js';
import type { StageHost } from './stageHost.js';
import { ImportJobs } from './job.js';
import { IMPORT_METHODS, ImportSources, type ImportMethod, type ImportRequest } from './sources.js';
import { ImportRunner } from './run.js';
import { Stager, stagingCheck } from './stage.js';
import { LocationImport } from './locationImport.js';
import { LegacyTasks } from './legacyTask.js';
import { ImportJanitor } from './janitor.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface ImporterDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  tasks: TaskRepository;
  stores: StoreRegistry;
  staging: StagingArea;
  authz: ImageAuthorizer;
  formatPolicy: ImageFormatPolicy;
  plugins: ImportPlugin[];
  /** [import_filtering_opts] for web-download and glance-download. */
  urlPolicy: UrlPolicy;
  locations: LocationRules;
  stageHost: StageHost;
}

export class Importer {
  private readonly jobs: ImportJobs;
  private readonly runner: ImportRunner;
  private readonly stager: Stager;
  private readonly locationImport: LocationImport;
  private readonly legacyTasks: LegacyTasks;
  private readonly janitor: ImportJanitor;

  constructor(private readonly d: ImporterDeps) {
    const lockTimeoutSeconds = d.config.imports.lockTimeoutSeconds;
    const check = stagingCheck(d.plugins, d.formatPolicy);
    this.jobs = new ImportJobs({ repo: d.repo, tasks: d.tasks, lockTimeoutSeconds });
    const sources = new ImportSources({ ...d, stagingCheck: check });
    this.runner = new ImportRunner({ ...d, jobs: this.jobs, sources });
    this.stager = new Stager({ ...d, stagingCheck: check });
    this.locationImport = new LocationImport({ ...d, jobs: this.jobs });
    this.legacyTasks = new LegacyTasks({ ...d, jobs: this.jobs, runner: this.runner });
    this.janitor = new ImportJanitor({ ...d, jobs: this.jobs, lockTimeoutSeconds });
  }

  /** PUT /v2/images/{id}/stage. */
  stage(ctx: RequestContext, id: string, body: AsyncIterable<Buffer>, opts: { declaredSize?: number; signal?: AbortSignal }): Promise<void> {
    return this.stager.stage(ctx, id, body, opts);
  }

  /** POST /v2/images/{id}/locations; returns the task id. */
  addLocation(ctx: RequestContext, id: string, raw: unknown): Promise<string> {
    return this.locationImport.start(ctx, id, raw);
  }

  /** POST /v2/tasks. */
  legacyTask(ctx: RequestContext, raw: unknown): Promise<Task> {
    return this.legacyTasks.create(ctx, raw);
  }

  /**
   * POST /v2/images/{id}/import: validates and accepts an import; returns the task id, or
   * undefined when there is nothing to do here: nothing to copy, or `relay` had the node holding
   * the staged data do it.
   */
  async start(ctx: RequestContext, id: string, rawBody: unknown, headerStore: string | undefined, relay?: Relay): Promise<string | undefined> {
    const body = parseRequest(rawBody, this.d.config.api.enabledImportMethods);
    const method = body.method.name;
    const { image, access } = await this.d.images.load(ctx, id);

    if (image.status === 'active' && method !== 'copy-image') throw conflict('Image with status active cannot be target for import');
    if (image.status !== 'active' && method === 'copy-image') throw conflict('Only images with status active can be targeted for copying');
    if (image.status !== 'queued' && (method === 'web-download' || method === 'glance-download')) {
      throw conflict(`Image needs to be in 'queued' state to use '${method}' method`);
    }
    if (image.status !== 'uploading' && method === 'glance-direct') throw conflict("Image needs to be staged before 'glance-direct' method can be used");
    if (!image.container_format) throw conflict("'container_format' needs to be set before import");
    if (!image.disk_format) throw conflict("'disk_format' needs to be set before import");
    if (method === 'glance-download') {
      if (!body.method.glance_region) throw badRequest("'glance_region' needs to be set for glance-download import method");
      if (!body.method.glance_image_id) throw badRequest("'glance_image_id' needs to be set for glance-download import method");
      if (!UUID.test(body.method.glance_image_id)) throw badRequest(`Remote image id does not look like a UUID: ${body.method.glance_image_id}`);
      body.method.glance_service_interface ??= 'public';
    }
    this.d.authz.enforce(ctx, image, method === 'copy-image' ? 'copy_image' : 'modify_image', access);
    if (method === 'glance-direct' && relay && (await relay(image))) return undefined;

    await this.jobs.clearStaleLock(image);

    let stores = this.storesFromRequest(body, headerStore);
    if (method === 'copy-image') {
      const present = new Set(image.locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string'));
      if (body.all_stores === true) {
        stores = stores.filter((s) => !present.has(s));
        if (stores.length === 0) return undefined; // already everywhere: Glance answers 202 and does nothing
      } else {
        for (const s of stores) if (present.has(s)) throw badRequest(`Image is already present at store '${s}'`);
      }
    }
    const allMustSucceed = body.all_stores_must_succeed ?? true;
    if (!allMustSucceed && !this.d.stores.multistore) throw badRequest('All_stores_must_succeed can only be set with enabled_backends');

    if (method === 'web-download') {
      const uri = body.method.uri;
      if (typeof uri !== 'string' || uri === '') throw badRequest('URI for web-download does not pass filtering: missing uri');
      try {
        // What can be judged without DNS here; the fetch checks resolved addresses and every redirect.
        await this.d.urlPolicy.checkWithoutDns(uri);
      } catch (e) {
        if (e instanceof UrlPolicyError) throw badRequest(`URI for web-download does not pass filtering: ${e.message}`);
        throw e;
      }
    }

    const task = await this.jobs.begin({
      type: 'api_image_import',
      owner: ctx.projectId,
      imageId: id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: { image_id: id, import_req: body, backend: stores },
    });
    this.runner.start({ taskId: task.id, imageId: id, method, request: body, stores, allMustSucceed, ctx });
    return task.id;
  }

  /** Glance's get_stores_from_request, with unknown stores as 409. */
  private storesFromRequest(body: ImportRequest, header: string | undefined): string[] {
    const reg = this.d.stores;
    // Without multistore there is one store; Glance ignores store choices then.
    if (!reg.multistore) return [reg.defaultStoreId];
    let stores: string[];
    if (body.all_stores) {
      if (body.stores !== undefined || header !== undefined) throw badRequest("All_stores parameter can't be used with x-image-meta-store header or stores parameter");
      stores = reg.all().filter((s) => s.capabilities.write && !s.id.startsWith('os_glance_')).map((s) => s.id);
    } else if (body.stores !== undefined) {
      if (header !== undefined) throw badRequest("Stores parameter and x-image-meta-store header can't be both specified");
      if (!Array.isArray(body.stores) || body.stores.some((s) => typeof s !== 'string')) throw badRequest('stores must be a list of store identifiers');
      stores = body.stores;
    } else {
      stores = [header ?? reg.defaultStoreId];
    }
    for (const s of stores) {
      const store = reg.get(s);
      if (!store) throw conflict(`Unknown scheme '${s}' found in URI`);
      if (!store.capabilities.write) throw conflict(`Store ${s} is read-only`);
    }
    return stores;
  }

  /** Starts recovery of imports that died (this node's and others'). */
  startJanitor(intervalMs?: number): void {
    this.janitor.start(intervalMs);
  }

  /** Stops the janitor and aborts imports in flight (their tasks fail over to the janitor of another node). */
  async close(): Promise<void> {
    this.janitor.stop();
    this.jobs.close();
  }
}

function parseRequest(raw: unknown, enabled: string[]): ImportRequest {
  if (raw === undefined) throw badRequest('Body expected in request.');
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest("Import request requires a 'method' field.");
  const body = raw as Record<string, unknown>;
  const method = body.method as Record<string, unknown> | undefined;
  if (method === undefined) throw badRequest("Import request requires a 'method' field.");
  if (method === null || typeof method !== 'object' || !('name' in method)) throw badRequest("Import request requires a 'name' field.");
  const name = method.name;
  if (typeof name !== 'string' || !enabled.includes(name) || !IMPORT_METHODS.includes(name as ImportMethod)) {
    throw badRequest(`Unknown import method name '${String(name)}'.`);
  }
  if ('all_stores_must_succeed' in body && typeof body.all_stores_must_succeed !== 'boolean') {
    throw badRequest("'all_stores_must_succeed' must be boolean value only");
  }
  if ('all_stores' in body && typeof body.all_stores !== 'boolean') throw badRequest("'all_stores' must be boolean value only");
  return body as unknown as ImportRequest;
}
