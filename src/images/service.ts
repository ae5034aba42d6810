// Image operations as Glance performs them (glance/api/v2/images.py,
// image_actions.py, image_tags.py and the domain rules), on top of the
// repository, the authorizer and the stores. The image data (PUT and GET
// /file) is data.ts.

import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import { storeContext, type RequestContext } from '../auth/context.js';
import { badRequest, conflict, forbidden, notFound, StoreError, tooLarge } from '../errors/index.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageAuthorizer, Loaded } from './authz.js';
import type { MemberRepository } from './members.js';
import { BASE_ATTRIBUTES, DELETABLE, nowStamp, STATUS_TRANSITIONS, type Image, type ImageLocation, type ImageStatus, type WritableBase } from './model.js';
import { isReservedName, type Change } from './patch.js';
import type { LocationRules, NewLocation, PendingLocation } from './locations.js';
import type { ImageRepository } from './repository.js';
import { parseListQuery } from './listQuery.js';
import type { ImageSchemas } from './schema.js';
import { imageView, type ImageView } from './view.js';

/** Keys a create body may never carry (Glance: 403 read-only). */
const CREATE_FORBIDDEN = ['direct_url', 'self', 'file', 'schema', 'stores'];
const CREATE_READ_ONLY = ['created_at', 'updated_at', 'status', 'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size'];

export interface ImageServiceDeps {
  config: Config;
  repo: ImageRepository;
  members: MemberRepository;
  authz: ImageAuthorizer;
  schemas: ImageSchemas;
  stores: StoreRegistry;
  locations: LocationRules;
  /** Cleanup of data kept outside the stores (staging, the image cache) once an image is deleted. */
  afterDelete?: (image: Image) => Promise<void>;
}

/**
 * Hands a request to the node that must do it (the one holding the image's staged data):
 * true when that node did, false to go on here. Called once the caller may act on the image.
 */
export type Relay = (image: Image) => Promise<boolean>;


export class ImageService {
  constructor(private readonly d: ImageServiceDeps) {}

  /** The wire view, without the properties the caller may not read (property protections). */
  view(ctx: RequestContext, image: Image): ImageView {
    const readable = this.d.authz.readableProperties(ctx, image.properties);
    return imageView(readable === image.properties ? image : { ...image, properties: readable }, {
      showMultipleLocations: this.d.config.api.showMultipleLocations,
      showImageDirectUrl: this.d.config.api.showImageDirectUrl,
      multistore: this.d.stores.multistore,
      sortLocations: (locs) => this.sortLocations(locs),
    });
  }

  /** Best location first: higher store weight, then oldest. */
  sortLocations(locations: ImageLocation[]): ImageLocation[] {
    const weight = (l: ImageLocation) => {
      try {
        return this.d.stores.forLocation(l.url, l.metadata).weight;
      } catch {
        return Number.NEGATIVE_INFINITY;
      }
    };
    // A stable sort: within one weight, the order clients gave (PATCH /locations/<n>) stays.
    return [...locations].sort((a, b) => weight(b) - weight(a));
  }

  /**
   * An image the caller may see, with how it sees it (as a member or not):
   * missing and invisible images are both 404, as in Glance.
   */
  async load(ctx: RequestContext, id: string): Promise<Loaded> {
    const image = await this.d.repo.get(id);
    if (image) {
      const needsMembership = image.visibility === 'shared' && ctx.projectId !== null && image.owner !== ctx.projectId;
      const isMember = needsMembership ? await this.d.members.isMember(image.id, ctx.projectId!) : false;
      if (this.d.authz.visible(ctx, image, isMember)) return { image, access: { isMember, isVisible: true } };
    }
    throw notFound(`No image found with ID ${id}`);
  }

  async show(ctx: RequestContext, id: string): Promise<Image> {
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'get_image', access);
    return image;
  }

  async create(ctx: RequestContext, body: unknown): Promise<Image> {
    if (body === undefined) throw badRequest('Body expected in request.');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(`Provided object does not match schema 'image': body must be an object`);
    }
    const input = { ...(body as Record<string, unknown>) };
    for (const k of CREATE_FORBIDDEN) if (k in input) throw forbidden(`Attribute '${k}' is read-only.`);
    const invalid = this.d.schemas.validateImage(input);
    if (invalid) throw badRequest(invalid);
    const tags = (input.tags as string[] | undefined) ?? [];
    delete input.tags;

    const base: Partial<Record<string, unknown>> = {};
    for (const k of BASE_ATTRIBUTES) {
      if (k in input) {
        base[k] = input[k];
        delete input[k];
      }
    }
    const properties = input as Record<string, unknown>;
    for (const key of Object.keys(properties)) {
      if (key.length > 255) throw badRequest('Custom property should not be greater than 255 characters.');
      if (isReservedName(key)) throw forbidden(`Attribute '${key}' is reserved.`);
    }
    for (const key of Object.keys(properties)) {
      if (!this.d.authz.property(ctx, key, 'create')) throw forbidden(`Attribute '${key}' is reserved.`);
    }
    for (const k of CREATE_READ_ONLY) if (k in base) throw forbidden(`Attribute '${k}' is read-only.`);
    for (const k of ['min_ram', 'min_disk'] as const) {
      if (typeof base[k] === 'number' && (base[k] as number) < 0) throw badRequest(`Invalid value '${String(base[k])}' for parameter '${k}': Cannot be a negative value.`);
    }

    const owner = 'owner' in base ? (base.owner as string | null) : ctx.projectId;
    const visibility = (base.visibility as Image['visibility'] | undefined) ?? 'shared';
    this.d.authz.create(ctx, { ...('owner' in base ? { owner } : {}), visibility });

    const api = this.d.config.api;
    if (api.imagePropertyQuota >= 0 && Object.keys(properties).length > api.imagePropertyQuota) {
      throw tooLarge(`Maximum number of properties exceeded: attempted ${Object.keys(properties).length}, maximum ${api.imagePropertyQuota}`);
    }
    if (api.imageTagQuota >= 0 && new Set(tags).size > api.imageTagQuota) {
      throw tooLarge(`Maximum number of tags exceeded: attempted ${new Set(tags).size}, maximum ${api.imageTagQuota}`);
    }

    const id = (base.id as string | undefined) ?? randomUUID();
    if (await this.d.repo.idTaken(id)) throw conflict(`Image with identifier ${id} already exists!`);
    const now = nowStamp();
    const image: Image = {
      id,
      name: (base.name as string | null | undefined) ?? null,
      status: 'queued',
      visibility,
      protected: (base.protected as boolean | undefined) ?? false,
      os_hidden: (base.os_hidden as boolean | undefined) ?? false,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      owner,
      size: null,
      virtual_size: null,
      min_ram: (base.min_ram as number | undefined) ?? 0,
      min_disk: (base.min_disk as number | undefined) ?? 0,
      container_format: (base.container_format as string | null | undefined) ?? null,
      disk_format: (base.disk_format as string | null | undefined) ?? null,
      created_at: now,
      updated_at: now,
      properties: properties as Record<string, string>,
      tags: [...new Set(tags)],
      locations: [],
    };
    try {
      await this.d.repo.create(image);
    } catch (e) {
      if (/UNIQUE|PRIMARY|duplicate/i.test((e as Error).message)) throw conflict(`Image with identifier ${id} already exists!`);
      throw e;
    }
    return image;
  }

  async list(ctx: RequestContext, pairs: [string, string][]): Promise<{ images: Image[]; nextMarker: string | undefined }> {
    const parsed = parseListQuery(pairs, this.d.config.api);
    this.d.authz.rule(ctx, 'get_images', { project_id: ctx.projectId, owner: ctx.projectId, visibility: 'private' });
    let marker: Image | undefined;
    if (parsed.markerId !== undefined) {
      try {
        marker = (await this.load(ctx, parsed.markerId)).image;
      } catch {
        throw badRequest(`No image found with ID ${parsed.markerId}`);
      }
    }
    const { markerId: _ignored, ...query } = parsed;
    const page = await this.d.repo.list(ctx, { ...query, marker });
    // The query only returns readable images; a shared image of another project came through a membership.
    const visible = page.filter((img) =>
      this.d.authz.allowed(ctx, img, 'get_image', { isVisible: true, isMember: img.visibility === 'shared' && img.owner !== ctx.projectId }),
    );
    const nextMarker = visible.length !== 0 && page.length === parsed.limit ? visible[visible.length - 1]!.id : undefined;
    return { images: visible, nextMarker };
  }

  async update(ctx: RequestContext, id: string, changes: Change[]): Promise<Image> {
    const { image, access } = await this.load(ctx, id);
    const before = structuredClone(image);
    const next = structuredClone(image);
    const removed = new Set<string>();
    const modify = (name: string, value?: unknown) => this.d.authz.propertyChange(ctx, next, name, value, access);
    let locs: PendingLocation[] = this.sortLocations(image.locations);
    let locationsChanged = false;
    const dropped: PendingLocation[] = [];
    // Properties the caller may not read do not exist for it (property protections).
    const visibleProp = (name: string) => name in next.properties && this.d.authz.property(ctx, name, 'read');
    for (const c of changes) {
      const root = c.path[0]!;
      if (root === 'locations') {
        this.d.authz.enforce(ctx, next, c.op === 'remove' ? 'delete_image_location' : 'set_image_location', access);
        const rules = this.d.locations;
        if (c.op === 'remove') {
          const r = rules.remove(next, locs, c.path[1]!);
          locs = r.locations;
          dropped.push(r.removed);
        } else {
          if (c.op === 'replace' && (!Array.isArray(c.value) || c.value.length === 0)) throw forbidden('Cannot set locations to empty list.');
          const values = (c.op === 'add' ? [c.value] : c.value) as NewLocation[];
          Object.assign(next, rules.validationData(next, values));
          const r = c.op === 'add' ? await rules.add(next, locs, c.path[1]!, values[0]!) : await rules.replace(next, locs, values);
          locs = r.locations;
          if (next.size === null && r.size !== undefined) next.size = r.size;
          // A queued image with a location has data: it is active.
          if (next.status === 'queued') {
            requireFormats(next);
            next.status = 'active';
          }
        }
        locationsChanged = true;
        continue;
      }
      if (c.op === 'replace' || c.op === 'add') {
        if (root === 'owner' && !ctx.isAdmin) throw forbidden("Owner can't be updated by non admin.");
        modify(root, c.value);
        if (root === 'tags') {
          next.tags = [...new Set(c.value as string[])];
        } else if (BASE_ATTRIBUTES.has(root)) {
          if (c.op === 'add' && c.draft === 4) throw conflict(`Property ${root} already present.`);
          setBase(next, root as WritableBase, c.value);
        } else if (c.op === 'replace' && !visibleProp(root)) {
          throw conflict(`Property ${root} does not exist.`);
        } else {
          if (c.op === 'add' && c.draft === 4 && visibleProp(root)) throw conflict(`Property ${root} already present.`);
          if (root.length > 255) throw badRequest('Custom property should not be greater than 255 characters.');
          if (!this.d.authz.property(ctx, root, visibleProp(root) ? 'update' : 'create')) throw forbidden(`Attribute '${root}' is reserved.`);
          next.properties[root] = c.value as string;
          removed.delete(root);
        }
      } else {
        modify(root);
        if (BASE_ATTRIBUTES.has(root)) throw forbidden(`Property ${root} may not be removed.`);
        if (!visibleProp(root)) throw conflict(`Property ${root} does not exist.`);
        if (!this.d.authz.property(ctx, root, 'delete')) throw forbidden(`Attribute '${root}' is reserved.`);
        delete next.properties[root];
        removed.add(root);
      }
    }
    if (changes.length === 0) return image;
    const api = this.d.config.api;
    const propCount = Object.keys(next.properties).length;
    if (api.imagePropertyQuota >= 0 && propCount > api.imagePropertyQuota && propCount > Object.keys(before.properties).length) {
      throw tooLarge(`Maximum number of properties exceeded: attempted ${propCount}, maximum ${api.imagePropertyQuota}`);
    }
    if (api.imageTagQuota >= 0 && next.tags.length > api.imageTagQuota && next.tags.length > before.tags.length) {
      throw tooLarge(`Maximum number of tags exceeded: attempted ${next.tags.length}, maximum ${api.imageTagQuota}`);
    }
    const baseChange: Record<string, unknown> = {};
    for (const k of [
      'name', 'visibility', 'protected', 'os_hidden', 'owner', 'min_ram', 'min_disk', 'container_format', 'disk_format',
      'size', 'checksum', 'os_hash_algo', 'os_hash_value',
    ] as const) {
      if (next[k] !== before[k]) baseChange[k] = typeof next[k] === 'boolean' ? (next[k] ? 1 : 0) : next[k];
    }
    const setProperties: Record<string, string> = {};
    for (const [k, v] of Object.entries(next.properties)) if (before.properties[k] !== v) setProperties[k] = v;
    next.updated_at = nowStamp();
    const saved = await this.d.repo.transition(id, before.status, next.status, {
      fields: { ...baseChange, updated_at: next.updated_at },
      setProperties,
      removeProperties: [...removed],
      ...(locationsChanged ? { locations: locs } : {}),
    });
    if (!saved) throw conflict(`Image ${id} changed while it was being updated; retry.`);
    // Bytes behind removed locations go once the image no longer points at them.
    for (const loc of dropped) await this.d.locations.deleteData(loc);
    if (next.tags.join('\0') !== before.tags.join('\0')) await this.d.repo.replaceTags(id, next.tags);
    return (await this.d.repo.get(id)) ?? next;
  }

  async delete(ctx: RequestContext, id: string, relay?: Relay): Promise<void> {
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'delete_image', access);
    if (relay && (await relay(image))) return;
    if (image.protected) throw forbidden(`Image ${id} is protected and cannot be deleted.`);
    if (!STATUS_TRANSITIONS[image.status].includes('deleted')) {
      throw badRequest(`Image status transition from ${image.status} to deleted is not allowed`);
    }
    for (const loc of image.locations) {
      try {
        await this.d.stores.forLocation(loc.url, loc.metadata).delete(loc.url, { context: storeContext(ctx) });
      } catch (e) {
        if (e instanceof StoreError && e.kind === 'not_found') continue;
        if (e instanceof StoreError && e.kind === 'in_use') throw conflict(`Image ${id} could not be deleted because it is in use: ${e.message}`);
        // A copy we cannot reach stays behind; the image itself is gone for clients, as in Glance.
        console.error(`imago: failed to delete data of image ${id} at a ${loc.metadata.store ?? ''} location: ${(e as Error).message}`);
      }
    }
    // Already gone (a concurrent delete) is as good as deleted.
    await this.d.repo.transition(id, DELETABLE, 'deleted');
    await this.d.afterDelete?.(image).catch((e) => console.error(`imago: cleanup after deleting ${id}:`, e));
  }

  /** DELETE /v2/stores/{store}/{image}: drops one copy, never the last. */
  async deleteFromStore(ctx: RequestContext, storeId: string, id: string): Promise<void> {
    if (!this.d.stores.multistore) throw notFound();
    if (!this.d.stores.get(storeId)) throw conflict(`The selected store ${storeId} is not available on this node.`);
    let loaded: Loaded;
    try {
      loaded = await this.load(ctx, id);
    } catch {
      throw notFound(`Failed to find image ${id}`);
    }
    const { image, access } = loaded;
    this.d.authz.enforce(ctx, image, 'get_image_location', access);
    this.d.authz.enforce(ctx, image, 'delete_image_location', access);
    if (image.status !== 'active') throw conflict("It's not allowed to remove image data from store if image status is not 'active'");
    const locs = this.sortLocations(image.locations.filter((l) => l.status === 'active'));
    if (locs.length === 1) {
      throw forbidden('Cannot delete image data from the only store containing it. Consider deleting the image instead.');
    }
    const victim = locs.find((l) => l.metadata.store === storeId);
    if (!victim) throw notFound(`Image ${id} is not stored in store ${storeId}.`);
    try {
      await this.d.locations.deleteData(victim);
    } catch (e) {
      if (e instanceof StoreError && e.kind === 'in_use') throw conflict(`The data for Image ${id} could not be deleted because it is in use: ${e.message}`);
      throw e;
    }
    await this.d.repo.removeLocation(victim.id);
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'deactivate', access);
    if (image.status === 'deactivated') return;
    if (image.status !== 'active') throw forbidden(`Not allowed to deactivate image in status '${image.status}'`);
    if (!(await this.d.repo.transition(id, 'active', 'deactivated'))) throw conflict(`Image ${id} changed status; retry.`);
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'reactivate', access);
    if (image.status === 'active') return;
    if (image.status !== 'deactivated') throw forbidden(`Not allowed to reactivate image in status '${image.status}'`);
    if (!(await this.d.repo.transition(id, 'deactivated', 'active'))) throw conflict(`Image ${id} changed status; retry.`);
  }

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const invalid = this.d.schemas.validateImage({ tags: [tag] });
    if (invalid) throw badRequest(invalid);
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'modify_image', access, `Not allowed to update tags for image ${id}.`);
    const quota = this.d.config.api.imageTagQuota;
    if (!image.tags.includes(tag) && quota >= 0 && image.tags.length + 1 > quota) {
      throw tooLarge(`Image tag limit exceeded for image ${id}: attempted: ${image.tags.length + 1}, maximum: ${quota}:`);
    }
    await this.d.repo.addTag(id, tag);
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const { image, access } = await this.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'modify_image', access, `Not allowed to delete tags for image ${id}.`);
    if (!(await this.d.repo.removeTag(id, tag))) throw notFound(`Tag ${tag} not found for image ${id}`);
  }

}

/** Glance refuses data (or a location) for an image without both formats. */
export function requireFormats(image: Image): void {
  const missing = (['disk_format', 'container_format'] as const).filter((k) => !image[k]);
  if (missing.length === 1) throw badRequest(`Property ${missing[0]} must be set prior to saving data.`);
  if (missing.length === 2) throw badRequest('Properties disk_format, container_format must be set prior to saving data.');
}

function setBase(image: Image, key: WritableBase, value: unknown): void {
  if ((key === 'container_format' || key === 'disk_format') && image[key] !== value && !['queued', 'importing'].includes(image.status)) {
    throw forbidden(`Attribute ${key} can be only replaced for a queued image.`);
  }
  if ((key === 'min_ram' || key === 'min_disk') && typeof value === 'number' && value < 0) {
    throw badRequest(`Invalid value '${value}' for parameter '${key}': Cannot be a negative value.`);
  }
  (image as unknown as Record<string, unknown>)[key] = value;
}

export type { ImageStatus };
