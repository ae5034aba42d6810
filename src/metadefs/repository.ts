// Metadefs persistence: the one place that knows the metadef_* tables. JSON
// documents (property types, object properties, required lists) are text here;
// the service parses and shapes them.

import type { Kysely, Selectable, Transaction } from 'kysely';
import type {
  Database,
  MetadefNamespacesTable,
  MetadefObjectsTable,
  MetadefPropertiesTable,
  MetadefResourceTypesTable,
  MetadefTagsTable,
} from '../db/schema.js';
import { nowStamp } from '../images/model.js';

export type NamespaceRow = Selectable<MetadefNamespacesTable>;
export type ObjectRow = Selectable<MetadefObjectsTable>;
export type PropertyRow = Selectable<MetadefPropertiesTable>;
export type TagRow = Selectable<MetadefTagsTable>;
export type ResourceTypeRow = Selectable<MetadefResourceTypesTable>;

/** A namespace's association with a resource type, with the type's name. */
export interface AssociationRow {
  resource_type_id: number;
  name: string;
  prefix: string | null;
  properties_target: string | null;
  created_at: string;
  updated_at: string | null;
}

export interface NamespaceValues {
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: string | null;
  protected: boolean | null;
  owner: string;
}

export interface ObjectValues {
  name: string;
  description: string | null;
  required: string[] | null;
  /** Property name -> property type. */
  properties: Record<string, unknown>;
}

/** Who is listing: admins see every namespace, others public ones and their project's. */
export interface Viewer {
  isAdmin: boolean;
  project: string | null;
}

/** A row with the same unique name exists (any dialect's unique/primary key violation). */
export function isDuplicate(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = String(err?.code ?? '');
  return (
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === '23505' ||
    code === 'ER_DUP_ENTRY' ||
    /UNIQUE constraint failed|duplicate key/i.test(String(err?.message ?? ''))
  );
}

type Executor = Kysely<Database> | Transaction<Database>;

export class MetadefRepository {
  /**
   * @param loading rows created by the file loader have no updated_at until they
   *   change (Glance's loader leaves it NULL, and its API then omits it).
   */
  constructor(
    private readonly db: Executor,
    private readonly loading = false,
  ) {}

  /** Runs `fn` in one transaction (on a repository bound to it). */
  transaction<T>(fn: (repo: MetadefRepository) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return (this.db as Kysely<Database>).transaction().execute((trx) => fn(new MetadefRepository(trx, this.loading)));
  }

  /** created_at and updated_at of a new row. */
  private stamps(): { created_at: string; updated_at: string | null } {
    const now = nowStamp();
    return { created_at: now, updated_at: this.loading ? null : now };
  }

  // Namespaces.

  async namespace(name: string): Promise<NamespaceRow | undefined> {
    return this.db.selectFrom('metadef_namespaces').selectAll().where('namespace', '=', name).executeTakeFirst();
  }

  /** Namespaces the viewer may see, optionally of one visibility or with any of the resource types. */
  async namespaces(viewer: Viewer, filters: { visibility?: string; resourceTypes?: string[] } = {}): Promise<NamespaceRow[]> {
    let q = this.db.selectFrom('metadef_namespaces').selectAll();
    if (!viewer.isAdmin) {
      const project = viewer.project;
      q = q.where((eb) => (project === null ? eb('visibility', '=', 'public') : eb.or([eb('owner', '=', project), eb('visibility', '=', 'public')])));
    }
    if (filters.visibility !== undefined) q = q.where('visibility', '=', filters.visibility);
    if (filters.resourceTypes !== undefined) {
      const names = filters.resourceTypes;
      if (!names.length) return [];
      q = q.where('id', 'in', (eb) =>
        eb
          .selectFrom('metadef_namespace_resource_types as a')
          .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
          .select('a.namespace_id')
          .where('t.name', 'in', names),
      );
    }
    return q.orderBy('id').execute();
  }

  async addNamespace(values: NamespaceValues): Promise<NamespaceRow> {
    return this.db
      .insertInto('metadef_namespaces')
      .values({ ...values, protected: values.protected === null ? null : values.protected ? 1 : 0, ...this.stamps() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async updateNamespace(id: number, values: NamespaceValues): Promise<NamespaceRow> {
    return this.db
      .updateTable('metadef_namespaces')
      .set({ ...values, protected: values.protected === null ? null : values.protected ? 1 : 0, updated_at: nowStamp() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Deletes a namespace and everything in it (not the resource types). */
  async deleteNamespace(id: number): Promise<void> {
    await this.transaction(async (r) => {
      for (const table of ['metadef_tags', 'metadef_objects', 'metadef_properties', 'metadef_namespace_resource_types'] as const) {
        await r.db.deleteFrom(table).where('namespace_id', '=', id).execute();
      }
      await r.db.deleteFrom('metadef_namespaces').where('id', '=', id).execute();
    });
  }

  async deleteContents(namespaceId: number, table: 'metadef_objects' | 'metadef_properties' | 'metadef_tags'): Promise<void> {
    await this.db.deleteFrom(table).where('namespace_id', '=', namespaceId).execute();
  }

  // Objects.

  async objects(namespaceId: number): Promise<ObjectRow[]> {
    return this.db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', namespaceId).orderBy('id').execute();
  }

  async object(namespaceId: number, name: string): Promise<ObjectRow | undefined> {
    return this.db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
  }

  async addObject(namespaceId: number, values: ObjectValues): Promise<ObjectRow> {
    return this.db
      .insertInto('metadef_objects')
      .values({ namespace_id: namespaceId, ...objectColumns(values), ...this.stamps() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async updateObject(id: number, values: ObjectValues): Promise<ObjectRow> {
    return this.db
      .updateTable('metadef_objects')
      .set({ ...objectColumns(values), updated_at: nowStamp() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async deleteObject(id: number): Promise<void> {
    await this.db.deleteFrom('metadef_objects').where('id', '=', id).execute();
  }

  // Properties.

  async properties(namespaceId: number): Promise<PropertyRow[]> {
    return this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', namespaceId).orderBy('id').execute();
  }

  async property(namespaceId: number, name: string): Promise<PropertyRow | undefined> {
    return this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
  }

  async addProperty(namespaceId: number, name: string, schema: unknown): Promise<PropertyRow> {
    return this.db
      .insertInto('metadef_properties')
      .values({ namespace_id: namespaceId, name, json_schema: JSON.stringify(schema), ...this.stamps() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async updateProperty(id: number, name: string, schema: unknown): Promise<PropertyRow> {
    return this.db
      .updateTable('metadef_properties')
      .set({ name, json_schema: JSON.stringify(schema), updated_at: nowStamp() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async deleteProperty(id: number): Promise<void> {
    await this.db.deleteFrom('metadef_properties').where('id', '=', id).execute();
  }

  // Tags.

  /** All tags of a namespace, oldest first (callers sort and page). */
  async tags(namespaceId: number): Promise<TagRow[]> {
    return this.db.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', namespaceId).orderBy('id').execute();
  }

  async tag(namespaceId: number, name: string): Promise<TagRow | undefined> {
    return this.db.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
  }

  async addTag(namespaceId: number, name: string): Promise<TagRow> {
    return this.db
      .insertInto('metadef_tags')
      .values({ namespace_id: namespaceId, name, ...this.stamps() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async renameTag(id: number, name: string): Promise<TagRow> {
    return this.db.updateTable('metadef_tags').set({ name, updated_at: nowStamp() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  }

  async deleteTag(id: number): Promise<void> {
    await this.db.deleteFrom('metadef_tags').where('id', '=', id).execute();
  }

  // Resource types and associations.

  async resourceTypes(): Promise<ResourceTypeRow[]> {
    return this.db.selectFrom('metadef_resource_types').selectAll().orderBy('id').execute();
  }

  async resourceType(name: string): Promise<ResourceTypeRow | undefined> {
    return this.db.selectFrom('metadef_resource_types').selectAll().where('name', '=', name).executeTakeFirst();
  }

  /** The resource type of that name, created (with `protect`) when missing. */
  async ensureResourceType(name: string, protect: boolean): Promise<ResourceTypeRow> {
    const found = await this.resourceType(name);
    if (found) return found;
    return this.db
      .insertInto('metadef_resource_types')
      .values({ name, protected: protect ? 1 : 0, ...this.stamps() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async associations(namespaceId: number): Promise<AssociationRow[]> {
    return this.db
      .selectFrom('metadef_namespace_resource_types as a')
      .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
      .select(['a.resource_type_id', 't.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at'])
      .where('a.namespace_id', '=', namespaceId)
      .orderBy('t.id')
      .execute();
  }

  /** Associations of many namespaces at once (namespace lists). */
  async associationsOf(namespaceIds: number[]): Promise<Map<number, AssociationRow[]>> {
    const out = new Map<number, AssociationRow[]>();
    if (!namespaceIds.length) return out;
    const rows = await this.db
      .selectFrom('metadef_namespace_resource_types as a')
      .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
      .select(['a.namespace_id', 'a.resource_type_id', 't.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at'])
      .where('a.namespace_id', 'in', namespaceIds)
      .orderBy('t.id')
      .execute();
    for (const { namespace_id, ...row } of rows) {
      const list = out.get(namespace_id) ?? [];
      list.push(row);
      out.set(namespace_id, list);
    }
    return out;
  }

  async addAssociation(namespaceId: number, resourceTypeId: number, values: { prefix: string | null; properties_target: string | null }): Promise<void> {
    await this.db
      .insertInto('metadef_namespace_resource_types')
      .values({ namespace_id: namespaceId, resource_type_id: resourceTypeId, ...values, ...this.stamps() })
      .execute();
  }

  async updateAssociation(namespaceId: number, resourceTypeId: number, values: { prefix: string | null; properties_target: string | null }): Promise<void> {
    await this.db
      .updateTable('metadef_namespace_resource_types')
      .set({ ...values, updated_at: nowStamp() })
      .where('namespace_id', '=', namespaceId)
      .where('resource_type_id', '=', resourceTypeId)
      .execute();
  }

  async deleteAssociation(namespaceId: number, resourceTypeId: number): Promise<void> {
    await this.db
      .deleteFrom('metadef_namespace_resource_types')
      .where('namespace_id', '=', namespaceId)
      .where('resource_type_id', '=', resourceTypeId)
      .execute();
  }

  /** The loader's --prefer-new marks a resource type it saw again. */
  async touchResourceType(id: number): Promise<void> {
    await this.db.updateTable('metadef_resource_types').set({ updated_at: nowStamp() }).where('id', '=', id).execute();
  }
}

function objectColumns(values: ObjectValues) {
  return {
    name: values.name,
    description: values.description,
    required: values.required === null ? null : JSON.stringify(values.required),
    json_schema: JSON.stringify(values.properties),
  };
}
