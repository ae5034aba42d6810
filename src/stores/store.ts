// The one contract every image-bytes backend implements (file, http, s3, swift,
// rbd, cinder, vmware). Hashing, size limits and format inspection are NOT the
// store's job: they run once in the shared ingest pipeline (src/data/ingest.ts)
// before bytes reach a writer, so every driver gets them for free.

import type { Readable } from 'node:stream';
import type { CatalogService } from '../auth/catalog.js';

export interface StoreCapabilities {
  /** Accepts new image data. */
  write: boolean;
  /** Can remove data it holds. */
  delete: boolean;
  /** Can serve a byte range without reading from offset 0. */
  rangeRead: boolean;
}

/** What a writer produced once it committed: where the bytes now live. */
export interface CommittedData {
  url: string;
  size: number;
  /** Location metadata exposed in `locations` (e.g. {store: "fast"}). */
  metadata: Record<string, unknown>;
}

/**
 * A pending write. Bytes are invisible to readers until commit() resolves;
 * abort() removes everything written so far. Exactly one of them is called.
 */
export interface StoreWriter {
  /** Resolves when the chunk may be reused and more can be written (back-pressure). */
  write(chunk: Buffer): Promise<void>;
  commit(): Promise<CommittedData>;
  abort(): Promise<void>;
}

/**
 * The caller's identity, for drivers that keep data in the caller's own account instead of
 * the service's (Swift with swift_store_multi_tenant: a container per image in the user's
 * project, reached with the user's token and the object-store endpoint of the user's catalog).
 * Drivers that store everything in their own account ignore it.
 */
export interface StoreRequestContext {
  /** The caller's Keystone token (X-Auth-Token of the API request). */
  authToken: string;
  projectId?: string | undefined;
  userId?: string | undefined;
  /** The token's service catalog (Keystone v3 form: [{type, endpoints: [{interface, region, url}]}]). */
  catalog?: readonly CatalogService[] | undefined;
}

/** Options every call takes. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Who is asking; see StoreRequestContext. */
  context?: StoreRequestContext | undefined;
}

export interface WriteOptions extends CallOptions {
  /** Declared size when known (Content-Length / x-openstack-image-size); lets drivers pre-size. */
  sizeHint?: number | undefined;
}

export interface ReadOptions extends CallOptions {
  offset?: number | undefined;
  /** Bytes to read from offset; undefined reads to the end. */
  length?: number | undefined;
}

export interface OpenedData {
  stream: Readable;
  /** Total size of the stored object (not of the range). */
  size: number;
}

export interface Store {
  /** Store identifier: the backend id with enabled_backends, else the driver type. */
  readonly id: string;
  /** Driver type as written in enabled_backends: file, http, s3, swift, rbd, cinder, vmware. */
  readonly type: string;
  readonly description: string | undefined;
  /** Higher weight locations are tried first on download. */
  readonly weight: number;
  readonly capabilities: StoreCapabilities;
  /** URL schemes this driver understands (file, http, https, s3, swift+config, rbd...). */
  readonly schemes: readonly string[];

  createWriter(imageId: string, opts?: WriteOptions): Promise<StoreWriter>;
  open(url: string, opts?: ReadOptions): Promise<OpenedData>;
  /** Size of the stored object. */
  stat(url: string, opts?: CallOptions): Promise<{ size: number }>;
  delete(url: string, opts?: CallOptions): Promise<void>;
  /** Driver properties for GET /v2/info/stores/detail. */
  detail(): Record<string, unknown>;
  /**
   * Whether a location URL points into this store (Glance's url_prefix match),
   * used to tag client-supplied locations with their store id. Stores that read
   * any URL of their scheme (http) leave it out.
   */
  ownsLocation?(url: string): boolean;
  /** Removes what writers that died (crashed process, lost node) left half-written. */
  sweep?(): Promise<unknown>;
  /**
   * Removes half-written data of objects whose name starts with `prefix`, now: the caller
   * knows their writer is dead (its import lock lapsed), so it need not wait for sweep().
   */
  abandon?(prefix: string): Promise<void>;
  close?(): Promise<void>;
}

/**
 * What every driver throws. It lives with the other errors (src/errors), where its kinds are
 * mapped to Glance's answers; drivers import it from here.
 */
export { StoreError, type StoreErrorKind } from '../errors/index.js';
