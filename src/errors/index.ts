// Every error imago raises on purpose, in one module with no imports of its own,
// so any layer can throw them. Each has a code naming its meaning; callers test
// codes, never HTTP statuses. The statuses Glance answers for each meaning are
// the table below, the only one: the HTTP layer (src/http/errors.ts) renders an
// ApiError's status and message as webob does. Failures of the data path (store
// drivers, size limits, format inspection) are mapped to Glance's answers here
// too (ingestError), with Glance's messages.

/** What the API answers, by meaning, and Glance's status for it. */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  header_too_large: 431,
  internal: 500,
  bad_gateway: 502,
  unavailable: 503,
  gateway_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The codes of failures on the server's side (a relay falls back on them, a client could not help them). */
export const SERVER_FAILURES: readonly ErrorCode[] = ['internal', 'bad_gateway', 'unavailable', 'gateway_timeout'];

/** An answer to the client: its meaning, Glance's message, and any headers it needs (Allow, WWW-Authenticate). */
export class ApiError extends Error {
  readonly status: number;

  /** `status` only for answers relayed as they came (another node's); else the table's. */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    status?: number,
  ) {
    super(message);
    this.status = status ?? ERROR_STATUS[code];
  }
}

/** The meaning of a status (another node's answer): the table's, else a generic one of its class. */
export function codeForStatus(status: number): ErrorCode {
  for (const [code, s] of Object.entries(ERROR_STATUS)) if (s === status) return code as ErrorCode;
  return status >= 500 ? 'internal' : 'bad_request';
}

/** An ApiError, and (with codes) one of these meanings. */
export function isApiError(e: unknown, ...codes: ErrorCode[]): e is ApiError {
  return e instanceof ApiError && (codes.length === 0 || codes.includes(e.code));
}

export const badRequest = (msg: string) => new ApiError('bad_request', msg);
export const unauthorized = (msg: string, headers: Record<string, string> = {}) => new ApiError('unauthorized', msg, headers);
export const forbidden = (msg: string) => new ApiError('forbidden', msg);
export const notFound = (msg = 'The resource could not be found.') => new ApiError('not_found', msg);
export const methodNotAllowed = (method: string, allow: string) =>
  new ApiError('method_not_allowed', `The method ${method} is not allowed for this resource.`, { Allow: allow });
export const conflict = (msg: string) => new ApiError('conflict', msg);
export const gone = (msg: string) => new ApiError('gone', msg);
export const tooLarge = (msg: string) => new ApiError('too_large', msg);
export const unsupportedMediaType = (msg: string, headers: Record<string, string> = {}) => new ApiError('unsupported_media_type', msg, headers);
export const rangeNotSatisfiable = (msg: string) => new ApiError('range_not_satisfiable', msg);
export const headerTooLarge = (msg: string) => new ApiError('header_too_large', msg);
export const serviceUnavailable = (msg: string) => new ApiError('unavailable', msg);
export const internalError = (msg = 'The server has either erred or is incapable of performing the requested operation.') =>
  new ApiError('internal', msg);

/** The message of anything thrown, for task records and logs. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- the data path ---------------------------------------------------------------------------

export type StoreErrorKind = 'not_found' | 'duplicate' | 'storage_full' | 'write_denied' | 'unavailable' | 'bad_uri' | 'unsupported' | 'in_use' | 'invalid';

/** What every store driver throws (src/stores/store.ts re-exports it); `kind` is its meaning. */
export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get code(): `store_${StoreErrorKind}` {
    return `store_${this.kind}`;
  }
}

/** image_size_cap or the owner's user_storage_quota reached while receiving data. */
export class SizeLimitError extends Error {
  constructor(
    readonly kind: 'image_size_cap' | 'storage_quota',
    readonly limit: number,
  ) {
    super(kind === 'image_size_cap' ? `The provided image is too large.` : `The size of the data exceeds the remaining storage quota.`);
  }

  get code(): 'image_size_cap' | 'storage_quota' {
    return this.kind;
  }
}

/** More or fewer bytes than x-openstack-image-size said. */
export class SizeMismatchError extends Error {
  readonly code = 'size_mismatch';
  constructor(declared: number, actual: number) {
    super(`Image size mismatch: declared ${declared} bytes, received ${actual}.`);
  }
}

/** A copy of existing data that is not that data. */
export class ChecksumMismatchError extends Error {
  readonly code = 'checksum_mismatch';
  constructor(expected: string, actual: string) {
    super(`Checksum mismatch: expected md5 ${expected}, got ${actual}.`);
  }
}

/** Data the format inspector refuses: unsafe, or not the declared disk_format. */
export class FormatRejectedError extends Error {
  readonly code = 'format_rejected';
}

/** Maps what can go wrong while receiving image data (PUT /file, PUT /stage) to Glance's answers. */
export function ingestError(e: unknown): Error {
  if (e instanceof ApiError) return e;
  if (e instanceof SizeLimitError) {
    return e.code === 'image_size_cap' ? tooLarge(`The incoming image is too large: ${e.message}`) : tooLarge(`Image exceeds the storage quota: ${e.message}`);
  }
  if (e instanceof SizeMismatchError) return badRequest(e.message);
  if (e instanceof FormatRejectedError) return unsupportedMediaType(`Image data does not pass inspection: ${e.message}`);
  if (e instanceof StoreError) return storeAnswer(e);
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ECONNRESET' || (e as Error)?.message === 'aborted' || (e as Error)?.name === 'AbortError') {
    return badRequest('The client closed the connection before the upload completed.');
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** A store's failure as Glance answers it (glance/api/v2/image_data.py). */
function storeAnswer(e: StoreError): ApiError {
  switch (e.kind) {
    case 'storage_full':
      return tooLarge(`Image storage media is full: ${e.message}`);
    case 'write_denied':
      return serviceUnavailable(`Insufficient permissions on image storage media: ${e.message}`);
    case 'unavailable':
      return serviceUnavailable(e.message);
    case 'duplicate':
    case 'in_use':
      return conflict(e.message);
    case 'not_found':
      return notFound(e.message);
    case 'unsupported':
      return gone('Error in store configuration. Adding images to store is disabled.');
    default:
      return badRequest(e.message);
  }
}
