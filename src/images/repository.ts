// Image metadata persistence: one place that knows the tables. Every status
// change is transition(): checked against the status table and compare-and-set
// (UPDATE ... WHERE status IN (...)) together with what goes with it, so two API
// nodes can never both move an image out of `queued`, and no reader ever sees an
// active image without its location.

import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Database, ImagesTable } from '../db/schema.js';
import type { RequestContext } from '../auth/context.js';
import { nowStamp, STATUS_TRANSITIONS, type Image, type ImageLocation, type ImageStatus, type Visibility } from './model.js';

export type SortKey = 'name' | 'status' | 'container_format' | 'disk_format' | 'size' | 'id' | 'created_at' | 'updated_at';
export type SortDir = 'asc' | 'desc';
export type MemberStatus = 'pending' | 'accepted' | 'rejected' | 'all';

export interface ListFilters {
  /** name/id/status/container_format/disk_format equal to one of the values (eq: or in:). */
  inColumns: { column: 'name' | 'id' | 'status' | 'container_format' | 'disk_format'; values: string[] }[];
  /** created_at/updated_at compared with an instant. */
  times: { column: 'created_at' | 'updated_at'; op: 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq' | 'outside'; value: string; until?: string }[];
  /** size_min / size_max style bounds on integer columns. */
  bounds: { column: 'size' | 'virtual_size' | 'min_ram' | 'min_disk'; op: '>=' | '<='; value: number }[];
  /** Other base columns by equality (owner, checksum, os_hash_value, protected, min_ram...). */
  equals: { column: keyof ImagesTable; value: string | number | null }[];
  properties: { name: string; value: string }[];
  tags: string[];
  osHidden: boolean;
}

export interface ListQuery {
  limit: number;
  marker: Image | undefined;
  sortKeys: SortKey[];
  sortDirs: SortDir[];
  memberStatus: MemberStatus;
  visibility: Visibility | 'all' | undefined;
  filters: ListFilters;
}

type ImageRow = ImagesTable;

/** Columns a transition may set besides the status (ids, creation and soft-delete are the repository's). */
export type ImageFields = Partial<Omit<ImageRow, 'id' | 'status' | 'created_at' | 'deleted' | 'deleted_at'>>;

/** What a transition writes with the status, in the same transaction. */
export interface ImageWrite {
  fields?: ImageFields;
  setProperties?: Record<string, string>;
  removeProperties?: string[];
  /** The image's whole location list, in order (rows without an id are new, missing ones go). */
  locations?: { id?: number; url: string; metadata: Record<string, unknown>; status: string }[];
  /** Locations appended after the existing ones. */
  addLocations?: { url: string; metadata: Record<string, unknown>; status?: string }[];
}

const NULLABLE_SORT_KEYS = new Set<SortKey>(['name', 'container_format', 'disk_format', 'size']);

/** Values used in place of NULL when sorting and paginating, as Glance's _paginate_query does. */
const NULL_SORT_DEFAULT: Record<SortKey, string | number> = {
  name: '',
  status: '',
  container_format: '',
  disk_format: '',
  size: 0,
  id: '',
  created_at: '',
  updated_at: '',
};

export class ImageRepository {
  constructor(private readonly db: Db) {}

  /** A live (not deleted) image, with properties, tags and locations. */
  async get(id: string): Promise<Image | undefined> {
    if (id.length > 36) return undefined;
    const row = await this.db.selectFrom('images').selectAll().where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    if (!row) return undefined;
    return (await this.hydrate([row]))[0];
  }

  /** True if the id was ever used, deleted images included (ids are never reused, as in Glance). */
  async idTaken(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('images').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  async create(image: Image): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('images').values(toRow(image)).execute();
      const props = Object.entries(image.properties);
      if (props.length) {
        await trx
          .insertInto('image_properties')
          .values(props.map(([name, value]) => ({ image_id: image.id, name, value })))
          .execute();
      }
      if (image.tags.length) {
        await trx
          .insertInto('image_tags')
          .values([...new Set(image.tags)].map((value) => ({ image_id: image.id, value })))
          .execute();
      }
    });
  }

  /**
   * The one way an image changes status: from one of `from` to `to`, with the fields, properties
   * and locations that go with the move, all in one transaction. The status guard is a single
   * conditional `UPDATE images ... WHERE id = ? AND deleted = 0 AND status IN (from)`: on
   * PostgreSQL and MariaDB it row-locks the image until commit, so the location and property
   * writes that follow can never interleave with another node's move. Returns false (and writes
   * nothing) when the image is gone or no longer in `from`. `to` equal to a `from` status keeps
   * it: a write guarded by status. Throws when the table (STATUS_TRANSITIONS) forbids a move:
   * that is a bug in the caller, not a race.
   */
  async transition(id: string, from: ImageStatus | readonly ImageStatus[], to: ImageStatus, write: ImageWrite = {}): Promise<boolean> {
    const froms: readonly ImageStatus[] = typeof from === 'string' ? [from] : from;
    for (const f of froms) {
      if (f !== to && !STATUS_TRANSITIONS[f].includes(to)) throw new Error(`imago bug: image status ${f} -> ${to} is not an allowed transition`);
    }
    const now = nowStamp();
    return this.db.transaction().execute(async (trx) => {
      const gone = to === 'deleted' ? { deleted: 1, deleted_at: now } : {};
      const res = await trx
        .updateTable('images')
        .set({ ...(write.fields ?? {}), ...gone, status: to, updated_at: write.fields?.updated_at ?? now })
        .where('id', '=', id)
        .where('deleted', '=', 0)
        .where('status', 'in', [...froms])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      if (to === 'deleted') {
        // ids stay taken (the row is soft-deleted); everything hanging off the image goes
        await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
        await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
        await trx.deleteFrom('image_members').where('image_id', '=', id).execute();
        await trx.deleteFrom('image_locations').where('image_id', '=', id).execute();
        return true;
      }
      // Properties are replaced by delete + insert: portable, where upserts differ per engine.
      const set = Object.entries(write.setProperties ?? {});
      const names = [...(write.removeProperties ?? []), ...set.map(([name]) => name)];
      if (names.length) await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', 'in', names).execute();
      if (set.length) await trx.insertInto('image_properties').values(set.map(([name, value]) => ({ image_id: id, name, value }))).execute();
      if (write.locations) {
        const keep = write.locations.filter((l) => l.id !== undefined).map((l) => l.id!);
        let del = trx.deleteFrom('image_locations').where('image_id', '=', id);
        if (keep.length) del = del.where('id', 'not in', keep);
        await del.execute();
        for (const [position, l] of write.locations.entries()) {
          const values = { url: l.url, metadata: JSON.stringify(l.metadata), status: l.status, position, updated_at: now };
          if (l.id !== undefined) await trx.updateTable('image_locations').set(values).where('id', '=', l.id).execute();
          else await trx.insertInto('image_locations').values({ ...values, image_id: id, created_at: now }).execute();
        }
      }
      if (write.addLocations?.length) {
        const last = await trx
          .selectFrom('image_locations')
          .select((eb) => eb.fn.max('position').as('p'))
          .where('image_id', '=', id)
          .executeTakeFirst();
        let position = last?.p === null || last?.p === undefined ? 0 : Number(last.p) + 1;
        await trx
          .insertInto('image_locations')
          .values(
            write.addLocations.map((l) => ({
              image_id: id,
              url: l.url,
              metadata: JSON.stringify(l.metadata),
              status: l.status ?? 'active',
              position: position++,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      }
      return true;
    });
  }

  /** Sets a property only if it is absent (the import lock); false if someone holds it. */
  async setPropertyAtomic(id: string, name: string, value: string): Promise<boolean> {
    const res = await this.db
      .insertInto('image_properties')
      .values({ image_id: id, name, value })
      .onConflict((oc) => oc.columns(['image_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Removes a property only if it still has this value; false if it changed meanwhile. */
  async deletePropertyAtomic(id: string, name: string, value: string): Promise<boolean> {
    const res = await this.db.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', name).where('value', '=', value).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  /** Sets or removes (undefined) properties without touching the rest of the image. */
  async setProperties(id: string, props: Record<string, string | undefined>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [name, value] of Object.entries(props)) {
        if (value === undefined) await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', name).execute();
        else
          await trx
            .insertInto('image_properties')
            .values({ image_id: id, name, value })
            .onConflict((oc) => oc.columns(['image_id', 'name']).doUpdateSet({ value }))
            .execute();
      }
      await trx.updateTable('images').set({ updated_at: nowStamp() }).where('id', '=', id).execute();
    });
  }

  async addTag(id: string, tag: string): Promise<void> {
    await this.db
      .insertInto('image_tags')
      .values({ image_id: id, value: tag })
      .onConflict((oc) => oc.columns(['image_id', 'value']).doNothing())
      .execute();
    await this.touch(id);
  }

  async removeTag(id: string, tag: string): Promise<boolean> {
    const res = await this.db.deleteFrom('image_tags').where('image_id', '=', id).where('value', '=', tag).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) return false;
    await this.touch(id);
    return true;
  }

  async replaceTags(id: string, tags: string[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
      const unique = [...new Set(tags)];
      if (unique.length) await trx.insertInto('image_tags').values(unique.map((value) => ({ image_id: id, value }))).execute();
    });
  }

  async removeLocation(locationId: number): Promise<void> {
    await this.db.deleteFrom('image_locations').where('id', '=', locationId).execute();
  }

  /** Bytes of live images owned by a project (user_storage_quota). */
  async storageUsed(owner: string, excludeImage?: string): Promise<number> {
    let q = this.db
      .selectFrom('images')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('total'))
      .where('owner', '=', owner)
      .where('deleted', '=', 0);
    if (excludeImage) q = q.where('id', '!=', excludeImage);
    const row = await q.executeTakeFirst();
    return Number(row?.total ?? 0);
  }

  private async touch(id: string): Promise<void> {
    await this.db.updateTable('images').set({ updated_at: nowStamp() }).where('id', '=', id).execute();
  }

  /** Lists images as Glance's image_get_all does, one page, sorted and filtered in SQL. */
  async list(ctx: RequestContext, q: ListQuery): Promise<Image[]> {
    let query = this.db.selectFrom('images').selectAll('images').where('deleted', '=', 0).where('status', '!=', 'killed');
    query = query.where((eb) => this.readableCondition(eb, ctx, q.memberStatus));

    if (q.visibility && q.visibility !== 'all') {
      query = query.where('visibility', '=', q.visibility);
    } else if (!q.visibility) {
      // Without a visibility filter, other projects' community images are left out.
      if (ctx.projectId === null) query = query.where('visibility', '!=', 'community');
      else {
        const owner = ctx.projectId;
        query = query.where((eb) => eb.or([eb('owner', '=', owner), eb('visibility', '!=', 'community')]));
      }
    }

    const f = q.filters;
    query = query.where('os_hidden', '=', f.osHidden ? 1 : 0);
    for (const c of f.inColumns) query = c.values.length ? query.where(c.column, 'in', c.values) : query.where(sql<SqlBool>`1 = 0`);
    for (const t of f.times) {
      if (t.op === 'outside') {
        const [from, until] = [t.value, t.until!];
        query = query.where((eb) => eb.or([eb(t.column, '<', from), eb(t.column, '>=', until)]));
        continue;
      }
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '!=' }[t.op] as '>' | '>=' | '<' | '<=' | '=' | '!=';
      query = query.where(t.column, op, t.value);
    }
    for (const b of f.bounds) query = query.where(b.column, b.op, b.value);
    for (const e of f.equals) {
      query = e.value === null ? query.where(e.column, 'is', null) : query.where(e.column, '=', e.value);
    }
    for (const p of f.properties) {
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('image_properties as p')
            .select(sql`1`.as('one'))
            .whereRef('p.image_id', '=', 'images.id')
            .where('p.name', '=', p.name)
            .where('p.value', '=', p.value),
        ),
      );
    }
    for (const tag of f.tags) {
      query = query.where((eb) =>
        eb.exists(
          eb.selectFrom('image_tags as t').select(sql`1`.as('one')).whereRef('t.image_id', '=', 'images.id').where('t.value', '=', tag),
        ),
      );
    }

    const keys = [...q.sortKeys];
    const dirs = [...q.sortDirs];
    if (dirs.length === 1 && keys.length > 1) while (dirs.length < keys.length) dirs.push(dirs[0]!);
    const defaultDir = dirs.length === 1 ? dirs[0]! : 'desc';
    for (const k of ['created_at', 'id'] as const) {
      if (!keys.includes(k)) {
        keys.push(k);
        dirs.push(defaultDir);
      }
    }
    // NOT NULL columns sort on the bare column so the (deleted, created_at, id) index serves the default order.
    const sortExpr = (k: SortKey) =>
      NULLABLE_SORT_KEYS.has(k) ? sql`coalesce(${sql.ref(`images.${k}`)}, ${NULL_SORT_DEFAULT[k]})` : sql.ref(`images.${k}`);

    if (q.marker) {
      const marker = q.marker;
      const mv = keys.map((k) => (marker[k] ?? NULL_SORT_DEFAULT[k]) as string | number);
      query = query.where((eb) =>
        eb.or(
          keys.map((k, i) => {
            const parts: Expression<SqlBool>[] = [];
            for (let j = 0; j < i; j++) parts.push(sql<SqlBool>`${sortExpr(keys[j]!)} = ${mv[j]}`);
            parts.push(dirs[i] === 'desc' ? sql<SqlBool>`${sortExpr(k)} < ${mv[i]}` : sql<SqlBool>`${sortExpr(k)} > ${mv[i]}`);
            return eb.and(parts);
          }),
        ),
      );
    }
    for (let i = 0; i < keys.length; i++) query = query.orderBy(sortExpr(keys[i]!), dirs[i]!);
    const rows = await query.limit(q.limit).execute();
    return this.hydrate(rows);
  }

  /** Images the context may read: everything for admins; else public, community, own, and shared-with-me. */
  private readableCondition(eb: ExpressionBuilder<Database, 'images'>, ctx: RequestContext, memberStatus: MemberStatus): Expression<SqlBool> {
    if (ctx.isAdmin) return sql<SqlBool>`1 = 1`;
    const ors: Expression<SqlBool>[] = [eb('visibility', 'in', ['public', 'community'])];
    if (ctx.projectId !== null) {
      const me = ctx.projectId;
      ors.push(eb('owner', '=', me));
      let members = eb
        .selectFrom('image_members as m')
        .select(sql`1`.as('one'))
        .whereRef('m.image_id', '=', 'images.id')
        .where('m.member', '=', me);
      if (memberStatus !== 'all') members = members.where('m.status', '=', memberStatus);
      ors.push(eb.and([eb('visibility', '=', 'shared'), eb.exists(members)]));
    }
    return eb.or(ors);
  }

  /** Loads properties, tags and locations for rows in three queries, whatever the page size. */
  private async hydrate(rows: ImageRow[]): Promise<Image[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const inIds = idsIn(ids);
    const [props, tags, locs] = await Promise.all([
      this.db.selectFrom('image_properties').select(['image_id', 'name', 'value']).where('image_id', 'in', inIds).execute(),
      this.db.selectFrom('image_tags').select(['image_id', 'value']).where('image_id', 'in', inIds).execute(),
      this.db
        .selectFrom('image_locations')
        .select(['id', 'image_id', 'url', 'metadata', 'status'])
        .where('image_id', 'in', inIds)
        .where('status', '!=', 'deleted')
        .orderBy('position')
        .orderBy('id')
        .execute(),
    ]);
    const byId = new Map<string, Image>();
    const images = rows.map((r) => {
      const img = fromRow(r);
      byId.set(img.id, img);
      return img;
    });
    for (const p of props) byId.get(p.image_id)!.properties[p.name] = p.value;
    for (const t of tags) byId.get(t.image_id)!.tags.push(t.value);
    for (const l of locs) {
      const loc: ImageLocation = { id: l.id, url: l.url, metadata: JSON.parse(l.metadata) as Record<string, unknown>, status: l.status };
      byId.get(l.image_id)!.locations.push(loc);
    }
    return images;
  }
}

/**
 * `IN (...)` over many ids as ONE bound parameter (a JSON array), so a
 * 1,000-image page does not build, bind and plan 1,000 placeholders.
 */
function idsIn(ids: string[]) {
  return sql<string>`(select value from json_each(${JSON.stringify(ids)}))`;
}

function fromRow(r: ImageRow): Image {
  return {
    id: r.id,
    name: r.name,
    status: r.status as ImageStatus,
    visibility: r.visibility as Visibility,
    protected: !!r.protected,
    os_hidden: !!r.os_hidden,
    checksum: r.checksum,
    os_hash_algo: r.os_hash_algo,
    os_hash_value: r.os_hash_value,
    owner: r.owner,
    size: r.size === null ? null : Number(r.size),
    virtual_size: r.virtual_size === null ? null : Number(r.virtual_size),
    min_ram: Number(r.min_ram),
    min_disk: Number(r.min_disk),
    container_format: r.container_format,
    disk_format: r.disk_format,
    created_at: r.created_at,
    updated_at: r.updated_at,
    properties: {},
    tags: [],
    locations: [],
  };
}

function toRow(i: Image): ImageRow {
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    visibility: i.visibility,
    protected: i.protected ? 1 : 0,
    os_hidden: i.os_hidden ? 1 : 0,
    checksum: i.checksum,
    os_hash_algo: i.os_hash_algo,
    os_hash_value: i.os_hash_value,
    owner: i.owner,
    size: i.size,
    virtual_size: i.virtual_size,
    min_ram: i.min_ram,
    min_disk: i.min_disk,
    container_format: i.container_format,
    disk_format: i.disk_format,
    created_at: i.created_at,
    updated_at: i.updated_at,
    deleted_at: null,
    deleted: 0,
  };
}
