// librados/librbd errors as the StoreError kinds every driver throws (Glance's mapping:
// ImageNotFound → NotFound, ImageExists → Duplicate, NoSpace → StorageFull,
// ImageBusy/ImageHasSnapshots → InUseByStore, connection errors → BackendException/503).

import { StoreError } from '../store.js';
import { LibrbdMissingError, RbdError } from './librbd.js';

const KINDS: Record<string, StoreError['kind']> = {
  ENOENT: 'not_found',
  EEXIST: 'duplicate',
  ENOSPC: 'storage_full',
  EDQUOT: 'storage_full',
  EACCES: 'write_denied',
  EPERM: 'write_denied',
  EROFS: 'write_denied',
  EBUSY: 'in_use',
  ENOTEMPTY: 'in_use',
};

/** `what` says which operation on which image failed, for the operator reading the message. */
export function storeErrorOf(e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e;
  if (e instanceof LibrbdMissingError) return new StoreError('unavailable', e.message, { cause: e });
  if (e instanceof RbdError) {
    const kind = KINDS[e.code] ?? 'unavailable';
    const hint =
      e.code === 'ETIMEDOUT'
        ? ': the Ceph cluster did not answer in time (rados_connect_timeout / rados_osd_op_timeout); check that its monitors and OSDs are up'
        : e.code === 'ESHUTDOWN' || e.code === 'ENOTCONN'
          ? ': the connection to the Ceph cluster is gone'
          : '';
    return new StoreError(kind, `${what}: ${e.message}${hint}`, { cause: e });
  }
  return new StoreError('unavailable', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  const c = e instanceof RbdError ? e : e instanceof StoreError && e.cause instanceof RbdError ? e.cause : undefined;
  return c !== undefined && codes.includes(c.code);
}
