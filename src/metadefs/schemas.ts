// The metadefs JSON schemas: served at /v2/schemas/metadefs/* exactly as Glance
// serves them (Horizon and glanceclient read them), and used to validate request
// bodies the way Glance's deserializers do (jsonschema, no format checks).

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { badRequest } from '../errors/index.js';

type JsonSchema = Record<string, unknown>;

const PROPERTY_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', null];

const readOnlyTime = (description: string): JsonSchema => ({ type: 'string', readOnly: true, description, format: 'date-time' });

/** The attributes a property type may have (Glance's metadef "property" definition). */
function propertyTypeAttributes(): Record<string, JsonSchema> {
  return {
    name: { type: 'string', maxLength: 80 },
    title: { type: 'string' },
    description: { type: 'string' },
    operators: { type: 'array', items: { type: 'string' } },
    type: { type: 'string', enum: PROPERTY_TYPES },
    required: { $ref: '#/definitions/stringArray' },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    maxLength: { $ref: '#/definitions/positiveInteger' },
    minLength: { $ref: '#/definitions/positiveIntegerDefault0' },
    pattern: { type: 'string', format: 'regex' },
    enum: { type: 'array' },
    readonly: { type: 'boolean' },
    default: {},
    items: { type: 'object', properties: { type: { type: 'string', enum: PROPERTY_TYPES }, enum: { type: 'array' } } },
    maxItems: { $ref: '#/definitions/positiveInteger' },
    minItems: { $ref: '#/definitions/positiveIntegerDefault0' },
    uniqueItems: { type: 'boolean', default: false },
    additionalItems: { type: 'boolean' },
  };
}

function integerDefinitions(): Record<string, JsonSchema> {
  return {
    positiveInteger: { type: 'integer', minimum: 0 },
    positiveIntegerDefault0: { allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }] },
  };
}

/** Definitions shared by the namespace and object schemas. */
function namespaceDefinitions(): Record<string, JsonSchema> {
  return {
    ...integerDefinitions(),
    stringArray: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    property: {
      type: 'object',
      additionalProperties: { type: 'object', required: ['title', 'type'], properties: propertyTypeAttributes() },
    },
  };
}

/** Glance's Schema.raw(). */
function item(name: string, properties: Record<string, JsonSchema>, required: string[], definitions?: Record<string, JsonSchema>): JsonSchema {
  return { name, properties, additionalProperties: false, ...(definitions ? { definitions } : {}), required };
}

const LINKS = [
  { rel: 'first', href: '{first}' },
  { rel: 'next', href: '{next}' },
  { rel: 'describedby', href: '{schema}' },
];

/** Glance's CollectionSchema.raw() (or DictCollectionSchema's with `dict`): the item's definitions move up. */
function collection(name: string, itemSchema: JsonSchema, dict = false): JsonSchema {
  const { definitions, ...rest } = itemSchema;
  return {
    name,
    properties: {
      [name]: dict ? { type: 'object', additionalProperties: rest } : { type: 'array', items: rest },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: LINKS,
    ...(definitions ? { definitions } : {}),
  };
}

function namespaceSchema(): JsonSchema {
  return item(
    'namespace',
    {
      namespace: { type: 'string', description: 'The unique namespace text.', maxLength: 80 },
      display_name: { type: 'string', description: 'The user friendly name for the namespace. Used by UI if available.', maxLength: 80 },
      description: { type: 'string', description: 'Provides a user friendly description of the namespace.', maxLength: 500 },
      visibility: { type: 'string', description: 'Scope of namespace accessibility.', enum: ['public', 'private'] },
      protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
      owner: { type: 'string', description: 'Owner of the namespace.', maxLength: 255 },
      created_at: readOnlyTime('Date and time of namespace creation'),
      updated_at: readOnlyTime('Date and time of the last namespace modification'),
      schema: { readOnly: true, type: 'string' },
      self: { readOnly: true, type: 'string' },
      resource_type_associations: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string' }, prefix: { type: 'string' }, properties_target: { type: 'string' } } },
      },
      properties: { $ref: '#/definitions/property' },
      objects: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            required: { $ref: '#/definitions/stringArray' },
            properties: { $ref: '#/definitions/property' },
          },
        },
      },
      tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    },
    ['namespace'],
    namespaceDefinitions(),
  );
}

function objectSchema(): JsonSchema {
  return item(
    'object',
    {
      name: { type: 'string', maxLength: 80 },
      description: { type: 'string' },
      required: { $ref: '#/definitions/stringArray' },
      properties: { $ref: '#/definitions/property' },
      schema: { readOnly: true, type: 'string' },
      self: { readOnly: true, type: 'string' },
      created_at: readOnlyTime('Date and time of object creation'),
      updated_at: readOnlyTime('Date and time of the last object modification'),
    },
    ['name'],
    namespaceDefinitions(),
  );
}

/** A property on its own; `name` is required except inside an object or the properties collection. */
function propertySchema(requireName: boolean): JsonSchema {
  const definitions = { ...integerDefinitions(), stringArray: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true } };
  return item('property', propertyTypeAttributes(), requireName ? ['type', 'title', 'name'] : ['type', 'title'], definitions);
}

function resourceTypeSchema(): JsonSchema {
  return item(
    'resource_type_association',
    {
      name: {
        type: 'string',
        description:
          'Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html',
        maxLength: 80,
      },
      prefix: {
        type: 'string',
        description:
          'Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :).',
        maxLength: 80,
      },
      properties_target: {
        type: 'string',
        description:
          'Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity.',
        maxLength: 80,
      },
      created_at: readOnlyTime('Date and time of resource type association'),
      updated_at: readOnlyTime('Date and time of the last resource type association modification'),
    },
    ['name'],
  );
}

function tagSchema(): JsonSchema {
  return item(
    'tag',
    {
      name: { type: 'string', maxLength: 80 },
      created_at: readOnlyTime('Date and time of tag creation'),
      updated_at: readOnlyTime('Date and time of the last tag modification'),
    },
    ['name'],
  );
}

/** The body of POST .../tags (not served; Glance validates with it). Names fit the column. */
function tagListSchema(): JsonSchema {
  return {
    name: 'tags',
    additionalProperties: false,
    properties: {
      tags: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string', maxLength: 80 } }, required: ['name'], additionalProperties: false },
      },
    },
  };
}

export const METADEF_SCHEMA_NAMES = [
  'namespace',
  'namespaces',
  'resource_type',
  'resource_types',
  'property',
  'properties',
  'object',
  'objects',
  'tag',
  'tags',
] as const;
export type MetadefSchemaName = (typeof METADEF_SCHEMA_NAMES)[number];

/** The documents served at /v2/schemas/metadefs/{name}. */
export function metadefSchemas(): Record<MetadefSchemaName, JsonSchema> {
  return {
    namespace: namespaceSchema(),
    namespaces: collection('namespaces', namespaceSchema()),
    resource_type: resourceTypeSchema(),
    resource_types: collection('resource_type_associations', resourceTypeSchema()),
    property: propertySchema(true),
    properties: collection('properties', propertySchema(false), true),
    object: objectSchema(),
    objects: collection('objects', objectSchema()),
    tag: tagSchema(),
    tags: collection('tags', tagSchema()),
  };
}

/** What a request body is checked against. */
export type BodyKind = 'namespace' | 'object' | 'objectProperty' | 'property' | 'resource_type' | 'tag' | 'tagList';

export class MetadefValidators {
  private readonly compiled: Record<BodyKind, { name: string; fn: ValidateFunction }>;

  constructor() {
    // Glance's schemas carry keys that are not JSON-schema keywords (name, links);
    // like Glance's jsonschema call, formats (date-time, regex) are not checked.
    const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
    const compile = (schema: JsonSchema) => {
      const { name, links: _links, ...rest } = schema;
      return { name: String(name), fn: ajv.compile(rest) };
    };
    this.compiled = {
      namespace: compile(namespaceSchema()),
      object: compile(objectSchema()),
      objectProperty: compile(propertySchema(false)),
      property: compile(propertySchema(true)),
      resource_type: compile(resourceTypeSchema()),
      tag: compile(tagSchema()),
      tagList: compile(tagListSchema()),
    };
  }

  /** 400 with Glance's wording when `body` does not match. */
  check(kind: BodyKind, body: unknown): void {
    const { name, fn } = this.compiled[kind];
    if (fn(body)) return;
    throw badRequest(`Provided object does not match schema '${name}': ${describe(fn.errors?.[0])}`);
  }
}

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'invalid';
  const where = e.instancePath ? `${e.instancePath.slice(1).replace(/\//g, '.')}: ` : '';
  if (e.keyword === 'required') return `${where}'${(e.params as { missingProperty: string }).missingProperty}' is a required property`;
  if (e.keyword === 'additionalProperties') {
    return `${where}Additional properties are not allowed ('${(e.params as { additionalProperty: string }).additionalProperty}' was unexpected)`;
  }
  return `${where}${e.message ?? 'invalid'}`;
}
