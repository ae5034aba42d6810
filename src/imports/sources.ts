// Where an import's bytes come from, one acquire() per import method:
// glance-direct finds them in staging, web-download and glance-download fetch
// them into staging (inspected and hashed on the way in), copy-image reads an
// existing copy of the image. Staged data goes through the plugins; a copy is
// streamed straight to the stores.

import type { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { endpointFromCatalog } from '../auth/catalog.js';
import { storeContext, type RequestContext } from '../auth/context.js';
import { ingestOptions } from '../data/ingest.js';
import { messageOf } from '../errors/index.js';
import { safeFetch, type SafeResponse } from '../net/safeFetch.js';
import type { UrlPolicy } from '../net/urlPolicy.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { Image, ImageLocation } from '../images/model.js';
import type { ImageRepository } from '../images/repository.js';
import type { ImageService } from '../images/service.js';
import type { Staged } from './plugins.js';
import type { StagingArea } from './staging.js';
import { STAGED_URL } from './job.js';
import type { StagingCheck } from './stage.js';

export const IMPORT_METHODS = ['glance-direct', 'web-download', 'glance-download', 'copy-image'] as const;
export type ImportMethod = (typeof IMPORT_METHODS)[number];

/** The body of POST /v2/images/{id}/import, once validated. */
export interface ImportRequest {
  method: { name: ImportMethod; uri?: string; glance_image_id?: string; glance_region?: string; glance_service_interface?: string };
  stores?: string[];
  all_stores?: boolean;
  all_stores_must_succeed?: boolean;
}

/** An accepted import, as its task runs it. */
export interface ImportJob {
  taskId: string;
  imageId: string;
  method: ImportMethod;
  request: ImportRequest;
  stores: string[];
  allMustSucceed: boolean;
  ctx: RequestContext;
}

/** The image's metadata before glance-download replaced it with the remote image's. */
export interface PreviousMetadata {
  properties: Record<string, string>;
  disk_format: string | null;
  container_format: string | null;
}

/** What acquiring did that a failed import undoes; filled in as it happens. */
export interface AcquireState {
  stagedUrl?: string | undefined;
  previous?: PreviousMetadata | undefined;
}

/** The bytes of an import: staged (plugins may replace them), or an existing copy of the image. */
export type Source = { staged: Staged; location?: undefined } | { staged?: undefined; location: ImageLocation };

export interface SourcesDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  stores: StoreRegistry;
  staging: StagingArea;
  /** [import_filtering_opts] for web-download and glance-download. */
  urlPolicy: UrlPolicy;
  stagingCheck: StagingCheck;
}

export class ImportSources {
  constructor(private readonly d: SourcesDeps) {}

  /** The bytes of `job`, by its method; `state` learns what must be undone if the import fails. */
  async acquire(job: ImportJob, image: Image, state: AcquireState, signal: AbortSignal): Promise<Source> {
    switch (job.method) {
      case 'glance-direct':
        return this.staged(image, state);
      case 'web-download':
        return this.webDownload(job, image, state, signal);
      case 'glance-download':
        return this.glanceDownload(job, image, state, signal);
      case 'copy-image':
        return this.existingCopy(image);
    }
  }

  /** Opens a source for one target store (each store reads its own stream). */
  async open(source: Source, ctx: RequestContext, signal: AbortSignal): Promise<{ stream: Readable; size: number }> {
    if (source.staged) return this.d.staging.open(source.staged.url, signal);
    const loc = source.location;
    return this.d.stores.forLocation(loc.url, loc.metadata).open(loc.url, { signal, context: storeContext(ctx) });
  }

  /** glance-direct: what PUT /stage left. */
  private async staged(image: Image, state: AcquireState): Promise<Source> {
    const url = image.properties[STAGED_URL];
    if (!url) throw new Error('The image has no staged data on this deployment');
    state.stagedUrl = url;
    return { staged: { url, size: image.size ?? 0 } };
  }

  private async webDownload(job: ImportJob, image: Image, state: AcquireState, signal: AbortSignal): Promise<Source> {
    return { staged: await this.fetchToStaging(job, image, job.request.method.uri!, {}, state, signal) };
  }

  /** glance-download: the remote image's metadata first, then its data, with the caller's token. */
  private async glanceDownload(job: ImportJob, image: Image, state: AcquireState, signal: AbortSignal): Promise<Source> {
    const remote = await this.remoteImage(job, signal);
    state.previous = { properties: { ...image.properties }, disk_format: image.disk_format, container_format: image.container_format };
    await this.adoptRemoteMetadata(job.imageId, remote.image);
    const adopted = await this.d.repo.get(job.imageId);
    if (!adopted) throw new Error('Image has been deleted, aborting import.');
    const headers = { 'X-Auth-Token': job.ctx.authToken ?? '' };
    return { staged: await this.fetchToStaging(job, adopted, remote.fileUrl, headers, state, signal, true) };
  }

  /** copy-image: the best copy the image has. */
  private async existingCopy(image: Image): Promise<Source> {
    const location = this.d.images.sortLocations(image.locations.filter((l) => l.status === 'active'))[0];
    if (!location) throw new Error('The image has no data to copy');
    return { location };
  }

  /** web-download / glance-download: the remote bytes into staging, inspected and hashed on the way. */
  private async fetchToStaging(
    job: ImportJob,
    image: Image,
    url: string,
    headers: Record<string, string>,
    state: AcquireState,
    signal: AbortSignal,
    trustedEndpoint = false,
  ): Promise<Staged> {
    const policy = trustedEndpoint ? this.d.urlPolicy.withOptions({ allowPrivate: true }) : this.d.urlPolicy;
    let res: SafeResponse;
    try {
      res = await safeFetch(url, { policy, headers, signal });
    } catch (e) {
      throw new Error(`Failed to fetch ${job.method} data: ${messageOf(e)}`);
    }
    if (res.status !== 200) {
      await res.dispose();
      throw new Error(`Failed to fetch ${job.method} data: HTTP ${res.status}`);
    }
    const declared = Number(res.headers['content-length']);
    const staged = await this.d.staging.stage(
      job.imageId,
      res.body as AsyncIterable<Buffer>,
      ingestOptions(this.d.config.api, {
        declaredSize: Number.isFinite(declared) && declared >= 0 ? declared : undefined,
        observers: [this.d.stagingCheck(image)],
        signal,
      }),
    );
    state.stagedUrl = staged.url;
    await this.d.repo.setProperties(job.imageId, { [STAGED_URL]: staged.url });
    return { url: staged.url, size: staged.size };
  }

  /** glance-download: the image's record on the other region's image service. */
  private async remoteImage(job: ImportJob, signal: AbortSignal): Promise<{ image: Record<string, unknown>; fileUrl: string }> {
    const m = job.request.method;
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
    await this.d.repo.transition(imageId, 'importing', 'importing', {
      fields: { disk_format: remote.disk_format as string, container_format: remote.container_format as string },
      setProperties: props,
    });
  }
}

async function streamText(s: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}
