// The image as the domain sees it: base attributes, string extra properties,
// tags and locations. Persistence lives in repository.ts, the wire view in view.ts.

export const IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'uploading',
  'importing',
  'pending_delete',
  'deactivated',
] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export interface ImageLocation {
  id: number;
  url: string;
  metadata: Record<string, unknown>;
  status: string;
}

export interface Image {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: Visibility;
  protected: boolean;
  os_hidden: boolean;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: number | null;
  virtual_size: number | null;
  min_ram: number;
  min_disk: number;
  container_format: string | null;
  disk_format: string | null;
  created_at: string;
  updated_at: string;
  properties: Record<string, string>;
  tags: string[];
  locations: ImageLocation[];
}

/** Attributes a client may set on create or PATCH (the rest are read-only or derived). */
export const WRITABLE_BASE = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'owner',
  'min_ram',
  'min_disk',
  'container_format',
  'disk_format',
] as const;
export type WritableBase = (typeof WRITABLE_BASE)[number];

/** Every base attribute name (Glance's _base_properties plus ids and hashes). */
export const BASE_ATTRIBUTES = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'owner',
  'size',
  'virtual_size',
  'min_ram',
  'min_disk',
  'container_format',
  'disk_format',
  'created_at',
  'updated_at',
  'tags',
]);

/**
 * Glance's status machine (domain/__init__.py valid_state_targets), checked by the repository's
 * transition() on every status change. `saving -> queued`, `uploading -> queued` and
 * `importing -> queued` are the rollbacks of a failed upload, stage or import; `active -> queued`
 * the rollback of a 2.17 location import whose background hash failed (the image was usable at
 * once, then its data proved bad).
 */
export const STATUS_TRANSITIONS: Record<ImageStatus, readonly ImageStatus[]> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated', 'queued'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  deactivated: ['active', 'deleted'],
  deleted: [],
};

/** Every status an image may be deleted from. */
export const DELETABLE: readonly ImageStatus[] = IMAGE_STATUSES.filter((s) => STATUS_TRANSITIONS[s].includes('deleted'));

/** ISO-8601 with milliseconds: the stored form (sortable as text). */
export function nowStamp(): string {
  return new Date().toISOString();
}

/** Glance shows timestamps to the second with a Z. */
export function isoSeconds(stamp: string): string {
  return stamp.length >= 19 ? `${stamp.slice(0, 19)}Z` : stamp;
}
