// The image's data, /v2/images/{id}/file as Glance serves it (image_data.py):
// uploads stream through the shared ingest pipeline into a store and activate
// the image with its location in one write; downloads come from the image cache
// or from the image's locations in store-weight order, failing over to the next
// copy when one cannot be read.

import type { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { storeContext, type RequestContext } from '../auth/context.js';
import { badRequest, conflict, forbidden, gone, ingestError, isApiError, serviceUnavailable, StoreError } from '../errors/index.js';
import { ingest, ingestOptions } from '../data/ingest.js';
import { FormatCheck } from '../data/formatCheck.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import { parseRange, type ByteRange } from '../http/range.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { OpenedData, Store } from '../stores/store.js';
import type { ImageAuthorizer } from './authz.js';
import type { Image } from './model.js';
import type { ImageRepository } from './repository.js';
import { requireFormats, type ImageService } from './service.js';

export interface ImageDataDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  authz: ImageAuthorizer;
  stores: StoreRegistry;
  /** [image_format] rules applied to every upload. */
  formatPolicy: ImageFormatPolicy;
  /** The image cache ([DEFAULT] image_cache_dir), when enabled. */
  cache?: DownloadCache | undefined;
}

/** What downloads need from the image cache (src/cache/imageCache.ts). */
export interface DownloadCache {
  /** The cached bytes (or a range of them), counting a hit; undefined on a miss. */
  open(image: Image, range: ByteRange | undefined, signal?: AbortSignal): Promise<OpenedData | undefined>;
  /** A full download from a store, copied into the cache on its way (or returned as is). */
  tee(image: Image, stream: Readable): Readable;
}

export interface DataToServe {
  stream: Readable;
  length: number;
  range: ByteRange | undefined;
  size: number;
  checksum: string | null;
}

export class ImageData {
  constructor(private readonly d: ImageDataDeps) {}

  /**
   * PUT /file. The image goes queued -> saving -> active; on any failure the
   * bytes are removed and it returns to queued so the client can retry.
   */
  async upload(
    ctx: RequestContext,
    id: string,
    body: AsyncIterable<Buffer>,
    opts: { declaredSize?: number | undefined; storeId?: string | undefined; signal?: AbortSignal | undefined },
  ): Promise<void> {
    const store = this.pickWriteStore(opts.storeId);
    const { image, access } = await this.d.images.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'upload_image', access, `Not allowed to upload image data for image ${id}`);
    if (image.status !== 'queued') throw conflict(`Image status transition from ${image.status} to saving is not allowed`);
    requireFormats(image);
    if (!(await this.d.repo.transition(id, 'queued', 'saving'))) {
      throw conflict(`Image status transition from ${(await this.d.repo.get(id))?.status ?? 'deleted'} to saving is not allowed`);
    }

    const api = this.d.config.api;
    let quotaRemaining: number | undefined;
    if (api.userStorageQuota > 0 && image.owner) {
      quotaRemaining = Math.max(0, api.userStorageQuota - (await this.d.repo.storageUsed(image.owner, id)));
    }
    let result;
    const format = new FormatCheck(image.disk_format, image.container_format, this.d.formatPolicy);
    try {
      const writer = await store.createWriter(id, { sizeHint: opts.declaredSize, signal: opts.signal, context: storeContext(ctx) });
      result = await ingest(body, writer, ingestOptions(api, { quotaRemaining, declaredSize: opts.declaredSize, observers: [format], signal: opts.signal }));
    } catch (e) {
      await this.d.repo.transition(id, 'saving', 'queued');
      throw ingestError(e);
    }
    // Active and located in one write: no reader ever sees an active image without data.
    const activated = await this.d.repo.transition(id, 'saving', 'active', {
      fields: {
        size: result.size,
        checksum: result.checksum,
        os_hash_algo: result.hashAlgorithm,
        os_hash_value: result.hashValue,
        virtual_size: format.virtualSize,
      },
      addLocations: [{ url: result.url, metadata: result.metadata }],
    });
    if (!activated) {
      // Deleted (or reset) while we were uploading: the bytes have no image any more.
      await store.delete(result.url).catch(() => undefined);
      throw gone(`Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`);
    }
  }

  private pickWriteStore(storeId: string | undefined): Store {
    if (storeId !== undefined) {
      const s = this.d.stores.multistore ? this.d.stores.get(storeId) : undefined;
      if (!s) throw badRequest(`Unknown scheme '${storeId}' found in URI`);
      if (!s.capabilities.write) throw gone('Error in store configuration. Adding images to store is disabled.');
      return s;
    }
    const s = this.d.stores.default;
    if (!s.capabilities.write) throw gone('Error in store configuration. Adding images to store is disabled.');
    return s;
  }

  /** GET /file: the first location that answers, in weight order; 204 when there is no data. */
  async download(ctx: RequestContext, id: string, headers: { range?: string | undefined; contentRange?: string | undefined }, signal?: AbortSignal): Promise<DataToServe | undefined> {
    const { image, access } = await this.d.images.load(ctx, id);
    if (image.status === 'deactivated' && !ctx.isAdmin) {
      throw forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    this.d.authz.enforce(ctx, image, 'download_image', access);
    const locations = this.d.images.sortLocations(image.locations.filter((l) => l.status === 'active'));
    if (locations.length === 0) return undefined;
    const size = image.size ?? 0;
    const range = parseRange(headers.range, headers.contentRange, size);
    const cache = this.d.cache;
    // Only active images come from (or go into) the cache, never deactivated ones. A range
    // is served from a complete cached file, but a ranged read never fills the cache.
    if (cache && image.status === 'active') {
      const cached = await cache.open(image, range, signal);
      if (cached) return { stream: cached.stream, length: range ? range.length : cached.size, range, size: cached.size, checksum: image.checksum };
    }
    let lastError: unknown;
    for (const loc of locations) {
      try {
        const store = this.d.stores.forLocation(loc.url, loc.metadata);
        if (range && !store.capabilities.rangeRead) throw badRequest('Store does not support random reads.');
        const opened = await store.open(loc.url, { offset: range?.offset, length: range?.length, signal, context: storeContext(ctx) });
        if (store.capabilities.write && image.size !== null && opened.size !== image.size) {
          // a truncated or replaced copy would look complete to HTTP: try the next one (stores
          // imago writes to know exact sizes; a web server may not say)
          opened.stream.destroy();
          throw new StoreError('invalid', `the copy in store ${store.id} has ${opened.size} bytes, the image ${image.size}`);
        }
        const stream = cache && !range && image.status === 'active' ? cache.tee(image, opened.stream) : opened.stream;
        return { stream, length: range ? range.length : opened.size, range, size: opened.size, checksum: image.checksum };
      } catch (e) {
        if (isApiError(e)) throw e;
        lastError = e;
      }
    }
    if (lastError instanceof StoreError && lastError.kind === 'not_found') return undefined;
    throw serviceUnavailable(`No location of image ${id} could be read: ${(lastError as Error)?.message ?? 'unknown error'}`);
  }
}
