// Interoperable image import (POST /v2/images/{id}/import) and staging
// (PUT /stage), as Glance's api_image_import flow does it: one import at a time
// per image (the os_glance_import_task lock), progress in
// os_glance_importing_to_stores / os_glance_failed_import and on the task, the
// image back to `queued` (or left `active` for copy-image) when it fails, and
// nothing left behind in staging or the stores. Unlike Glance, copies to
// several stores run in parallel, the lock lapses when its worker stops
// heartbeating rather than after an hour, and every byte that reaches a store
// goes through the shared ingest pipeline (hashes, limits, format inspection).

import type { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { endpointFromCatalog } from '../auth/catalog.js';
import { storeContext, type RequestContext } from '../auth/context.js';
import { badRequest, conflict, forbidden, HttpError, notFound } from '../http/errors.js';
import { ingest, type IngestResult } from '../data/ingest.js';
import { hashStream } from '../data/hashing.js';
import { FormatCheck, FormatRejectedError } from '../data/formatCheck.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import { safeFetch, type SafeResponse } from '../net/safeFetch.js';
import { UrlPolicyError, type UrlPolicy } from '../net/urlPolicy.js';
import type { StoreRegistry } from '../stores/registry.js';
import { StoreError, type Store } from '../stores/store.js';
import type { ImageAuthorizer } from '../images/authz.js';
import type { Image, ImageLocation } from '../images/model.js';
import type { ImageRepository } from '../images/repository.js';
import type { LocationRules } from '../images/locations.js';
import { uploadError, type ImageService, type Relay } from '../images/service.js';
import type { Task, TaskRepository } from '../tasks/tasks.js';
import type { ImportPlugin, Staged } from './plugins.js';
import type { StagingArea } from './staging.js';
import { STAGE_HOST, type StageHost } from './stageHost.js';

export const LOCK = 'os_glance_import_task';
export const IMPORTING = 'os_glance_importing_to_stores';
export const FAILED = 'os_glance_failed_import';
const STAGED_URL = 'os_glance_staged_url';
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEARTBEAT_MS = 5_000;

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

interface ImportRequest {
  method: { name: string; uri?: string; glance_image_id?: string; glance_region?: string; glance_service_interface?: string };
  stores?: string[];
  all_stores?: boolean;
  all_stores_must_succeed?: boolean;
}

/** What a running import needs to know, captured when it was accepted. */
interface Job {
  taskId: string;
  imageId: string;
  method: string;
  body: ImportRequest;
  stores: string[];
  allMustSucceed: boolean;
  ctx: RequestContext;
}

export class Importer {
  private readonly running = new Map<string, AbortController>();
  private janitor: NodeJS.Timeout | undefined;

  constructor(private readonly d: ImporterDeps) {}

  // ---- PUT /v2/images/{id}/stage -------------------------------------------------------------

  async stage(ctx: RequestContext, id: string, body: AsyncIterable<Buffer>, opts: { declaredSize?: number; signal?: AbortSignal }): Promise<void> {
    if (!this.d.config.api.enabledImportMethods.includes('glance-direct')) {
      throw notFound("'glance-direct' method is not available at this site.");
    }
    const { image, access } = await this.d.images.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'modify_image', access);
    if (image.status !== 'queued') throw conflict(`Image status transition from ${image.status} to uploading is not allowed`);
    if (!(await this.d.repo.save(id, { base: { status: 'uploading' } }, ['queued']))) {
      throw conflict(`Image status transition from ${(await this.d.repo.get(id))?.status ?? 'deleted'} to uploading is not allowed`);
    }
    let staged: IngestResult;
    try {
      staged = await this.d.staging.stage(id, body, {
        hashAlgorithm: this.d.config.api.hashingAlgorithm,
        sizeCap: this.d.config.api.imageSizeCap,
        declaredSize: opts.declaredSize,
        observers: [this.stagingCheck(image)],
        signal: opts.signal,
      });
    } catch (e) {
      await this.d.repo.save(id, { base: { status: 'queued' } }, ['uploading']);
      if (e instanceof StoreError && e.kind === 'duplicate') throw conflict(`The image ${id} has data on staging`);
      throw uploadError(e);
    }
    const saved = await this.d.repo.save(
      id,
      {
        base: { size: staged.size },
        setProperties: {
          [STAGED_URL]: staged.url,
          // only this node can read its own staging folder: other nodes relay the import here
          ...(this.d.staging.local ? this.d.stageHost.record() : {}),
        },
      },
      ['uploading'],
    );
    if (!saved) {
      await this.d.staging.remove(staged.url);
      throw conflict(`Image ${id} changed while its data was being staged`);
    }
  }

  /**
   * Inspection of data entering staging. Safety always; the disk_format match too, unless a
   * decompression plugin will turn the staged data into something else first (its output is
   * inspected again, and everything is inspected once more on its way into a store).
   */
  private stagingCheck(image: Image): FormatCheck {
    const transforms = this.d.plugins.some((p) => p.name === 'image_decompression');
    return new FormatCheck(transforms ? null : image.disk_format, image.container_format, this.d.formatPolicy);
  }

  // ---- POST /v2/images/{id}/import -----------------------------------------------------------

  /**
   * Validates and accepts an import; returns the task id, or undefined when there is nothing to
   * do here: nothing to copy, or `relay` had the node holding the staged data do it.
   */
  async start(ctx: RequestContext, id: string, rawBody: unknown, headerStore: string | undefined, relay?: Relay): Promise<string | undefined> {
    const body = validateBody(rawBody, this.d.config.api.enabledImportMethods);
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

    const lockHolder = image.properties[LOCK];
    if (lockHolder !== undefined) await this.bustIfStale(image, lockHolder);

    let stores = this.storesFromRequest(body, headerStore);
    const allStores = body.all_stores === true;
    if (method === 'copy-image') {
      const present = new Set(image.locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string'));
      if (allStores) {
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

    const task = await this.d.tasks.create({
      type: 'api_image_import',
      owner: ctx.projectId,
      imageId: id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: { image_id: id, import_req: body, backend: stores },
    });
    if (!(await this.d.repo.setPropertyAtomic(id, LOCK, task.id))) {
      await this.d.tasks.transition(task.id, 'failure', { message: 'Another operation holds the image' });
      throw conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
    }
    const job: Job = { taskId: task.id, imageId: id, method, body, stores, allMustSucceed, ctx };
    void this.run(job);
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

  /** Glance's _enforce_import_lock: a lock whose task vanished or stopped heartbeating is taken over. */
  private async bustIfStale(image: Image, holder: string): Promise<void> {
    const task = await this.d.tasks.get(holder);
    const staleBefore = Date.now() - this.d.config.imports.lockTimeoutSeconds * 1000;
    const live = task && (task.status === 'pending' || task.status === 'processing') && Date.parse(task.updated_at) >= staleBefore;
    if (live) throw conflict(`New operation on image '${image.id}' is not permitted as prior operation is still in progress`);
    if (task && (task.status === 'pending' || task.status === 'processing')) {
      await this.d.tasks.transition(task.id, 'failure', { message: 'Expired lock preempted' });
    }
    if (!(await this.d.repo.deletePropertyAtomic(image.id, LOCK, holder))) throw conflict('Image has active task');
    if (task) await this.cleanupProgress(image.id, (task.input?.backend as string[] | undefined) ?? []);
  }

  private async cleanupProgress(imageId: string, stores: string[]): Promise<void> {
    const image = await this.d.repo.get(imageId);
    if (!image) return;
    const strip = (key: string) => {
      const v = image.properties[key];
      return v === undefined ? undefined : v.split(',').filter((s) => s && !stores.includes(s)).join(',');
    };
    await this.d.repo.setProperties(imageId, { [IMPORTING]: strip(IMPORTING), [FAILED]: strip(FAILED) });
  }

  // ---- the import itself ---------------------------------------------------------------------

  private async run(job: Job): Promise<void> {
    const abort = new AbortController();
    this.running.set(job.taskId, abort);
    let copied = 0;
    const beat = setInterval(() => {
      void this.d.tasks.touch(job.taskId, `Copied ${Math.floor(copied / (1 << 20))} MiB`).then((ok) => ok || abort.abort(new Error('The task was preempted')));
    }, HEARTBEAT_MS);
    const written: { store: Store; url: string }[] = [];
    const failedStores: string[] = [];
    let previous: { properties: Record<string, string>; disk_format: string | null; container_format: string | null } | undefined;
    let stagedUrl: string | undefined;
    let activated = false;
    try {
      if (!(await this.d.tasks.transition(job.taskId, 'processing'))) throw new Error('The task was preempted');
      let image = await this.mustGet(job.imageId);
      const copy = job.method === 'copy-image';
      if (!copy) {
        if (!(await this.d.repo.save(job.imageId, { base: { status: 'importing' } }, ['queued', 'uploading']))) {
          throw new Error(`Image ${job.imageId} is not in a state to import into`);
        }
      }
      await this.d.repo.setProperties(job.imageId, { [IMPORTING]: job.stores.join(','), [FAILED]: '' });

      // 1. The data: staged (glance-direct), fetched into staging, or an existing copy.
      let staged: Staged | undefined;
      let source: ImageLocation | undefined;
      if (job.method === 'glance-direct') {
        stagedUrl = image.properties[STAGED_URL];
        if (!stagedUrl) throw new Error('The image has no staged data on this deployment');
        staged = { url: stagedUrl, size: image.size ?? 0 };
      } else if (job.method === 'web-download') {
        staged = await this.fetchToStaging(job, image, job.body.method.uri!, {}, abort.signal);
        stagedUrl = staged.url;
      } else if (job.method === 'glance-download') {
        const remote = await this.remoteImage(job, abort.signal);
        previous = { properties: { ...image.properties }, disk_format: image.disk_format, container_format: image.container_format };
        await this.adoptRemoteMetadata(job.imageId, remote.image);
        image = await this.mustGet(job.imageId);
        staged = await this.fetchToStaging(job, image, remote.fileUrl, { 'X-Auth-Token': job.ctx.authToken ?? '' }, abort.signal, true);
        stagedUrl = staged.url;
      } else {
        source = this.d.images.sortLocations(image.locations.filter((l) => l.status === 'active'))[0];
        if (!source) throw new Error('The image has no data to copy');
      }

      // 2. Plugins on the staged data (never on a copy).
      if (staged && this.d.plugins.length) {
        staged = await this.runPlugins(job, staged, abort.signal);
        stagedUrl = staged.url;
        image = await this.mustGet(job.imageId);
      }

      // 3. Every target store, in parallel.
      const results = await Promise.allSettled(
        job.stores.map(async (storeId, index) => {
          const store = this.d.stores.get(storeId)!;
          const open = async (): Promise<{ stream: Readable; size: number }> =>
            staged
              ? this.d.staging.open(staged.url, abort.signal)
              : this.d.stores.forLocation(source!.url, source!.metadata).open(source!.url, { signal: abort.signal, context: storeContext(job.ctx) });
          const { stream, size } = await open();
          const counting = countBytes(stream as AsyncIterable<Buffer>, (n) => (copied += n));
          const writer = await store.createWriter(job.imageId, { sizeHint: size, signal: abort.signal, context: storeContext(job.ctx) });
          // Copies are inspected too: data that came in as a location was never inspected.
          const format = new FormatCheck(image.disk_format, image.container_format, this.d.formatPolicy);
          const result = await ingest(counting, writer, {
            hashAlgorithm: this.d.config.api.hashingAlgorithm,
            sizeCap: this.d.config.api.imageSizeCap,
            observers: [format],
            signal: abort.signal,
          });
          written.push({ store, url: result.url });
          if (copy && image.checksum && result.checksum !== image.checksum) {
            throw new Error(`the copy in ${storeId} does not match the image checksum`);
          }
          return { storeId, index, result, virtualSize: format.virtualSize };
        }),
      );

      const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      results.forEach((r, i) => {
        if (r.status === 'rejected') failedStores.push(job.stores[i]!);
      });
      if (failedStores.length && job.allMustSucceed) {
        const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason;
        throw why instanceof Error ? why : new Error(String(why));
      }
      if (done.length === 0) throw new Error('None of the uploads finished!');

      // 4. Record the new locations (in the order the stores were asked for) and activate.
      const firstDone = done.sort((a, b) => a.index - b.index)[0]!;
      const first = firstDone.result;
      const locations = [
        ...this.d.images.sortLocations((await this.mustGet(job.imageId)).locations),
        ...done.map(({ result }) => ({ url: result.url, metadata: result.metadata, status: 'active' })),
      ];
      const base: Parameters<ImageRepository['save']>[1]['base'] = copy
        ? {}
        : {
            status: 'active',
            size: first.size,
            virtual_size: firstDone.virtualSize,
            checksum: first.checksum,
            os_hash_algo: first.hashAlgorithm,
            os_hash_value: first.hashValue,
          };
      const saved = await this.d.repo.save(
        job.imageId,
        { base, locations, setProperties: { [IMPORTING]: '', [FAILED]: failedStores.join(',') }, removeProperties: [STAGED_URL, STAGE_HOST] },
        copy ? ['active'] : ['importing'],
      );
      if (!saved) throw new Error('The image was deleted or changed during the import');
      activated = true;
      await this.d.staging.remove(stagedUrl).catch(() => undefined);
      await this.d.tasks.transition(job.taskId, 'success', { result: { image_id: job.imageId }, message: `Copied ${Math.floor(copied / (1 << 20))} MiB` });
    } catch (e) {
      const message = errorMessage(e);
      if (!activated) await this.revert(job, written, failedStores, previous, stagedUrl).catch((err) => console.error(`imago: reverting import ${job.taskId}:`, err));
      await this.d.tasks.transition(job.taskId, 'failure', { message });
    } finally {
      clearInterval(beat);
      this.running.delete(job.taskId);
      await this.d.repo.deletePropertyAtomic(job.imageId, LOCK, job.taskId).catch(() => undefined);
    }
  }

  /** Undoes a failed import: written copies removed, the image back to queued (copy-image leaves it active). */
  private async revert(
    job: Job,
    written: { store: Store; url: string }[],
    failed: string[],
    previous: { properties: Record<string, string>; disk_format: string | null; container_format: string | null } | undefined,
    stagedUrl: string | undefined,
  ): Promise<void> {
    for (const w of written) await w.store.delete(w.url).catch(() => undefined);
    const image = await this.d.repo.get(job.imageId);
    if (!image) return;
    const failedStores = [...new Set([...failed, ...job.stores.filter((s) => !written.some((w) => w.store.id === s))])];
    const props: Record<string, string | undefined> = { [IMPORTING]: '', [FAILED]: failedStores.join(',') };
    if (job.method !== 'copy-image') {
      props[STAGED_URL] = undefined;
      props[STAGE_HOST] = undefined;
      if (previous) {
        for (const k of Object.keys(image.properties)) if (!(k in previous.properties) && !k.startsWith('os_glance')) props[k] = undefined;
        for (const [k, v] of Object.entries(previous.properties)) if (!k.startsWith('os_glance')) props[k] = v;
      }
      await this.d.repo.save(
        job.imageId,
        { base: { status: 'queued', size: null, ...(previous ? { disk_format: previous.disk_format, container_format: previous.container_format } : {}) } },
        ['importing', 'uploading'],
      );
      await this.d.staging.remove(stagedUrl);
    }
    await this.d.repo.setProperties(job.imageId, props);
  }

  private async mustGet(id: string): Promise<Image> {
    const image = await this.d.repo.get(id);
    if (!image) throw new Error('Image has been deleted, aborting import.');
    return image;
  }

  /** web-download / glance-download: the remote bytes into staging, inspected and hashed on the way. */
  private async fetchToStaging(job: Job, image: Image, url: string, headers: Record<string, string>, signal: AbortSignal, trustedEndpoint = false): Promise<Staged> {
    const policy = trustedEndpoint ? this.d.urlPolicy.withOptions({ allowPrivate: true }) : this.d.urlPolicy;
    let res: SafeResponse;
    try {
      res = await safeFetch(url, { policy, headers, signal });
    } catch (e) {
      throw new Error(`Failed to fetch ${job.method} data: ${errorMessage(e)}`);
    }
    if (res.status !== 200) {
      await res.dispose();
      throw new Error(`Failed to fetch ${job.method} data: HTTP ${res.status}`);
    }
    const declared = Number(res.headers['content-length']);
    const staged = await this.d.staging.stage(job.imageId, res.body as AsyncIterable<Buffer>, {
      hashAlgorithm: this.d.config.api.hashingAlgorithm,
      sizeCap: this.d.config.api.imageSizeCap,
      declaredSize: Number.isFinite(declared) && declared >= 0 ? declared : undefined,
      observers: [this.stagingCheck(image)],
      signal,
    });
    await this.d.repo.setProperties(job.imageId, { [STAGED_URL]: staged.url });
    return { url: staged.url, size: staged.size };
  }

  /** glance-download: the image's record on the other region's image service. */
  private async remoteImage(job: Job, signal: AbortSignal): Promise<{ image: Record<string, unknown>; fileUrl: string }> {
    const m = job.body.method;
    const endpoint = endpointFromCatalog(job.ctx.catalog, { serviceType: 'image', endpointType: m.glance_service_interface ?? 'public', region: m.glance_region });
    if (!endpoint) throw new Error(`No image service endpoint for region ${m.glance_region} (${m.glance_service_interface}) in the service catalog`);
    const base = endpoint.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
    const policy = this.d.urlPolicy.withOptions({ allowPrivate: true });
    const res = await safeFetch(`${base}/v2/images/${m.glance_image_id}`, { policy, headers: { 'X-Auth-Token': job.ctx.authToken ?? '', Accept: 'application/json' }, signal });
    const text = await streamText(res.body);
    if (res.status !== 200) throw new Error(`The remote image ${m.glance_image_id} could not be read: HTTP ${res.status}`);
    const remote = JSON.parse(text) as Record<string, unknown>;
    if (remote.status !== 'active') throw new Error(`The remote image is ${String(remote.status)}, not active`);
    return { image: remote, fileUrl: `${base}/v2/images/${m.glance_image_id}/file` };
  }

  /** Copies the remote image's formats and the properties [glance_download_properties] names. */
  private async adoptRemoteMetadata(imageId: string, remote: Record<string, unknown>): Promise<void> {
    const prefixes = this.d.config.imports.glanceDownloadProperties;
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(remote)) {
      if (typeof v === 'string' && prefixes.some((p) => k.startsWith(p))) props[k] = v;
    }
    await this.d.repo.save(
      imageId,
      { base: { disk_format: remote.disk_format as string, container_format: remote.container_format as string }, setProperties: props },
      ['importing'],
    );
  }

  private async runPlugins(job: Job, staged: Staged, signal: AbortSignal): Promise<Staged> {
    let image = await this.mustGet(job.imageId);
    let generation = 0;
    for (const plugin of this.d.plugins) {
      const props: Record<string, string> = {};
      let diskFormat = image.disk_format!;
      const current = staged;
      const next = await plugin.run(current, {
        imageId: job.imageId,
        diskFormat,
        containerFormat: image.container_format!,
        roles: job.ctx.roles,
        staging: this.d.staging,
        formatPolicy: this.d.formatPolicy,
        signal,
        restage: async (src, format) => {
          // What a plugin produced is inspected before anything else reads it (qemu-img included).
          const r = await this.d.staging.stage(`${job.imageId}.${++generation}`, src, {
            hashAlgorithm: this.d.config.api.hashingAlgorithm,
            sizeCap: this.d.config.api.imageSizeCap,
            observers: [new FormatCheck(format ?? diskFormat, image.container_format, this.d.formatPolicy)],
            signal,
          });
          return { url: r.url, size: r.size };
        },
        setDiskFormat: (f) => (diskFormat = f),
        setProperties: (p) => Object.assign(props, p),
      });
      if (next) {
        await this.d.staging.remove(current.url);
        staged = next;
        await this.d.repo.setProperties(job.imageId, { [STAGED_URL]: staged.url });
      }
      if (diskFormat !== image.disk_format || Object.keys(props).length) {
        await this.d.repo.save(job.imageId, { base: { disk_format: diskFormat }, setProperties: props }, ['importing']);
        image = await this.mustGet(job.imageId);
      }
    }
    return staged;
  }

  // ---- POST /v2/images/{id}/locations (API 2.17) -----------------------------------------------

  /**
   * Glance 2024.2's location API for Nova/Cinder and owners: a location for a
   * queued image, hashed in the background (do_secure_hash) and checked
   * against validation_data before the image goes active.
   */
  async addLocation(ctx: RequestContext, id: string, raw: unknown): Promise<string> {
    if (raw === undefined) throw badRequest('Body expected in request.');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Request body must be a JSON object');
    const body = raw as { url?: unknown; validation_data?: unknown };
    if (typeof body.url !== 'string' || body.url === '') throw badRequest("'url' is required");
    let validation: { os_hash_algo: string; os_hash_value: string } | undefined;
    if (body.validation_data !== undefined) {
      const v = body.validation_data as Record<string, unknown> | null;
      if (!v || typeof v !== 'object' || typeof v.os_hash_algo !== 'string' || typeof v.os_hash_value !== 'string') {
        throw badRequest('validation_data needs both os_hash_algo and os_hash_value');
      }
      if (!['sha1', 'sha256', 'sha512', 'md5'].includes(v.os_hash_algo)) throw badRequest(`Unsupported os_hash_algo: ${v.os_hash_algo}`);
      if (!/^[0-9a-fA-F]+$/.test(v.os_hash_value)) throw badRequest('os_hash_value is not a hexadecimal value');
      validation = { os_hash_algo: v.os_hash_algo, os_hash_value: v.os_hash_value.toLowerCase() };
    }
    const { image, access } = await this.d.images.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'add_image_location', access);
    const scheme = body.url.slice(0, Math.max(0, body.url.indexOf(':'))).toLowerCase();
    const service = ctx.roles.includes('service') || ctx.serviceRoles.includes('service');
    if (!service && scheme !== 'http' && scheme !== 'https') throw forbidden('Only services may add locations outside the http store');
    if (image.status !== 'queued') throw conflict(`It's not allowed to add locations if image status is ${image.status}.`);
    if (image.properties[LOCK] !== undefined) await this.bustIfStale(image, image.properties[LOCK]!);
    await this.d.locations.check({ url: body.url, metadata: {} });
    const task = await this.d.tasks.create({
      type: 'location_import',
      owner: ctx.projectId,
      imageId: id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: { image_id: id, loc_url: body.url, validation_data: validation ?? {} },
    });
    if (!(await this.d.repo.setPropertyAtomic(id, LOCK, task.id))) {
      await this.d.tasks.transition(task.id, 'failure', { message: 'Another operation holds the image' });
      throw conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
    }
    void this.runLocationImport(task.id, id, body.url, validation);
    return task.id;
  }

  private async runLocationImport(taskId: string, imageId: string, url: string, validation: { os_hash_algo: string; os_hash_value: string } | undefined): Promise<void> {
    const abort = new AbortController();
    this.running.set(taskId, abort);
    const beat = setInterval(() => void this.d.tasks.touch(taskId).then((ok) => ok || abort.abort()), HEARTBEAT_MS);
    const algo = validation?.os_hash_algo ?? this.d.config.api.hashingAlgorithm;
    let added = false;
    try {
      if (!(await this.d.tasks.transition(taskId, 'processing'))) throw new Error('The task was preempted');
      const loc = this.d.locations.withStore({ url, metadata: {} });
      const size = await this.d.locations.check({ url, metadata: {} });
      const secure = this.d.config.imports.doSecureHash;
      // With validation data the image stays `importing` until the bytes are proven; without, it is usable at once.
      const status = secure && validation ? 'importing' : 'active';
      if (!(await this.d.repo.save(imageId, { base: { status, size, ...(secure ? {} : validation ?? {}) }, locations: [loc] }, ['queued']))) {
        throw new Error('The image is no longer queued');
      }
      added = true;
      if (secure) {
        const image = await this.mustGet(imageId);
        const sums = await this.hashLocation(loc, algo, abort.signal, () => new FormatCheck(image.disk_format, image.container_format, this.d.formatPolicy));
        if (validation && sums.value !== validation.os_hash_value) {
          throw new Error(`os_hash_value: (${validation.os_hash_value}) not matched with actual os_hash_value: (${sums.value})`);
        }
        await this.d.repo.save(imageId, { base: { status: 'active', checksum: sums.md5, os_hash_algo: algo, os_hash_value: sums.value } }, [status]);
      }
      await this.d.tasks.transition(taskId, 'success', { result: { image_id: imageId } });
    } catch (e) {
      if (added) {
        await this.d.repo.save(imageId, { base: { status: 'queued', size: null, checksum: null, os_hash_algo: null, os_hash_value: null }, locations: [] }, ['importing', 'active']);
      }
      await this.d.tasks.transition(taskId, 'failure', { message: errorMessage(e) });
    } finally {
      clearInterval(beat);
      this.running.delete(taskId);
      await this.d.repo.deletePropertyAtomic(imageId, LOCK, taskId).catch(() => undefined);
    }
  }

  /** md5 and the chosen multihash of a location's bytes, retried as Glance's http_retries. */
  private async hashLocation(
    loc: { url: string; metadata: Record<string, unknown> },
    algo: string,
    signal: AbortSignal,
    newCheck: () => FormatCheck,
  ): Promise<{ md5: string; value: string }> {
    let last: unknown;
    for (let attempt = 0; attempt <= this.d.config.imports.httpRetries; attempt++) {
      const inspect = newCheck();
      try {
        const { stream } = await this.d.stores.forLocation(loc.url, loc.metadata).open(loc.url, { signal });
        const { digests } = await hashStream(stream as AsyncIterable<Buffer>, algo === 'md5' ? ['md5'] : ['md5', algo], (c) => inspect.feed(c));
        // The bytes behind a location are inspected like an upload before the image goes active.
        inspect.finish();
        return { md5: digests.md5!, value: digests[algo]! };
      } catch (e) {
        if (e instanceof FormatRejectedError) throw e;
        last = e;
        if (signal.aborted) break;
      }
    }
    throw new Error(`Hash calculation failed for image data: ${errorMessage(last)}`);
  }

  // ---- POST /v2/tasks (the legacy `import` task) ----------------------------------------------

  /**
   * Glance's original task API: {type: "import", input: {import_from, import_from_format,
   * image_properties}} creates an image and fills it from a URL. It runs the web-download
   * path, so the same URL policy applies (Glance bug 2152110 let it bypass the filter).
   */
  async legacyTask(ctx: RequestContext, raw: unknown): Promise<Task> {
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
    const task = await this.d.tasks.create({
      type: 'import',
      owner: ctx.projectId,
      imageId: image.id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: body.input as object,
    });
    if (!(await this.d.repo.setPropertyAtomic(image.id, LOCK, task.id))) throw conflict(`Image ${image.id} is busy`);
    const job: Job = {
      taskId: task.id,
      imageId: image.id,
      method: 'web-download',
      body: { method: { name: 'web-download', uri: from } },
      stores: [this.d.stores.defaultStoreId],
      allMustSucceed: true,
      ctx,
    };
    void this.run(job);
    return task;
  }

  // ---- recovery ------------------------------------------------------------------------------

  /** Fails imports whose worker stopped heartbeating, reverts their images, drops their locks. */
  async recoverStale(): Promise<number> {
    const before = new Date(Date.now() - this.d.config.imports.lockTimeoutSeconds * 1000).toISOString();
    const stale = (await this.d.tasks.stale(before)).filter((t) => !this.running.has(t.id));
    for (const task of stale) {
      if (!(await this.d.tasks.transition(task.id, 'failure', { message: 'The import stopped: its worker no longer reports progress' }))) continue;
      const image = task.image_id ? await this.d.repo.get(task.image_id) : undefined;
      if (!image || image.properties[LOCK] !== task.id) continue;
      const input = (task.input ?? {}) as { import_req?: ImportRequest; backend?: string[] };
      const method = input.import_req?.method?.name ?? '';
      if (method !== 'copy-image' && image.status === 'importing') {
        for (const loc of image.locations) {
          await this.d.stores.forLocation(loc.url, loc.metadata).delete(loc.url).catch(() => undefined);
        }
        await this.d.repo.save(image.id, { base: { status: 'queued', size: null }, locations: [] }, ['importing']);
        await this.d.staging.remove(image.properties[STAGED_URL]).catch(() => undefined);
        await this.d.repo.setProperties(image.id, { [STAGED_URL]: undefined, [STAGE_HOST]: undefined });
      }
      // The dead worker's half-written bytes: staged data and store writes of this image.
      await this.d.staging.abandon(image.id).catch(() => undefined);
      for (const id of input.backend ?? []) await this.d.stores.get(id)?.abandon?.(image.id).catch(() => undefined);
      await this.d.repo.setProperties(image.id, { [IMPORTING]: '', [FAILED]: (input.backend ?? []).join(',') });
      await this.d.repo.deletePropertyAtomic(image.id, LOCK, task.id);
    }
    await this.d.tasks.purgeExpired();
    for (const s of [...this.d.stores.all(), this.d.staging.store]) await s.sweep?.().catch(() => undefined);
    // Staged data of images that are gone, e.g. deleted on another node while this one was
    // down (Glance's staging cleaner)
    for (const s of await this.d.staging.stagedFiles()) {
      if (!(await this.d.repo.get(s.imageId))) await this.d.staging.remove(s.url).catch(() => undefined);
    }
    return stale.length;
  }

  startJanitor(intervalMs = 30_000): void {
    const tick = () => void this.recoverStale().catch((e) => console.error('imago: import janitor:', e));
    tick();
    this.janitor = setInterval(tick, intervalMs);
    this.janitor.unref();
  }

  /** Stops the janitor and aborts imports in flight (their tasks fail over to the janitor of another node). */
  async close(): Promise<void> {
    if (this.janitor) clearInterval(this.janitor);
    for (const a of this.running.values()) a.abort(new Error('The server is shutting down'));
  }
}

function validateBody(raw: unknown, enabled: string[]): ImportRequest {
  if (raw === undefined) throw badRequest('Body expected in request.');
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest("Import request requires a 'method' field.");
  const body = raw as Record<string, unknown>;
  const method = body.method as Record<string, unknown> | undefined;
  if (method === undefined) throw badRequest("Import request requires a 'method' field.");
  if (method === null || typeof method !== 'object' || !('name' in method)) throw badRequest("Import request requires a 'name' field.");
  const name = method.name;
  if (typeof name !== 'string' || !enabled.includes(name)) throw badRequest(`Unknown import method name '${String(name)}'.`);
  if ('all_stores_must_succeed' in body && typeof body.all_stores_must_succeed !== 'boolean') {
    throw badRequest("'all_stores_must_succeed' must be boolean value only");
  }
  if ('all_stores' in body && typeof body.all_stores !== 'boolean') throw badRequest("'all_stores' must be boolean value only");
  return body as unknown as ImportRequest;
}

async function* countBytes(src: AsyncIterable<Buffer>, add: (n: number) => void): AsyncIterable<Buffer> {
  for await (const c of src) {
    add(c.length);
    yield c;
  }
}

async function streamText(s: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

function errorMessage(e: unknown): string {
  if (e instanceof HttpError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
