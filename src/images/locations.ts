// Image locations changed by clients (PATCH /locations, Glance's "multiple
// locations" feature): which URLs may be added, validation_data, duplicates,
// quotas, and what removing a location does to the stored bytes.

import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { badRequest, conflict, forbidden, tooLarge } from '../errors/index.js';
import { UrlPolicyError } from '../net/urlPolicy.js';
import type { StoreRegistry } from '../stores/registry.js';
import { StoreError } from '../stores/store.js';
import type { Image, ImageLocation } from './model.js';

/** Schemes a client may never point an image at (Glance's RESTRICTED_URI_SCHEMAS): local files, stored credentials. */
const RESTRICTED_SCHEMES = new Set(['file', 'filesystem', 'swift+config']);

export interface NewLocation {
  url: string;
  metadata: Record<string, unknown>;
  validation_data?: { checksum?: string; os_hash_algo?: string; os_hash_value?: string };
}

/** A location not yet saved has no id. */
export type PendingLocation = Omit<ImageLocation, 'id'> & { id?: number };

export class LocationRules {
  constructor(
    private readonly config: Config,
    private readonly stores: StoreRegistry,
  ) {}

  private requireVisible(verb: string): void {
    if (!this.config.api.showMultipleLocations) throw forbidden(`It's not allowed to ${verb} locations if locations are invisible.`);
  }

  /** Glance's _check_location_uri: a known, unrestricted scheme that answers with a size. Returns the size. */
  async check(loc: NewLocation): Promise<number> {
    const scheme = loc.url.slice(0, Math.max(0, loc.url.indexOf(':'))).toLowerCase();
    const store = this.stores.all().find((s) => s.schemes.includes(scheme));
    if (!store || RESTRICTED_SCHEMES.has(scheme)) throw badRequest('Invalid location');
    let size = 0;
    try {
      size = (await store.stat(loc.url)).size;
    } catch (e) {
      if (e instanceof StoreError || e instanceof UrlPolicyError) throw badRequest('Invalid location');
      throw e;
    }
    if (!(size > 0)) throw badRequest('Invalid location');
    return size;
  }

  /** Tags a client-supplied location with the store that holds it (multistore). */
  withStore(loc: NewLocation): PendingLocation {
    const metadata = { ...loc.metadata };
    if (this.stores.multistore) {
      const id = this.stores.storeIdFor(loc.url);
      if (id) metadata.store = id;
    }
    return { url: loc.url, metadata, status: 'active' };
  }

  /** Glance's _validate_validation_data: values that may fill checksum/os_hash_* on a queued image. */
  validationData(image: Image, locations: NewLocation[]): Partial<Pick<Image, 'checksum' | 'os_hash_algo' | 'os_hash_value'>> {
    const given: Record<string, string> = {};
    for (const loc of locations) {
      for (const [k, v] of Object.entries(loc.validation_data ?? {})) {
        if (given[k] !== undefined && given[k] !== v) throw conflict(`Conflicting values for ${k}`);
        given[k] = v as string;
      }
    }
    const fresh: Record<string, string> = {};
    for (const [k, v] of Object.entries(given)) {
      const current = image[k as 'checksum' | 'os_hash_algo' | 'os_hash_value'];
      if (v === current) continue;
      if (current) throw conflict(`${k} is already set with a different value`);
      fresh[k] = v;
    }
    if (Object.keys(fresh).length === 0) return {};
    if (image.status !== 'queued') {
      throw conflict(`New value(s) for ${Object.keys(fresh).join(', ')} may only be provided when image status is 'queued'`);
    }
    if (fresh.checksum !== undefined && !/^[0-9a-fA-F]{32}$/.test(fresh.checksum)) {
      throw conflict(`checksum (${fresh.checksum}) is not a valid md5 hexadecimal value`);
    }
    const algo = fresh.os_hash_algo;
    if (algo !== this.config.api.hashingAlgorithm) throw conflict(`os_hash_algo must be ${this.config.api.hashingAlgorithm}, not ${algo}`);
    const want = createHash(algo).digest().length;
    const value = fresh.os_hash_value ?? '';
    if (!/^[0-9a-fA-F]*$/.test(value) || value.length % 2) throw conflict(`os_hash_value (${value}) is not a valid hexadecimal value`);
    if (value.length / 2 !== want) {
      throw conflict(`os_hash_value (${value}) is not the correct size for ${algo} (should be ${want} bytes)`);
    }
    return fresh as Partial<Pick<Image, 'checksum' | 'os_hash_algo' | 'os_hash_value'>>;
  }

  private quota(count: number): void {
    const q = this.config.api.imageLocationQuota;
    if (q >= 0 && count > q) throw tooLarge(`Maximum number of locations exceeded: attempted ${count}, maximum ${q}`);
  }

  /** PATCH add /locations/<n|->: validates and returns the new list (and the size the store reported). */
  async add(image: Image, current: PendingLocation[], pos: string, value: NewLocation): Promise<{ locations: PendingLocation[]; size: number }> {
    this.requireVisible('add');
    if (!['active', 'queued'].includes(image.status)) throw conflict(`It's not allowed to add locations if image status is ${image.status}.`);
    const at = position(pos, current.length, true);
    if (at === undefined) throw badRequest('Invalid position for adding a location.');
    const size = await this.check(value);
    const loc = this.withStore(value);
    if (current.some((l) => l.url === loc.url && sameJson(l.metadata, loc.metadata))) {
      throw badRequest(`The location ${loc.url} is already present.`);
    }
    this.quota(current.length + 1);
    const locations = [...current];
    locations.splice(at, 0, loc);
    return { locations, size };
  }

  /** PATCH replace /locations: only the metadata of existing URLs may change, unless there were none. */
  async replace(image: Image, current: PendingLocation[], value: NewLocation[]): Promise<{ locations: PendingLocation[]; size: number | undefined }> {
    this.requireVisible('update');
    if (!['active', 'queued'].includes(image.status)) throw conflict(`It's not allowed to replace locations if image status is ${image.status}.`);
    const urls = (l: { url: string }[]) => l.map((x) => x.url).sort().join('\n');
    const same = urls(value) === urls(current);
    if (current.length > 0 && !same) throw badRequest(`Original locations is not empty: ${current.map((l) => l.url).join(', ')}`);
    let size: number | undefined;
    if (!same) {
      for (const v of value) {
        const s = await this.check(v);
        size ??= s;
        const n = value.filter((o) => o.url === v.url && sameJson(o.metadata, v.metadata)).length;
        if (n > 1) throw badRequest(`The location ${v.url} is already present.`);
      }
    }
    this.quota(value.length);
    const locations = value.map((v) => {
      const existing = current.find((c) => c.url === v.url);
      return { ...this.withStore(v), ...(existing?.id !== undefined ? { id: existing.id } : {}) };
    });
    return { locations, size };
  }

  /** PATCH remove /locations/<n>: never the last one; the caller deletes the bytes once saved. */
  remove(image: Image, current: PendingLocation[], pos: string): { locations: PendingLocation[]; removed: PendingLocation } {
    this.requireVisible('remove');
    if (image.status !== 'active') throw conflict(`It's not allowed to remove locations if image status is ${image.status}.`);
    if (current.length === 1) throw forbidden('Cannot remove last location in the image.');
    const at = position(pos, current.length, false);
    if (at === undefined) throw badRequest('Invalid position for removing a location.');
    const locations = [...current];
    const [removed] = locations.splice(at, 1);
    return { locations, removed: removed! };
  }

  /** Deletes the bytes behind a removed location; stores that cannot delete (http) or already lost them are fine. */
  async deleteData(loc: PendingLocation): Promise<void> {
    try {
      const store = this.stores.forLocation(loc.url, loc.metadata);
      if (store.capabilities.delete) await store.delete(loc.url);
    } catch (e) {
      if (e instanceof StoreError && (e.kind === 'not_found' || e.kind === 'unsupported' || e.kind === 'bad_uri')) return;
      throw e;
    }
  }
}

/** Glance's _get_locations_op_pos: an index or "-" (append), within bounds. */
function position(text: string, length: number, allowEnd: boolean): number | undefined {
  let pos = allowEnd ? length : length - 1;
  if (/^\d+$/.test(text)) pos = Number(text);
  else if (text !== '-') return undefined;
  if (!allowEnd && !(pos >= 0 && pos < length)) return undefined;
  return pos;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
