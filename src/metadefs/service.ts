// Glance's Metadata Definitions API (glance/api/v2/metadef_*.py) as behaviour:
// which namespaces a caller sees (admins all, others public ones and their
// project's; the rest is 404), the metadef policies in Glance's order (each
// controller looks the namespace up, then enforces its rule on it), protected
// namespaces (nothing in them can be deleted), Glance's status codes and
// messages, and its response shapes. Handlers in src/api/metadefs.ts stay thin.

import type { RequestContext } from '../auth/context.js';
import type { ImageAuthorizer } from '../images/authz.js';
import { badRequest, conflict, forbidden, isApiError, notFound } from '../errors/index.js';
import { isoSeconds } from '../images/model.js';
import {
  ASSOCIATION_MODEL,
  checkModel,
  isObject,
  ModelError,
  OBJECT_MODEL,
  propertyType,
  propertyTypes,
  TAG_MODEL,
  type Json,
  type JsonObject,
} from './model.js';
import { MetadefValidators, type BodyKind } from './schemas.js';
import {
  isDuplicate,
  MetadefRepository,
  type AssociationRow,
  type NamespaceRow,
  type NamespaceValues,
  type ObjectRow,
  type PropertyRow,
  type TagRow,
} from './repository.js';

type Query = [string, string][];

const NAMESPACE_SORT_KEYS = ['namespace', 'display_name', 'description', 'visibility', 'protected', 'owner', 'created_at', 'updated_at', 'id'] as const;
const TAG_SORT_KEYS = ['name', 'created_at', 'updated_at', 'id', 'namespace_id'] as const;

/** How a controller reports a namespace it cannot find (Glance's controllers differ). */
type LookupStyle = 'show' | 'objects' | 'other';

const TAG_CASE_NOTE = '(Please note that metadata tag names are case insensitive).';

export class MetadefService {
  private readonly validators = new MetadefValidators();

  constructor(
    private readonly repo: MetadefRepository,
    private readonly authz: ImageAuthorizer,
    private readonly limits: { limitParamDefault: number; apiLimitMax: number },
  ) {}

  // Namespaces.

  async listNamespaces(ctx: RequestContext, query: Query): Promise<JsonObject> {
    const q = new Params(query);
    const sortDir = sortDirection(q.last('sort_dir'));
    const sortKey = q.last('sort_key') ?? 'created_at';
    if (!(NAMESPACE_SORT_KEYS as readonly string[]).includes(sortKey)) throw badRequest(`Invalid sort key: ${sortKey}`);
    const visibility = q.last('visibility');
    if (visibility && visibility !== 'public' && visibility !== 'private') throw badRequest(`Invalid visibility value: ${visibility}`);
    const limitText = q.last('limit');
    let limit = this.limits.limitParamDefault;
    if (limitText !== undefined) limit = Math.min(this.limits.apiLimitMax, parseLimit(limitText));
    if (limit < 0) throw badRequest('limit param must be positive');
    const resourceTypes = q.last('resource_types');
    const markerName = q.last('marker');

    this.authz.metadef(ctx, 'get_metadef_namespaces');
    this.authz.metadef(ctx, 'list_metadef_resource_types');

    const viewer = { isAdmin: ctx.isAdmin, project: ctx.projectId };
    let marker: NamespaceRow | undefined;
    if (markerName) {
      marker = await this.repo.namespace(markerName);
      if (!marker || !this.visible(ctx, marker)) throw notFound(`Metadata definition namespace=${markerName} was not found.`);
    }
    const rows = await this.repo.namespaces(viewer, {
      ...(visibility ? { visibility } : {}),
      ...(resourceTypes !== undefined ? { resourceTypes: resourceTypes.split(',') } : {}),
    });
    const keys = [...new Set([sortKey, 'created_at', 'id'])] as (keyof NamespaceRow)[];
    const order = (a: NamespaceRow, b: NamespaceRow) => compareBy(a, b, keys) * (sortDir === 'asc' ? 1 : -1);
    rows.sort(order);
    const page = (marker ? rows.filter((r) => order(r, marker) > 0) : rows).slice(0, limit);
    const shown = page.filter((r) => this.authz.metadefAllowed(ctx, 'get_metadef_namespace', policyTarget(r)));
    const associations = await this.repo.associationsOf(shown.map((r) => r.id));

    const keep = query.filter(([k]) => k !== 'marker');
    const body: JsonObject = {
      namespaces: shown.map((r) => {
        const a = associations.get(r.id);
        return namespaceView(r, a?.length ? { resource_type_associations: a.map(associationView) } : {});
      }),
    };
    if (shown.length && shown.length === limit) {
      body.next = `/v2/metadefs/namespaces?${new URLSearchParams([...keep, ['marker', shown[shown.length - 1]!.namespace]])}`;
    }
    body.schema = '/v2/schemas/metadefs/namespaces';
    body.first = keep.length ? `/v2/metadefs/namespaces?${new URLSearchParams(keep)}` : '/v2/metadefs/namespaces';
    return body;
  }

  async createNamespace(ctx: RequestContext, raw: unknown): Promise<{ body: JsonObject; location: string }> {
    const body = this.body(raw, 'namespace', ['self', 'schema', 'created_at', 'updated_at']);
    const { associations, objects, tags, properties } = modelled(() => ({
      associations: listOf(body.resource_type_associations, 'resource_type_associations', (v, f) => checkModel(v, f, ASSOCIATION_MODEL, ['name'])),
      objects: listOf(body.objects, 'objects', (v, f) => checkModel(v, f, OBJECT_MODEL, ['name'])),
      tags: listOf(body.tags, 'tags', (v, f) => checkModel(v, f, TAG_MODEL, ['name'])),
      properties: body.properties === undefined ? undefined : propertyTypes(body.properties, true),
    }));

    this.authz.metadef(ctx, 'add_metadef_namespace');
    if (associations?.length) this.authz.metadef(ctx, 'add_metadef_resource_type_association');
    if (objects?.length) this.authz.metadef(ctx, 'add_metadef_object');
    if (properties && Object.keys(properties).length) this.authz.metadef(ctx, 'add_metadef_property');
    if (tags?.length) this.authz.metadef(ctx, 'add_metadef_tag');

    const name = body.namespace as string;
    const values: NamespaceValues = {
      namespace: name,
      display_name: (body.display_name as string | undefined) ?? null,
      description: (body.description as string | undefined) ?? null,
      visibility: (body.visibility as string | undefined) ?? 'private',
      protected: (body.protected as boolean | undefined) ?? false,
      owner: 'owner' in body ? (body.owner as string) : this.owner(ctx, 'create'),
    };
    const row = await this.repo.transaction(async (r) => {
      const ns = await duplicateAs(r.addNamespace(values), `The metadata definition namespace=${name} already exists.`);
      for (const a of associations ?? []) {
        const type = await r.ensureResourceType(a.name as string, false);
        await duplicateAs(
          r.addAssociation(ns.id, type.id, { prefix: textOrNull(a.prefix), properties_target: textOrNull(a.properties_target) }),
          `The metadata definition resource-type association of resource-type=${a.name} to namespace=${name}, already exists.`,
        );
      }
      for (const o of objects ?? []) {
        await duplicateAs(r.addObject(ns.id, objectValues(o)), `A metadata definition object with name=${o.name} already exists in namespace=${name}.`);
      }
      for (const t of tags ?? []) {
        await duplicateAs(r.addTag(ns.id, t.name as string), `A metadata tag with name=${t.name} already exists in namespace=${name}. ${TAG_CASE_NOTE}`);
      }
      for (const [p, schema] of Object.entries(properties ?? {})) await r.addProperty(ns.id, p, schema);
      return ns;
    });
    // Like Glance, the answer echoes the contents as sent (after coercion).
    const contents: Contents = {};
    if (associations) contents.resource_type_associations = associations.map((a) => withoutNulls(a));
    if (properties) contents.properties = properties;
    if (objects) contents.objects = objects.map((o) => withoutNulls(o));
    if (tags) contents.tags = tags.map((t) => withoutNulls(t));
    return { body: namespaceView(row, contents), location: namespaceHref(row.namespace) };
  }

  async showNamespace(ctx: RequestContext, name: string, query: Query): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'show');
    const target = policyTarget(ns);
    try {
      this.authz.metadef(ctx, 'get_metadef_namespace', target);
    } catch (e) {
      // Glance: a namespace you may not get is one that does not exist.
      if (isApiError(e, 'forbidden')) throw notFound();
      throw e;
    }
    for (const rule of ['list_metadef_resource_types', 'get_metadef_objects', 'get_metadef_properties', 'get_metadef_tags']) this.authz.metadef(ctx, rule, target);

    const objects = (await this.repo.objects(ns.id)).map((o) => objectView(ns.namespace, o));
    const associations = await this.repo.associations(ns.id);
    const properties = propertiesView(await this.repo.properties(ns.id));
    const contents: Contents = {};
    if (associations.length) contents.resource_type_associations = associations.map(associationView);
    if (Object.keys(properties).length) contents.properties = properties;
    if (objects.length) contents.objects = objects;

    const resourceType = new Params(query).last('resource_type');
    const prefix = resourceType ? associations.find((a) => a.name === resourceType)?.prefix : undefined;
    if (prefix) {
      if (contents.properties) contents.properties = prefixKeys(contents.properties, prefix);
      for (const o of contents.objects ?? []) {
        o.properties = prefixKeys(o.properties as JsonObject, prefix);
        if (Array.isArray(o.required) && o.required.length) o.required = o.required.map((n) => `${prefix}${String(n)}`);
      }
    }
    const tags = sortRows(await this.repo.tags(ns.id), ['created_at', 'id'], 'desc');
    if (tags.length) contents.tags = tags.map((t) => ({ name: t.name }));
    return namespaceView(ns, contents);
  }

  async updateNamespace(ctx: RequestContext, name: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'namespace', ['self', 'schema', 'created_at', 'updated_at']);
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'modify_metadef_namespace', policyTarget(ns));
    // PUT replaces: what the body leaves out goes back to the defaults of a create.
    const values: NamespaceValues = {
      namespace: body.namespace as string,
      display_name: (body.display_name as string | undefined) ?? null,
      description: (body.description as string | undefined) ?? null,
      visibility: (body.visibility as string | undefined) || 'private',
      protected: (body.protected as boolean | undefined) || false,
      owner: (body.owner as string | undefined) || this.owner(ctx, 'update'),
    };
    const row = await duplicateAs(
      this.repo.updateNamespace(ns.id, values),
      `Invalid update. It would result in a duplicate metadata definition namespace with the same name of ${values.namespace}`,
    );
    return namespaceView(row, {});
  }

  async deleteNamespace(ctx: RequestContext, name: string): Promise<void> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'delete_metadef_namespace', policyTarget(ns));
    if (ns.protected) throw forbidden(`Metadata definition namespace ${ns.namespace} is protected and cannot be deleted.`);
    await this.repo.deleteNamespace(ns.id);
  }

  /** DELETE .../objects, .../properties, .../tags: Glance guards them with delete_metadef_namespace. */
  async deleteContents(ctx: RequestContext, name: string, what: 'objects' | 'properties' | 'tags'): Promise<void> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'delete_metadef_namespace', policyTarget(ns));
    if (what === 'tags') this.authz.metadef(ctx, 'delete_metadef_tags', policyTarget(ns));
    if (ns.protected) throw forbidden(`Metadata definition namespace ${ns.namespace} is protected and cannot be deleted.`);
    await this.repo.deleteContents(ns.id, `metadef_${what}`);
  }

  // Objects.

  async listObjects(ctx: RequestContext, name: string, query: Query): Promise<JsonObject> {
    const q = new Params(query);
    sortDirection(q.last('sort_dir'));
    checkVisibilityFilter(q.last('visibility'));
    const limit = q.last('limit');
    if (limit !== undefined && parseLimit(limit) <= 0) throw badRequest('limit param must be positive');
    const ns = await this.lookup(ctx, name, 'objects');
    const target = policyTarget(ns);
    this.authz.metadef(ctx, 'get_metadef_objects', target);
    // Glance reads every object of the namespace: no paging here.
    const objects = this.authz.metadefAllowed(ctx, 'get_metadef_object', target) ? await this.repo.objects(ns.id) : [];
    return { objects: objects.map((o) => objectView(ns.namespace, o)), schema: 'v2/schemas/metadefs/objects' };
  }

  async createObject(ctx: RequestContext, name: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'object', ['self', 'schema', 'created_at', 'updated_at']);
    // A standalone object's properties must each be a complete property.
    if (isObject(body.properties)) for (const p of Object.values(body.properties)) this.validators.check('objectProperty', p);
    const model = modelled(() => checkModel(body, 'metadata_object', OBJECT_MODEL, ['name']));
    const ns = await this.lookup(ctx, name, 'objects');
    this.authz.metadef(ctx, 'add_metadef_object', policyTarget(ns));
    const row = await duplicateAs(
      this.repo.addObject(ns.id, objectValues(model)),
      `A metadata definition object with name=${model.name} already exists in namespace=${ns.namespace}.`,
    );
    return objectEcho(ns.namespace, row, model);
  }

  async showObject(ctx: RequestContext, name: string, objectName: string): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'objects');
    this.authz.metadef(ctx, 'get_metadef_object', policyTarget(ns));
    const row = await this.repo.object(ns.id, objectName);
    if (!row) throw notFound(`Could not find metadata object ${objectName}`);
    return objectView(ns.namespace, row);
  }

  async updateObject(ctx: RequestContext, name: string, objectName: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'object', ['self', 'schema', 'created_at', 'updated_at']);
    const model = modelled(() => checkModel(body, 'metadata_object', OBJECT_MODEL, ['name']));
    const ns = await this.lookup(ctx, name, 'objects');
    this.authz.metadef(ctx, 'modify_metadef_object', policyTarget(ns));
    const current = await this.repo.object(ns.id, objectName);
    if (!current) throw notFound(`Could not find metadata object ${objectName}`);
    const row = await duplicateAs(
      this.repo.updateObject(current.id, objectValues(model)),
      `Invalid update. It would result in a duplicate metadata definition object with the same name=${model.name} in namespace=${ns.namespace}.`,
    );
    return objectEcho(ns.namespace, row, model);
  }

  async deleteObject(ctx: RequestContext, name: string, objectName: string): Promise<void> {
    const ns = await this.lookup(ctx, name, 'objects');
    this.authz.metadef(ctx, 'delete_metadef_object', policyTarget(ns));
    const row = await this.repo.object(ns.id, objectName);
    if (!row) throw notFound(`Could not find metadata object ${objectName}`);
    if (ns.protected) throw forbidden(`Metadata definition object ${objectName} is protected and cannot be deleted.`);
    await this.repo.deleteObject(row.id);
  }

  // Properties.

  async listProperties(ctx: RequestContext, name: string): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'get_metadef_properties', policyTarget(ns));
    return { properties: propertiesView(await this.repo.properties(ns.id)) };
  }

  async createProperty(ctx: RequestContext, name: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'property', ['created_at', 'updated_at']);
    const schema = modelled(() => propertyType(body, true, 'property_type'));
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'add_metadef_property', policyTarget(ns));
    const row = await duplicateAs(
      this.repo.addProperty(ns.id, schema.name as string, schema),
      `A metadata definition property with name=${String(schema.name)} already exists in namespace=${ns.namespace}.`,
    );
    return propertyView(row);
  }

  async showProperty(ctx: RequestContext, name: string, propertyName: string, query: Query): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'get_metadef_property', policyTarget(ns));
    let wanted = propertyName;
    const resourceType = new Params(query).last('resource_type');
    if (resourceType) {
      // The name is asked for as that resource type sees it: with the association's prefix.
      this.authz.metadef(ctx, 'get_metadef_resource_type', policyTarget(ns));
      const type = await this.repo.resourceType(resourceType);
      if (!type) throw notFound(`The metadata definition resource-type with name=${resourceType}, was not found.`);
      const association = (await this.repo.associations(ns.id)).find((a) => a.resource_type_id === type.id);
      if (!association) {
        throw notFound(`The metadata definition resource-type association of resource-type=${resourceType} to namespace=${ns.namespace}, was not found.`);
      }
      const prefix = association.prefix;
      if (!prefix || !propertyName.startsWith(prefix)) {
        throw notFound(`Property ${propertyName} does not start with the expected resource type association prefix of '${prefix ?? 'None'}'.`);
      }
      wanted = propertyName.slice(prefix.length);
    }
    const row = await this.repo.property(ns.id, wanted);
    if (!row) throw notFound(`Could not find property ${wanted}`);
    return propertyView(row);
  }

  async updateProperty(ctx: RequestContext, name: string, propertyName: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'property', ['created_at', 'updated_at']);
    const schema = modelled(() => propertyType(body, true, 'property_type'));
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'modify_metadef_property', policyTarget(ns));
    const current = await this.repo.property(ns.id, propertyName);
    if (!current) throw notFound(`Could not find property ${propertyName}`);
    const row = await duplicateAs(
      this.repo.updateProperty(current.id, schema.name as string, schema),
      `Invalid update. It would result in a duplicate metadata definition property with the same name=${String(schema.name)} in namespace=${ns.namespace}.`,
    );
    return propertyView(row);
  }

  async deleteProperty(ctx: RequestContext, name: string, propertyName: string): Promise<void> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'remove_metadef_property', policyTarget(ns));
    const row = await this.repo.property(ns.id, propertyName);
    if (!row) throw notFound(`Could not find property ${propertyName}`);
    if (ns.protected) throw forbidden(`Metadata definition property ${propertyName} is protected and cannot be deleted.`);
    await this.repo.deleteProperty(row.id);
  }

  // Tags.

  async listTags(ctx: RequestContext, name: string, query: Query): Promise<JsonObject> {
    const q = new Params(query);
    const sortDir = sortDirection(q.last('sort_dir'));
    const sortKey = q.last('sort_key') ?? 'created_at';
    if (!(TAG_SORT_KEYS as readonly string[]).includes(sortKey)) throw badRequest(`Invalid sort key: ${sortKey}`);
    checkVisibilityFilter(q.last('visibility'));
    const limitText = q.last('limit');
    const limit = limitText ? parseLimit(limitText) : undefined;
    if (limit !== undefined && limit < 0) throw badRequest('limit param must be positive');
    const markerName = q.last('marker');

    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'get_metadef_tags', policyTarget(ns));
    let marker: TagRow | undefined;
    if (markerName) {
      marker = await this.repo.tag(ns.id, markerName);
      if (!marker) throw notFound(`Could not find metadata tag ${markerName}`);
    }
    const keys = [...new Set([sortKey, 'created_at', 'id'])] as (keyof TagRow)[];
    let tags = sortRows(await this.repo.tags(ns.id), keys, sortDir);
    if (marker) tags = tags.filter((t) => compareBy(t, marker, keys) * (sortDir === 'asc' ? 1 : -1) > 0);
    if (limit !== undefined) tags = tags.slice(0, limit);
    return { tags: tags.map((t) => ({ name: t.name })) };
  }

  async createTag(ctx: RequestContext, name: string, tagName: string): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'other');
    this.validators.check('tag', { name: tagName });
    this.authz.metadef(ctx, 'add_metadef_tag', policyTarget(ns));
    const row = await duplicateAs(this.repo.addTag(ns.id, tagName), `A metadata tag with name=${tagName} already exists in namespace=${ns.namespace}. ${TAG_CASE_NOTE}`);
    return tagView(row);
  }

  /** POST .../tags: replaces the namespace's tags, or adds to them with X-Openstack-Append. */
  async createTags(ctx: RequestContext, name: string, raw: unknown, append: boolean): Promise<JsonObject> {
    const body = this.body(raw, 'tagList', ['created_at', 'updated_at']);
    const names = ((body.tags as JsonObject[] | undefined) ?? []).map((t) => t.name as string);
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'add_metadef_tags', policyTarget(ns));
    // An empty list changes nothing, even without append (as in Glance).
    if (names.length) {
      await this.repo.transaction(async (r) => {
        if (!append) await r.deleteContents(ns.id, 'metadef_tags');
        for (const t of names) await duplicateAs(r.addTag(ns.id, t), `A metadata tag with name=${t} already exists in namespace=${ns.namespace}. ${TAG_CASE_NOTE}`);
      });
    }
    return { tags: names.map((t) => ({ name: t })) };
  }

  async showTag(ctx: RequestContext, name: string, tagName: string): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'get_metadef_tag', policyTarget(ns));
    const row = await this.repo.tag(ns.id, tagName);
    if (!row) throw notFound(`Could not find metadata tag ${tagName}`);
    return tagView(row);
  }

  async updateTag(ctx: RequestContext, name: string, tagName: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'tag', ['created_at', 'updated_at']);
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'modify_metadef_tag', policyTarget(ns));
    const current = await this.repo.tag(ns.id, tagName);
    if (!current) throw notFound(`Could not find metadata tag ${tagName}`);
    const newName = body.name as string;
    const row = await duplicateAs(this.repo.renameTag(current.id, newName), `A metadata tag with name=${newName} already exists in namespace=${ns.namespace}. ${TAG_CASE_NOTE}`);
    return tagView(row);
  }

  async deleteTag(ctx: RequestContext, name: string, tagName: string): Promise<void> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'delete_metadef_tag', policyTarget(ns));
    const row = await this.repo.tag(ns.id, tagName);
    if (!row) throw notFound(`Could not find metadata tag ${tagName}`);
    if (ns.protected) throw forbidden(`Metadata definition tag ${tagName} is protected and cannot be deleted.`);
    await this.repo.deleteTag(row.id);
  }

  // Resource types.

  async listResourceTypes(ctx: RequestContext): Promise<JsonObject> {
    this.authz.metadef(ctx, 'list_metadef_resource_types');
    const types = await this.repo.resourceTypes();
    return { resource_types: types.map((t) => ({ name: t.name, ...times(t) })) };
  }

  async listAssociations(ctx: RequestContext, name: string): Promise<JsonObject> {
    const ns = await this.lookup(ctx, name, 'other');
    const target = policyTarget(ns);
    this.authz.metadef(ctx, 'list_metadef_resource_types', target);
    const associations = this.authz.metadefAllowed(ctx, 'get_metadef_resource_type', target) ? await this.repo.associations(ns.id) : [];
    return { resource_type_associations: associations.map(associationView) };
  }

  async createAssociation(ctx: RequestContext, name: string, raw: unknown): Promise<JsonObject> {
    const body = this.body(raw, 'resource_type', ['created_at', 'updated_at']);
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'add_metadef_resource_type_association', policyTarget(ns));
    const typeName = body.name as string;
    const values = { prefix: textOrNull(body.prefix), properties_target: textOrNull(body.properties_target) };
    await this.repo.transaction(async (r) => {
      const type = await r.ensureResourceType(typeName, false);
      await duplicateAs(
        r.addAssociation(ns.id, type.id, values),
        `The metadata definition resource-type association of resource-type=${typeName} to namespace=${ns.namespace}, already exists.`,
      );
    });
    const created = (await this.repo.associations(ns.id)).find((a) => a.name === typeName);
    if (!created) throw notFound(`Failed to find resource type ${typeName}`);
    return associationView(created);
  }

  async deleteAssociation(ctx: RequestContext, name: string, typeName: string): Promise<void> {
    const ns = await this.lookup(ctx, name, 'other');
    this.authz.metadef(ctx, 'remove_metadef_resource_type_association', policyTarget(ns));
    const association = (await this.repo.associations(ns.id)).find((a) => a.name === typeName);
    if (!association) throw notFound(`Failed to find resource type ${typeName} to delete`);
    if (ns.protected) throw forbidden(`Metadata definition resource-type-association ${typeName} is protected and cannot be deleted.`);
    await this.repo.deleteAssociation(ns.id, association.resource_type_id);
  }

  // Helpers.

  /** Glance's DB-level visibility: admins see all, others public namespaces and their project's. */
  private visible(ctx: RequestContext, ns: NamespaceRow): boolean {
    return ctx.isAdmin || ns.visibility === 'public' || (ctx.projectId !== null && ctx.projectId === ns.owner);
  }

  private async lookup(ctx: RequestContext, name: string, style: LookupStyle): Promise<NamespaceRow> {
    const ns = await this.repo.namespace(name);
    if (ns && this.visible(ctx, ns)) return ns;
    if (style === 'other' || (ns && style === 'objects')) throw notFound(`Namespace ${name} not found`);
    if (!ns) throw notFound(`Metadata definition namespace=${name} was not found.`);
    throw notFound();
  }

  /** The owner of a namespace created or updated without one: the caller's project. */
  private owner(ctx: RequestContext, action: 'create' | 'update'): string {
    if (ctx.projectId) return ctx.projectId;
    throw badRequest(`Couldn't ${action} metadata namespace: the request has no project to own it; give an owner.`);
  }

  /** A request body as Glance's deserializers take it: present, no read-only attribute, valid. */
  private body(raw: unknown, kind: BodyKind, readOnly: string[]): JsonObject {
    if (raw === undefined) throw badRequest('Body expected in request.');
    if (!isObject(raw)) throw badRequest('The request body must be a JSON object.');
    for (const key of readOnly) if (key in raw) throw forbidden(`Attribute '${key}' is read-only.`);
    this.validators.check(kind, raw);
    return raw;
  }
}

type Contents = {
  resource_type_associations?: JsonObject[];
  properties?: Record<string, JsonObject>;
  objects?: JsonObject[];
  tags?: JsonObject[];
};

/** Query parameters; the last of repeated ones wins. */
class Params {
  constructor(private readonly pairs: Query) {}
  last(key: string): string | undefined {
    let v: string | undefined;
    for (const [k, x] of this.pairs) if (k === key) v = x;
    return v;
  }
}

function sortDirection(v: string | undefined): 'asc' | 'desc' {
  const dir = v ?? 'desc';
  if (dir !== 'asc' && dir !== 'desc') throw badRequest(`Invalid sort direction: ${dir}`);
  return dir;
}

function parseLimit(v: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(v)) throw badRequest('limit param must be an integer');
  return Number.parseInt(v, 10);
}

function checkVisibilityFilter(v: string | undefined): void {
  if (v && !['public', 'private', 'shared'].includes(v)) throw badRequest(`Invalid visibility value: ${v}`);
}

/** Orders rows by the keys (NULL first, like an empty value), ascending. */
function compareBy<T>(a: T, b: T, keys: (keyof T)[]): number {
  for (const k of keys) {
    const x = a[k] ?? '';
    const y = b[k] ?? '';
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

function sortRows<T>(rows: T[], keys: (keyof T)[], dir: 'asc' | 'desc'): T[] {
  return rows.sort((a, b) => compareBy(a, b, keys) * (dir === 'asc' ? 1 : -1));
}

function policyTarget(ns: NamespaceRow) {
  return { owner: ns.owner, visibility: ns.visibility ?? 'private' };
}

/** A ModelError (the body does not fit Glance's model) is the client's fault. */
function modelled<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ModelError) throw badRequest(e.message);
    throw e;
  }
}

function listOf(value: Json | undefined, field: string, each: (v: Json, field: string) => JsonObject): JsonObject[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (!Array.isArray(value)) throw new ModelError(`Invalid input for field/attribute ${field}. Wrong type. Expected 'list'`);
  return value.map((v, i) => each(v, `${field}[${i}]`));
}

async function duplicateAs<T>(work: Promise<T>, message: string): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (isDuplicate(e)) throw conflict(message);
    throw e;
  }
}

function textOrNull(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function withoutNulls(o: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

function objectValues(o: JsonObject) {
  return {
    name: o.name as string,
    description: textOrNull(o.description),
    required: Array.isArray(o.required) ? o.required.map(String) : null,
    properties: (o.properties as Record<string, JsonObject> | null | undefined) ?? {},
  };
}

/** A row's timestamps as Glance shows them: to the second, updated_at only once there is one. */
function times(row: { created_at: string; updated_at: string | null }): JsonObject {
  return row.updated_at === null
    ? { created_at: isoSeconds(row.created_at) }
    : { created_at: isoSeconds(row.created_at), updated_at: isoSeconds(row.updated_at) };
}

const namespaceHref = (name: string) => `/v2/metadefs/namespaces/${name}`;

function namespaceView(ns: NamespaceRow, contents: Contents): JsonObject {
  const v: JsonObject = { namespace: ns.namespace };
  if (ns.display_name !== null) v.display_name = ns.display_name;
  if (ns.description !== null) v.description = ns.description;
  v.visibility = ns.visibility ?? 'private';
  v.protected = ns.protected === 1;
  v.owner = ns.owner;
  Object.assign(v, times(ns));
  if (contents.resource_type_associations) v.resource_type_associations = contents.resource_type_associations;
  if (contents.properties) v.properties = contents.properties;
  if (contents.objects) v.objects = contents.objects;
  if (contents.tags) v.tags = contents.tags;
  v.self = namespaceHref(ns.namespace);
  v.schema = '/v2/schemas/metadefs/namespace';
  return v;
}

function associationView(a: AssociationRow): JsonObject {
  const v: JsonObject = { name: a.name };
  if (a.prefix !== null) v.prefix = a.prefix;
  if (a.properties_target !== null) v.properties_target = a.properties_target;
  Object.assign(v, times(a));
  return v;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** An object as read back from the database: `required` and `properties` always present. */
function objectView(namespace: string, o: ObjectRow): JsonObject {
  const required = parseJson(o.required);
  const v: JsonObject = { name: o.name, required: Array.isArray(required) ? required.map(String) : [] };
  if (o.description !== null) v.description = o.description;
  v.properties = propertyTypes(parseJson(o.json_schema), false);
  Object.assign(v, times(o));
  v.self = `${namespaceHref(namespace)}/objects/${o.name}`;
  v.schema = '/v2/schemas/metadefs/object';
  return v;
}

/** An object as created or updated: Glance answers with what was sent, not with what it stored. */
function objectEcho(namespace: string, row: ObjectRow, sent: JsonObject): JsonObject {
  const v: JsonObject = { name: row.name };
  if (Array.isArray(sent.required)) v.required = sent.required;
  if (typeof sent.description === 'string') v.description = sent.description;
  if (isObject(sent.properties)) v.properties = sent.properties;
  Object.assign(v, times(row));
  v.self = `${namespaceHref(namespace)}/objects/${row.name}`;
  v.schema = '/v2/schemas/metadefs/object';
  return v;
}

/** A namespace's properties: each stored property type, as stored (with `name` only if it was given). */
function propertiesView(rows: PropertyRow[]): Record<string, JsonObject> {
  return Object.fromEntries(rows.map((p) => [p.name, propertyType(parseJson(p.json_schema), false)]));
}

/** One property: its type, named after the row. */
function propertyView(p: PropertyRow): JsonObject {
  const { name: _stored, ...rest } = propertyType(parseJson(p.json_schema), false);
  return { name: p.name, ...rest };
}

function tagView(t: TagRow): JsonObject {
  return { name: t.name, ...times(t) };
}

function prefixKeys<T>(o: Record<string, T>, prefix: string): Record<string, T> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}${k}`, v]));
}
