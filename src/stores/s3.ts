// S3-compatible object store (AWS S3, Ceph radosgw, MinIO, Swift s3api), Glance's
// `s3` driver: one object per image, key = image id, in one bucket.
//
// Differences from glance_store, on purpose:
// - Location URLs carry no credentials: `s3+http(s)://<host>/<bucket>/<key>`, keys come
//   from the configuration. Glance's `s3://access:secret@host/bucket/key` is still read.
// - Nothing is buffered whole: a known size below s3_store_large_object_size is streamed
//   in one PUT; anything else goes in parts, with at most s3_store_thread_pools parts in
//   flight and write() waiting for a free slot, so memory stays at
//   (s3_store_thread_pools + 1) × part size however fast the client sends.
// - Ranged reads use `Range:`.
// - Parts are sent by this file, not by @aws-sdk/lib-storage's Upload: its part size is fixed,
//   so an image of unknown size stops at 10 000 parts (100 GiB with Glance's 10 MiB parts; here
//   the part size grows); it pulls from a stream where the Store contract pushes
//   (write/commit/abort); it allocates every part anew where these part buffers are reused.
// - A failed or aborted upload is cleaned up (AbortMultipartUpload), and retried in the
//   background while the server is unreachable.

import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type BucketLocationConstraint,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { ConfigError, type OptionReader } from '../config/options.js';
import { StoreError, type CommittedData, type OpenedData, type ReadOptions, type Store, type StoreWriter, type WriteOptions } from './store.js';

const MiB = 1024 * 1024;
/** S3 limits: 10 000 parts per upload, 5 MiB minimum and 5 GiB maximum part (and single PUT) size. */
const MAX_PARTS = 10_000;
const MIN_PART = 5 * MiB;
const MAX_PART = 5 * 1024 * MiB;
/** With an unknown size, the part size doubles every this many parts (10 MiB parts reach 10 TiB). */
const PARTS_PER_SIZE_STEP = 1000;
/** Distinct key pairs from legacy locations kept connected at once. */
const MAX_LEGACY_CLIENTS = 16;

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface S3StoreOptions {
  id: string;
  description?: string | undefined;
  weight?: number;
  /** Service URL with scheme, e.g. http://127.0.0.1:7480 (s3_store_host). */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  createBucketOnPut: boolean;
  /** Path-style addressing (`host/bucket/key`) instead of virtual hosts (`bucket.host/key`). */
  pathStyle: boolean;
  /** Bytes from which a known-size upload goes multipart; unknown sizes always do. */
  largeObjectSize: number;
  /** Multipart part size in bytes (at least 5 MiB). */
  partSize: number;
  /** Parts uploaded in parallel per image. */
  threadPools: number;
  /** PEM bundle for TLS verification; undefined uses Node's default CAs. */
  cacert?: string | undefined;
  requestChecksumCalculation: ChecksumMode;
  responseChecksumValidation: ChecksumMode;
  /** Location metadata added to every location ({store: id} in multistore mode). */
  locationMetadata: Record<string, unknown>;
  /** TCP connect timeout; a dead endpoint fails fast instead of hanging uploads. */
  connectTimeoutMs?: number;
  /** A socket idle this long fails the request (a stalled server). */
  socketTimeoutMs?: number;
  /** SDK attempts per request (retries only requests whose body can be replayed). */
  maxAttempts?: number;
  /** Multipart uploads older than this are another process's leftovers and are aborted on init (0 = never). */
  staleUploadMs?: number;
}

export function s3StoreOptionsFrom(id: string, opts: OptionReader, multistore: boolean): S3StoreOptions {
  const where = `[${opts.section}]`;
  const required = (key: string): string => {
    const v = opts.str(key)?.trim();
    if (!v) throw new ConfigError(`${where} ${key} is required for the s3 store`);
    return v;
  };
  const host = required('s3_store_host');
  const endpoint = /^https?:\/\//i.test(host) ? host.replace(/\/+$/, '') : `http://${host.replace(/\/+$/, '')}`;
  let hostname: string;
  try {
    hostname = new URL(endpoint).hostname;
  } catch {
    throw new ConfigError(`${where} s3_store_host: "${host}" is not a URL`);
  }
  const bucket = required('s3_store_bucket');
  const format = opts.str('s3_store_bucket_url_format', 'auto').trim().toLowerCase();
  if (!['auto', 'virtual', 'path'].includes(format)) {
    throw new ConfigError(`${where} s3_store_bucket_url_format must be auto, virtual or path, not "${format}"`);
  }
  if (format === 'virtual' && !isDnsBucketName(bucket)) {
    throw new ConfigError(`${where} bucket "${bucket}" is not a valid DNS name, so it cannot be used with s3_store_bucket_url_format = virtual`);
  }
  // auto: virtual hosts on AWS (path style is deprecated there), path style elsewhere:
  // S3 clones seldom have wildcard DNS, and an IP address cannot carry a bucket name.
  const pathStyle = format === 'path' || (format === 'auto' && !(isAwsHost(hostname) && isDnsBucketName(bucket)));
  const chunkMb = opts.int('s3_store_large_object_chunk_size', 10);
  if (chunkMb < MIN_PART / MiB) throw new ConfigError(`${where} s3_store_large_object_chunk_size must be at least 5 (MB)`);
  const threadPools = opts.int('s3_store_thread_pools', 10);
  if (threadPools <= 0) throw new ConfigError(`${where} s3_store_thread_pools must be a positive integer`);
  const cacert = opts.str('s3_store_cacert', '').trim() || undefined;
  // Glance 2025.2: integrity protection off (the default) means when_required for both,
  // which S3 clones without the new AWS checksum headers need.
  const integrity = opts.bool('s3_store_enable_data_integrity_protection', false);
  const checksum = (key: string): ChecksumMode => {
    const v = opts.str(key, 'when_required').trim().toLowerCase();
    if (!['when_required', 'when_supported'].includes(v)) {
      throw new ConfigError(`${where} ${key} must be when_required or when_supported, not "${v}"`);
    }
    return integrity && v === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  };
  return {
    id,
    description: opts.str('store_description'),
    weight: opts.int('weight', 0),
    endpoint,
    region: opts.str('s3_store_region_name', '').trim() || regionOfAwsHost(hostname) || 'us-east-1',
    accessKey: required('s3_store_access_key'),
    secretKey: required('s3_store_secret_key'),
    bucket,
    createBucketOnPut: opts.bool('s3_store_create_bucket_on_put', false),
    pathStyle,
    largeObjectSize: opts.int('s3_store_large_object_size', 100, 0) * MiB,
    partSize: chunkMb * MiB,
    threadPools,
    cacert,
    requestChecksumCalculation: checksum('s3_store_request_checksum_calculation'),
    responseChecksumValidation: checksum('s3_store_response_checksum_validation'),
    locationMetadata: multistore ? { store: id } : {},
  };
}

function isAwsHost(hostname: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname);
}

/** s3.eu-west-1.amazonaws.com and s3-eu-west-1.amazonaws.com name their region. */
function regionOfAwsHost(hostname: string): string | undefined {
  return /^s3[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$/i.exec(hostname)?.[1]?.toLowerCase();
}

function isDnsBucketName(b: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b) && !b.includes('..') && isIP(b) === 0;
}

/** Bucket and key of a location, plus the keys a legacy Glance URL carried. */
interface S3Location {
  bucket: string;
  key: string;
  credentials?: { accessKey: string; secretKey: string };
}

/**
 * Reads `s3+http(s)://host/bucket/key` and Glance's `s3[+http(s)]://access:secret@host/bucket/key`.
 * As in Glance, the host part is not used to connect: requests go to the configured endpoint
 * (a location is user input and must not make us send signed requests elsewhere).
 */
export function parseS3Location(url: string): S3Location {
  const bad = (why: string) => new StoreError('bad_uri', `Invalid S3 location (${why})`);
  const m = /^(s3|s3\+http|s3\+https):\/\/(.*)$/i.exec(url);
  if (!m) throw bad('scheme must be s3, s3+http or s3+https');
  const rest = m[2]!;
  if (rest.includes('://')) throw bad('more than one scheme; write s3+https://host/... instead of s3://...@https://host/...');
  // AWS secret keys may contain "/", so credentials are cut at the last "@", not parsed as a URL authority
  const at = rest.lastIndexOf('@');
  let credentials: S3Location['credentials'];
  let path = rest;
  if (at >= 0) {
    const creds = rest.slice(0, at);
    const colon = creds.indexOf(':');
    if (colon <= 0) throw bad('badly formed credentials');
    credentials = { accessKey: creds.slice(0, colon), secretKey: creds.slice(colon + 1) };
    path = rest.slice(at + 1);
  }
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length < 3) throw bad('expected host/bucket/key');
  const key = parts.pop()!;
  const bucket = parts.pop()!;
  return credentials ? { bucket, key, credentials } : { bucket, key };
}

/** Background cleanup retries: first delay, backoff cap, and when to give up. */
const CLEANUP_FIRST_DELAY_MS = 250;
const CLEANUP_MAX_DELAY_MS = 5000;
const CLEANUP_GIVE_UP_MS = 15 * 60 * 1000;

export class S3Store implements Store {
  readonly type = 's3';
  readonly schemes = ['s3', 's3+http', 's3+https'] as const;
  readonly capabilities = { write: true, delete: true, rangeRead: true };
  readonly id: string;
  readonly description: string | undefined;
  readonly weight: number;
  private readonly opts: S3StoreOptions;
  private readonly client: S3Client;
  /** Clients for legacy locations that carry their own keys, by access key. */
  private readonly legacyClients = new Map<string, S3Client>();
  private readonly urlPrefix: string;
  private bucketReady: Promise<void> | undefined;
  /** Cleanups (abort upload, delete object) still retrying, so close() can wait for them. */
  private readonly cleanups = new Set<Promise<void>>();
  private closed = false;

  constructor(opts: S3StoreOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.description = opts.description;
    this.weight = opts.weight ?? 0;
    const u = new URL(opts.endpoint);
    this.urlPrefix = `s3+${u.protocol.replace(':', '')}://${u.host}${u.pathname.replace(/\/+$/, '')}/${opts.bucket}/`;
    this.client = this.makeClient(opts.accessKey, opts.secretKey);
  }

  private makeClient(accessKeyId: string, secretAccessKey: string): S3Client {
    // This project runs on Node 20 by decision; the SDK's notice about its future Node 22
    // requirement would otherwise print on every start.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const ca = this.opts.cacert ? readCa(this.opts.cacert) : undefined;
    const sockets = Math.max(64, this.opts.threadPools * 4);
    return new S3Client({
      endpoint: this.opts.endpoint,
      region: this.opts.region,
      forcePathStyle: this.opts.pathStyle,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: this.opts.requestChecksumCalculation,
      responseChecksumValidation: this.opts.responseChecksumValidation,
      maxAttempts: this.opts.maxAttempts ?? 3,
      requestHandler: {
        connectionTimeout: this.opts.connectTimeoutMs ?? 5000,
        socketTimeout: this.opts.socketTimeoutMs ?? 120_000,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: sockets, ...(ca ? { ca } : {}) }),
      },
      // errors reach the caller as StoreErrors; the SDK's own console warnings would be noise
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
  }

  /** Aborts multipart uploads that a crashed process left behind (in the background: S3 may be down at start). */
  async init(): Promise<void> {
    const age = this.opts.staleUploadMs ?? 24 * 3600 * 1000;
    if (age > 0) this.track(this.abortStaleUploads(age).catch(() => undefined));
  }

  private async abortStaleUploads(ageMs: number): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.opts.bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && u.Initiated && Date.now() - u.Initiated.getTime() > ageMs) {
          await this.client
            .send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: u.Key, UploadId: u.UploadId }))
            .catch(() => undefined);
        }
      }
      if (!page.IsTruncated || this.closed) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  detail(): Record<string, unknown> {
    return {
      s3_store_large_object_size: this.opts.largeObjectSize,
      s3_store_large_object_chunk_size: this.opts.partSize,
      s3_store_thread_pools: this.opts.threadPools,
    };
  }

  /** The location of an image: `s3+http(s)://<host>[/<path>]/<bucket>/<key>`, no credentials. */
  urlFor(key: string): string {
    return this.urlPrefix + key;
  }

  private locate(url: string): { client: S3Client; bucket: string; key: string } {
    const loc = parseS3Location(url);
    if (!loc.credentials || (loc.credentials.accessKey === this.opts.accessKey && loc.credentials.secretKey === this.opts.secretKey)) {
      return { client: this.client, bucket: loc.bucket, key: loc.key };
    }
    const cacheKey = `${loc.credentials.accessKey}:${loc.credentials.secretKey}`;
    let client = this.legacyClients.get(cacheKey);
    if (!client) {
      // locations are user input: keep the number of clients (and their sockets) bounded
      if (this.legacyClients.size >= MAX_LEGACY_CLIENTS) {
        const [oldest, old] = this.legacyClients.entries().next().value!;
        this.legacyClients.delete(oldest);
        old.destroy();
      }
      client = this.makeClient(loc.credentials.accessKey, loc.credentials.secretKey);
      this.legacyClients.set(cacheKey, client);
    }
    return { client, bucket: loc.bucket, key: loc.key };
  }

  /** Checked once per process: the bucket exists, or is created when s3_store_create_bucket_on_put allows. */
  private ensureBucket(signal: AbortSignal | undefined): Promise<void> {
    this.bucketReady ??= (async () => {
      const Bucket = this.opts.bucket;
      try {
        await this.client.send(new HeadBucketCommand({ Bucket }), { abortSignal: signal });
        return;
      } catch (e) {
        const err = mapS3Error(e);
        if (!(err instanceof StoreError && err.kind === 'not_found')) throw err;
      }
      if (!this.opts.createBucketOnPut) {
        throw new StoreError(
          'unavailable',
          `The bucket ${Bucket} does not exist in S3. Set s3_store_create_bucket_on_put to create it automatically.`,
        );
      }
      const region = this.opts.region;
      try {
        await this.client.send(
          new CreateBucketCommand({
            Bucket,
            // us-east-1 is the one region that refuses an explicit location constraint
            ...(region !== 'us-east-1' && isAwsHost(new URL(this.opts.endpoint).hostname)
              ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } } // any AWS region name
              : {}),
          }),
          { abortSignal: signal },
        );
      } catch (e) {
        // another process may have created it meanwhile
        const name = (e as Error).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw mapS3Error(e);
      }
    })().catch((e) => {
      this.bucketReady = undefined; // try again next time
      throw e;
    });
    return this.bucketReady;
  }

  async createWriter(imageId: string, opts: WriteOptions = {}): Promise<StoreWriter> {
    opts.signal?.throwIfAborted();
    if (!imageId || imageId.includes('/')) throw new StoreError('invalid', `Invalid image id for an S3 key: "${imageId}"`);
    await this.ensureBucket(opts.signal);
    if (await this.exists(this.client, this.opts.bucket, imageId, opts.signal)) {
      throw new StoreError('duplicate', `S3 already has an image ${imageId} in bucket ${this.opts.bucket}`);
    }
    const target: WriteTarget = {
      client: this.client,
      bucket: this.opts.bucket,
      key: imageId,
      url: this.urlFor(imageId),
      metadata: this.opts.locationMetadata,
      bucketGone: () => {
        this.bucketReady = undefined;
      },
    };
    const size = opts.sizeHint;
    if (size !== undefined && size < this.opts.largeObjectSize && size <= MAX_PART) {
      return new StreamingPutWriter(target, size, opts.signal, this.cleanupRunner());
    }
    const partSize = size === undefined ? this.opts.partSize : Math.min(MAX_PART, Math.max(this.opts.partSize, Math.ceil(size / MAX_PARTS)));
    return new MultipartWriter(target, size, partSize, this.opts.threadPools, opts.signal, this.cleanupRunner());
  }

  private async exists(client: S3Client, Bucket: string, Key: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal: signal });
      return true;
    } catch (e) {
      const err = mapS3Error(e);
      if (err instanceof StoreError && err.kind === 'not_found') return false;
      throw err;
    }
  }

  /**
   * Runs a cleanup now; if S3 is unreachable, keeps retrying in the background (with
   * backoff, for up to 15 minutes) so a server outage during an upload orphans nothing.
   * Resolves after the first attempt.
   */
  private cleanupRunner(): CleanupRunner {
    return async (op) => {
      const attempt = async (): Promise<boolean> => {
        try {
          await op();
          return true;
        } catch (e) {
          const err = mapS3Error(e);
          if (err instanceof StoreError && err.kind === 'not_found') return true; // already gone
          return false;
        }
      };
      if (await attempt()) return;
      const giveUp = Date.now() + CLEANUP_GIVE_UP_MS;
      const retry = (async () => {
        for (let delay = CLEANUP_FIRST_DELAY_MS; !this.closed && Date.now() < giveUp; delay = Math.min(delay * 2, CLEANUP_MAX_DELAY_MS)) {
          await sleepUnref(delay);
          if (await attempt()) return;
        }
      })();
      this.track(retry);
    };
  }

  private track(p: Promise<void>): void {
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  async open(url: string, opts: ReadOptions = {}): Promise<OpenedData> {
    const { client, bucket, key } = this.locate(url);
    const offset = opts.offset ?? 0;
    if (opts.length === 0) {
      // an empty range cannot be written as a Range header
      return { stream: Readable.from([]), size: (await this.stat(url, opts)).size };
    }
    const range = offset > 0 || opts.length !== undefined ? `bytes=${offset}-${opts.length !== undefined ? offset + opts.length - 1 : ''}` : undefined;
    let out;
    try {
      out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }), { abortSignal: opts.signal });
    } catch (e) {
      throw mapS3Error(e);
    }
    const total = range ? Number(/\/(\d+)$/.exec(out.ContentRange ?? '')?.[1] ?? NaN) : out.ContentLength;
    if (total === undefined || !Number.isFinite(total)) throw new StoreError('unavailable', `S3 sent no object size for ${key}`);
    const stream = out.Body as Readable;
    const signal = opts.signal;
    if (signal) {
      // the SDK stops watching the signal once headers arrive; the body must still stop
      const onAbort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new DOMException('The read was aborted', 'AbortError'));
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return { stream, size: total };
  }

  async stat(url: string, opts: { signal?: AbortSignal | undefined } = {}): Promise<{ size: number }> {
    const { client, bucket, key } = this.locate(url);
    try {
      const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
      return { size: h.ContentLength ?? 0 };
    } catch (e) {
      throw mapS3Error(e);
    }
  }

  async delete(url: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { client, bucket, key } = this.locate(url);
    // DeleteObject succeeds for a missing key; Glance reports NotFound, so look first
    if (!(await this.exists(client, bucket, key, opts.signal))) throw new StoreError('not_found', `Image ${key} not found in bucket ${bucket}`);
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
    } catch (e) {
      throw mapS3Error(e);
    }
  }

  /** Waits for background cleanups that are still retrying, at most `waitMs`, then stops them. */
  async close(waitMs = 0): Promise<void> {
    if (waitMs > 0 && this.cleanups.size) {
      await Promise.race([Promise.allSettled([...this.cleanups]), sleepUnref(waitMs)]);
    }
    this.closed = true;
    this.client.destroy();
    for (const c of this.legacyClients.values()) c.destroy();
  }

  /** Cleanups still retrying (for tests and health reporting). */
  get pendingCleanups(): number {
    return this.cleanups.size;
  }
}

interface WriteTarget {
  client: S3Client;
  bucket: string;
  key: string;
  url: string;
  metadata: Record<string, unknown>;
  /** Forget that the bucket was checked (it vanished): the next writer looks again. */
  bucketGone(): void;
}

type CleanupRunner = (op: () => Promise<unknown>) => Promise<void>;

/** Shared state machine of both writers: one failure poisons the writer, abort() runs cleanup once. */
abstract class S3Writer implements StoreWriter {
  protected state: 'open' | 'committing' | 'done' = 'open';
  protected failure: Error | undefined;
  protected written = 0;
  /**
   * The request that makes the object visible (PUT or CompleteMultipartUpload) got no answer:
   * S3 may have stored it anyway, so cleanup deletes the key (the image id is this upload's own).
   */
  protected outcomeUnknown = false;
  /** Cancels this writer's in-flight requests. */
  protected readonly requests = abortControllerForMany();
  private readonly onAbort: (() => void) | undefined;
  private cleanedUp: Promise<void> | undefined;

  constructor(
    protected readonly target: WriteTarget,
    protected readonly size: number | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly runCleanup: CleanupRunner,
  ) {
    if (signal) {
      this.onAbort = () => {
        if (this.state === 'done') return;
        void this.fail(signal.reason instanceof Error ? signal.reason : new DOMException('The write was aborted', 'AbortError'));
      };
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  abstract write(chunk: Buffer): Promise<void>;
  protected abstract finish(): Promise<void>;
  /** Removes whatever the backend holds for this write. */
  protected abstract cleanup(run: CleanupRunner): Promise<void>;

  protected usable(): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error('writer already finished');
  }

  protected countBytes(n: number): void {
    this.written += n;
    if (this.size !== undefined && this.written > this.size) {
      throw new StoreError('invalid', `Size exceeds: expected ${this.size} bytes, got at least ${this.written}`);
    }
  }

  /** Marks the writer failed, cancels requests and cleans up. Returns the error to throw. */
  protected async fail(e: unknown): Promise<Error> {
    let err = this.failure ?? (isAbortError(e) ? (e as Error) : mapS3Error(e));
    if (err instanceof StoreError && err.kind === 'not_found') {
      // a 404 while writing is no missing image: the bucket (or the upload) went away under us
      err = new StoreError('unavailable', `The upload lost its bucket or multipart upload: ${err.message}`, { cause: err });
      this.target.bucketGone();
    }
    this.failure = err;
    this.requests.abort(err);
    await this.release();
    return err;
  }

  private release(): Promise<void> {
    this.cleanedUp ??= (async () => {
      this.detach();
      await this.cleanup(this.runCleanup);
    })();
    return this.cleanedUp;
  }

  private detach(): void {
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }

  async commit(): Promise<CommittedData> {
    this.usable();
    this.state = 'committing';
    try {
      if (this.size !== undefined && this.written !== this.size) {
        throw new StoreError('invalid', `Size mismatch: expected ${this.size} bytes, got ${this.written}`);
      }
      await this.finish();
    } catch (e) {
      throw await this.fail(e);
    }
    this.state = 'done';
    this.detach();
    return { url: this.target.url, size: this.written, metadata: { ...this.target.metadata } };
  }

  async abort(): Promise<void> {
    if (this.state === 'done' && !this.failure) return;
    this.state = 'done';
    if (!this.failure) this.failure = new Error('writer aborted');
    this.requests.abort(this.failure);
    await this.release();
  }
}

/** Known size below the multipart threshold: one PUT whose body is fed as write() is called. */
class StreamingPutWriter extends S3Writer {
  private readonly body = new PassThrough({ highWaterMark: MiB });
  private request: Promise<unknown> | undefined;
  /** Rejects when the PUT fails, so a write() waiting for 'drain' does not wait forever. */
  private requestFailed: Promise<never> | undefined;

  private start(): void {
    if (this.request) return;
    const { client, bucket, key } = this.target;
    this.request = client.send(
      // If-None-Match makes a racing writer of the same image fail instead of replacing it
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: this.body, ContentLength: this.size, IfNoneMatch: '*' }),
      { abortSignal: this.requests.signal },
    );
    this.requestFailed = this.request.then(
      () => new Promise<never>(() => undefined),
      (e) => {
        throw e;
      },
    );
    this.requestFailed.catch(() => undefined);
  }

  async write(chunk: Buffer): Promise<void> {
    this.usable();
    try {
      this.countBytes(chunk.length);
      this.start();
      // a copy: the caller may reuse its buffer once we resolve, while ours waits for the socket
      if (!this.body.write(Buffer.from(chunk))) await Promise.race([waitDrain(this.body), this.requestFailed!]);
    } catch (e) {
      throw await this.fail(e);
    }
  }

  protected async finish(): Promise<void> {
    this.start();
    this.body.end();
    try {
      await this.request;
    } catch (e) {
      this.outcomeUnknown = noAnswer(e);
      throw e;
    }
  }

  protected async cleanup(run: CleanupRunner): Promise<void> {
    this.body.destroy();
    await this.request?.catch(() => undefined);
    if (this.outcomeUnknown) {
      const { client, bucket, key } = this.target;
      await run(() => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
    }
  }
}

/**
 * Unknown or large size: parts of `partSize` bytes, filled by write() and uploaded with at
 * most `parallel` in flight. The upload is only created once a first part is full, so small
 * images of unknown size still go in one PUT.
 */
class MultipartWriter extends S3Writer {
  private current: Buffer;
  private filled = 0;
  private readonly spare: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private uploadId: string | undefined;
  private creating: Promise<void> | undefined;
  private partNumber = 0;

  constructor(
    target: WriteTarget,
    size: number | undefined,
    private readonly partSize: number,
    private readonly parallel: number,
    signal: AbortSignal | undefined,
    runCleanup: CleanupRunner,
  ) {
    super(target, size, signal, runCleanup);
    // a small image of known size needs no full part buffer
    this.current = Buffer.allocUnsafe(size !== undefined ? Math.min(partSize, Math.max(size, 1)) : partSize);
  }

  /** Part sizes grow with an unknown size, so 10 000 parts still hold a large image. */
  private sizeOfPart(partNumber: number): number {
    if (this.size !== undefined) return this.partSize;
    return Math.min(MAX_PART, this.partSize * 2 ** Math.floor((partNumber - 1) / PARTS_PER_SIZE_STEP));
  }

  async write(chunk: Buffer): Promise<void> {
    this.usable();
    try {
      this.countBytes(chunk.length);
      let off = 0;
      while (off < chunk.length) {
        if (this.filled === this.current.length) await this.sendCurrent();
        const n = chunk.copy(this.current, this.filled, off);
        this.filled += n;
        off += n;
      }
      // send a full part now rather than on the next write, so commit() need not wait for it
      if (this.filled === this.current.length && this.filled >= MIN_PART) await this.sendCurrent();
    } catch (e) {
      throw await this.fail(e);
    }
  }

  /** Uploads the filled buffer once a slot is free; write() waits here: that is the back-pressure. */
  private async sendCurrent(): Promise<void> {
    const { client, bucket, key } = this.target;
    if (this.uploadId === undefined) {
      // not cancellable: once S3 has created the upload we must learn its id to abort it
      this.creating ??= client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key })).then((r) => {
        if (!r.UploadId) throw new StoreError('unavailable', 'S3 returned no UploadId');
        this.uploadId = r.UploadId;
      });
      await this.creating;
      if (this.failure) throw this.failure;
    }
    while (this.inFlight.size >= this.parallel) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const buffer = this.current;
    const length = this.filled;
    const PartNumber = ++this.partNumber;
    if (PartNumber > MAX_PARTS) throw new StoreError('invalid', `Image needs more than ${MAX_PARTS} parts`);
    const UploadId = this.uploadId;
    const upload = (async () => {
      const r = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: buffer.subarray(0, length), ContentLength: length }),
        { abortSignal: this.requests.signal },
      );
      this.parts.push({ PartNumber, ETag: r.ETag });
      this.spare.push(buffer);
    })().catch((e) => {
      // the next write() or commit() reports it; cleanup starts now
      void this.fail(e);
    });
    this.inFlight.add(upload);
    void upload.finally(() => this.inFlight.delete(upload));
    const nextSize = this.sizeOfPart(PartNumber + 1);
    if (this.spare.some((b) => b.length !== nextSize)) this.spare.length = 0; // the part size grew
    this.current = this.spare.pop() ?? Buffer.allocUnsafe(nextSize);
    this.filled = 0;
  }

  protected async finish(): Promise<void> {
    const { client, bucket, key } = this.target;
    if (this.uploadId === undefined) {
      // everything fits in one part: a plain PUT
      try {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: this.current.subarray(0, this.filled), ContentLength: this.filled, IfNoneMatch: '*' }),
          { abortSignal: this.requests.signal },
        );
      } catch (e) {
        this.outcomeUnknown = noAnswer(e);
        throw e;
      }
      return;
    }
    if (this.filled > 0) await this.sendCurrent();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
    // CompleteMultipartUpload cannot refuse to replace an object on every S3 clone, so look
    // first: a writer racing on the same image id is caught here or by If-None-Match
    const existing = await client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: this.requests.signal })
      .then(
        () => true,
        (e) => {
          const err = mapS3Error(e);
          if (err instanceof StoreError && err.kind === 'not_found') return false;
          throw err;
        },
      );
    if (existing) throw new StoreError('duplicate', `S3 already has an image ${key} in bucket ${bucket}`);
    try {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!) },
          IfNoneMatch: '*',
        }),
        { abortSignal: this.requests.signal },
      );
    } catch (e) {
      this.outcomeUnknown = noAnswer(e);
      throw e;
    }
    this.uploadId = undefined; // completed: nothing left to abort
  }

  protected async cleanup(run: CleanupRunner): Promise<void> {
    // parts already sent are aborted client-side; let them settle so none lands after the abort
    await Promise.allSettled([...this.inFlight, this.creating]);
    this.spare.length = 0;
    const { client, bucket, key } = this.target;
    const UploadId = this.uploadId;
    if (UploadId !== undefined) {
      await run(() => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })));
    }
    if (this.outcomeUnknown) await run(() => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
  }
}

/** The SDK adds one listener per request in flight: s3_store_thread_pools may exceed Node's warning limit of 10. */
function abortControllerForMany(): AbortController {
  const c = new AbortController();
  setMaxListeners(0, c.signal);
  return c;
}

function waitDrain(stream: PassThrough): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new StoreError('unavailable', 'The upload stream closed'));
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`s3_store_cacert: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** A request that failed without an HTTP answer (network, timeout, cancelled): its effect is unknown. */
function noAnswer(e: unknown): boolean {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === undefined;
}

function isAbortError(e: unknown): boolean {
  return (e as Error)?.name === 'AbortError';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** S3 and network errors as StoreError kinds (one place, used for every request). */
export function mapS3Error(e: unknown): Error {
  if (e instanceof StoreError) return e;
  const err = e as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.Code ?? err?.name ?? '';
  const status = err?.$metadata?.httpStatusCode;
  const msg = err?.message || name || String(e);
  const as = (kind: StoreError['kind'], text: string) => new StoreError(kind, text, { cause: e });
  switch (name) {
    case 'NoSuchKey':
    case 'NotFound':
    case 'NoSuchBucket':
    case 'NoSuchUpload':
      return as('not_found', `S3: ${name}`);
    case 'AccessDenied':
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'AllAccessDisabled':
    case 'AccountProblem':
    case 'Forbidden':
      return as('write_denied', `S3 refused access: ${name}`);
    case 'QuotaExceeded':
    case 'EntityTooLarge':
    case 'InsufficientCapacity':
      return as('storage_full', `S3 storage is full: ${name}`);
    case 'PreconditionFailed':
      return as('duplicate', 'S3 already has an object with this key');
    case 'InvalidRange':
      return as('invalid', 'Requested range is outside the image data');
    case 'TimeoutError':
    case 'RequestTimeout':
    case 'ServiceUnavailable':
    case 'SlowDown':
    case 'InternalError':
      return as('unavailable', `S3 is unavailable: ${msg}`);
  }
  if (err?.code && NETWORK_CODES.has(err.code)) return as('unavailable', `S3 is unreachable: ${err.code} ${msg}`);
  if (/socket hang up|aborted|ECONNRESET/i.test(msg) && !isAbortError(e)) return as('unavailable', `S3 is unreachable: ${msg}`);
  if (status === 404) return as('not_found', `S3: ${name || 'not found'}`);
  if (status === 403) return as('write_denied', `S3 refused access: ${name || 'forbidden'}`);
  if (status === 412) return as('duplicate', 'S3 already has an object with this key');
  if (status === 507) return as('storage_full', `S3 storage is full: ${msg}`);
  if (status !== undefined && status >= 500) return as('unavailable', `S3 error ${status}: ${msg}`);
  return e instanceof Error ? e : new Error(msg);
}

export async function s3StoreFrom(id: string, opts: OptionReader, multistore: boolean): Promise<S3Store> {
  const store = new S3Store(s3StoreOptionsFrom(id, opts, multistore));
  await store.init();
  return store;
}
