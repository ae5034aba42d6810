// POST /v2/images/{id}/locations (API 2.17): Glance 2024.2's location API for
// Nova, Cinder and image owners. A queued image gets a location; with
// do_secure_hash its bytes are read in the background, inspected like an
// upload, hashed, and checked against validation_data before the image goes
// active. Any failure takes the location away and leaves the image queued; the
// data behind the location is the caller's and is never deleted.

import type { Config } from '../config/config.js';
import type { RequestContext } from '../auth/context.js';
import { badRequest, conflict, forbidden, FormatRejectedError, messageOf } from '../errors/index.js';
import { hashStream } from '../data/hashing.js';
import { FormatCheck } from '../data/formatCheck.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageAuthorizer } from '../images/authz.js';
import type { ImageRepository } from '../images/repository.js';
import type { LocationRules } from '../images/locations.js';
import type { ImageService } from '../images/service.js';
import type { ImportJobs, Outcome, Running } from './job.js';

const HASH_ALGORITHMS = ['sha1', 'sha256', 'sha512', 'md5'];

interface Validation {
  os_hash_algo: string;
  os_hash_value: string;
}

export interface LocationImportDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  authz: ImageAuthorizer;
  stores: StoreRegistry;
  formatPolicy: ImageFormatPolicy;
  locations: LocationRules;
  jobs: ImportJobs;
}

export class LocationImport {
  constructor(private readonly d: LocationImportDeps) {}

  /** Validates and accepts the request; returns the task id. */
  async start(ctx: RequestContext, id: string, raw: unknown): Promise<string> {
    if (raw === undefined) throw badRequest('Body expected in request.');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Request body must be a JSON object');
    const body = raw as { url?: unknown; validation_data?: unknown };
    if (typeof body.url !== 'string' || body.url === '') throw badRequest("'url' is required");
    const url = body.url;
    let validation: Validation | undefined;
    if (body.validation_data !== undefined) {
      const v = body.validation_data as Record<string, unknown> | null;
      if (!v || typeof v !== 'object' || typeof v.os_hash_algo !== 'string' || typeof v.os_hash_value !== 'string') {
        throw badRequest('validation_data needs both os_hash_algo and os_hash_value');
      }
      if (!HASH_ALGORITHMS.includes(v.os_hash_algo)) throw badRequest(`Unsupported os_hash_algo: ${v.os_hash_algo}`);
      if (!/^[0-9a-fA-F]+$/.test(v.os_hash_value)) throw badRequest('os_hash_value is not a hexadecimal value');
      validation = { os_hash_algo: v.os_hash_algo, os_hash_value: v.os_hash_value.toLowerCase() };
    }
    const { image, access } = await this.d.images.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'add_image_location', access);
    const scheme = url.slice(0, Math.max(0, url.indexOf(':'))).toLowerCase();
    const service = ctx.roles.includes('service') || ctx.serviceRoles.includes('service');
    if (!service && scheme !== 'http' && scheme !== 'https') throw forbidden('Only services may add locations outside the http store');
    if (image.status !== 'queued') throw conflict(`It's not allowed to add locations if image status is ${image.status}.`);
    await this.d.jobs.clearStaleLock(image);
    await this.d.locations.check({ url, metadata: {} });
    const task = await this.d.jobs.begin({
      type: 'location_import',
      owner: ctx.projectId,
      imageId: id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: { image_id: id, loc_url: url, validation_data: validation ?? {} },
    });
    let added = false;
    this.d.jobs.run(
      { id: task.id, imageId: id },
      (running) => this.run(running, url, validation, () => (added = true)),
      async () => {
        if (added) await revertLocationImport(this.d.repo, id);
      },
    );
    return task.id;
  }

  private async run(running: Running, url: string, validation: Validation | undefined, onAdded: () => void): Promise<Outcome> {
    const { imageId, signal } = running;
    const algo = validation?.os_hash_algo ?? this.d.config.api.hashingAlgorithm;
    const loc = this.d.locations.withStore({ url, metadata: {} });
    const size = await this.d.locations.check({ url, metadata: {} });
    const secure = this.d.config.imports.doSecureHash;
    // With validation data the image stays `importing` until the bytes are proven; without, it is usable at once.
    const status = secure && validation ? 'importing' : 'active';
    if (!(await this.d.repo.transition(imageId, 'queued', status, { fields: { size, ...(secure ? {} : validation ?? {}) }, locations: [loc] }))) {
      throw new Error('The image is no longer queued');
    }
    onAdded();
    if (secure) {
      const image = await this.d.repo.get(imageId);
      if (!image) throw new Error('Image has been deleted, aborting import.');
      const sums = await this.hashLocation(loc, algo, signal, () => new FormatCheck(image.disk_format, image.container_format, this.d.formatPolicy));
      if (validation && sums.value !== validation.os_hash_value) {
        throw new Error(`os_hash_value: (${validation.os_hash_value}) not matched with actual os_hash_value: (${sums.value})`);
      }
      await this.d.repo.transition(imageId, status, 'active', { fields: { checksum: sums.md5, os_hash_algo: algo, os_hash_value: sums.value } });
    }
    return { result: { image_id: imageId } };
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
    throw new Error(`Hash calculation failed for image data: ${messageOf(last)}`);
  }
}

/** The image back to queued without the location (or its hashes); the data behind it is left alone. */
export async function revertLocationImport(repo: ImageRepository, imageId: string): Promise<void> {
  await repo.transition(imageId, ['importing', 'active'], 'queued', {
    fields: { size: null, checksum: null, os_hash_algo: null, os_hash_value: null },
    locations: [],
  });
}
