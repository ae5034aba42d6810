// The rbd store's options, read as glance_store's rbd driver reads them (same names, defaults
// and units), from [glance_store] or the store's own section under enabled_backends.

import { ConfigError, type OptionReader } from '../../config/options.js';

const MiB = 1 << 20;

export interface RbdStoreOptions {
  id: string;
  description?: string | undefined;
  weight?: number;
  /** rbd_store_pool */
  pool: string;
  /** rbd_store_user: the cephx id without "client." (undefined: librados's default, admin). */
  user?: string | undefined;
  /** rbd_store_ceph_conf (undefined: librados's search, /etc/ceph/ceph.conf first). */
  cephConf?: string | undefined;
  /** rbd_store_chunk_size in bytes: the RBD object size (image order) and the write/read unit. */
  chunkSize: number;
  /** rbd_thin_provisioning: all-zero chunks are not written (RBD images are sparse). */
  thinProvisioning: boolean;
  /** rados_connect_timeout in seconds; <= 0 lets cluster.ts pick its bounded defaults. */
  connectTimeout: number;
  /** Location metadata ({store: id} in multistore mode). */
  locationMetadata: Record<string, unknown>;
}

export function rbdStoreOptionsFrom(id: string, opts: OptionReader, multistore: boolean): RbdStoreOptions {
  const chunkMiB = opts.int('rbd_store_chunk_size', 8, 1);
  // order = log2(chunk) as Glance computes it; librbd accepts objects of 4 KiB to 32 MiB
  if (chunkMiB > 32) throw new ConfigError(`[${opts.section}] rbd_store_chunk_size: ${chunkMiB} MiB is above RBD's largest object size, 32 MiB`);
  const pool = opts.str('rbd_store_pool', 'images');
  if (pool.includes('/') || pool.includes('@')) throw new ConfigError(`[${opts.section}] rbd_store_pool: "${pool}" is not a pool name`);
  return {
    id,
    description: opts.str('store_description'),
    weight: opts.int('weight', 0),
    pool,
    user: opts.str('rbd_store_user') || undefined,
    cephConf: opts.str('rbd_store_ceph_conf') || undefined,
    chunkSize: chunkMiB * MiB,
    thinProvisioning: opts.bool('rbd_thin_provisioning', false),
    connectTimeout: opts.int('rados_connect_timeout', 0),
    locationMetadata: multistore ? { store: id } : {},
  };
}

/** Glance's image order: floor(log2(chunk size)). */
export function orderOf(chunkSize: number): number {
  return Math.floor(Math.log2(chunkSize));
}
