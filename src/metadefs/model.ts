// The shapes Glance's metadefs API reads bodies into and writes responses from
// (its WSME models: PropertyType, MetadefObject, ResourceTypeAssociation,
// MetadefTag). A property type goes through them on every read and write, so
// attribute types are coerced the way WSME does (an integer `default` reads back
// as a string, a fractional `minimum` as an integer) and only known attributes
// exist. Glance answers 500 when a body does not fit a model; imago says 400.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** A body (or a stored document) does not fit a model. */
export class ModelError extends Error {}

type Kind = 'text' | 'texts' | 'int' | 'bool' | 'bytes' | 'items';

/** PropertyType's attributes in WSME's order (the order Glance writes them). */
const PROPERTY_TYPE: ReadonlyArray<readonly [string, Kind]> = [
  ['name', 'text'],
  ['type', 'text'],
  ['title', 'text'],
  ['description', 'text'],
  ['operators', 'texts'],
  ['default', 'bytes'],
  ['readonly', 'bool'],
  ['minimum', 'int'],
  ['maximum', 'int'],
  ['enum', 'texts'],
  ['pattern', 'text'],
  ['minLength', 'int'],
  ['maxLength', 'int'],
  ['confidential', 'bool'],
  ['items', 'items'],
  ['uniqueItems', 'bool'],
  ['minItems', 'int'],
  ['maxItems', 'int'],
  ['additionalItems', 'bool'],
];
const PROPERTY_TYPE_MANDATORY = ['type', 'title'];

const TRUE_WORDS = ['true', 't', 'yes', 'y', 'on', '1'];
const FALSE_WORDS = ['false', 'f', 'no', 'n', 'off', '0'];

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wrongType(field: string, expected: string, value: unknown): ModelError {
  return new ModelError(`Invalid input for field/attribute ${field}. Value: '${JSON.stringify(value)}'. Wrong type. Expected '${expected}'`);
}

function coerce(field: string, kind: Kind, v: Json): Json {
  if (v === null) return null;
  switch (kind) {
    case 'text':
      if (typeof v !== 'string') throw wrongType(field, 'str', v);
      return v;
    case 'texts':
      if (!Array.isArray(v)) throw wrongType(field, 'list', v);
      return v.map((x, i) => coerce(`${field}[${i}]`, 'text', x));
    case 'int':
      // WSME's int(value): truncates fractions, accepts booleans and digit strings.
      if (typeof v === 'number') return Math.trunc(v);
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
      throw wrongType(field, 'int', v);
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return v !== 0;
      if (typeof v === 'string' && TRUE_WORDS.includes(v)) return true;
      if (typeof v === 'string' && FALSE_WORDS.includes(v)) return false;
      throw wrongType(field, 'bool', v);
    case 'bytes':
      // A default is kept as text: Python's str() of a scalar, nothing for a list or object.
      if (typeof v === 'string') return v;
      if (typeof v === 'boolean') return v ? 'True' : 'False';
      if (typeof v === 'number') return String(v);
      return null;
    case 'items': {
      if (!isObject(v)) throw wrongType(field, 'ItemType', v);
      const unknown = Object.keys(v).filter((k) => k !== 'type' && k !== 'enum');
      if (unknown.length) throw new ModelError(`Unknown attribute for argument ${field}: ${unknown.join(', ')}`);
      if (!('type' in v)) throw new ModelError(`Invalid input for field/attribute ${field}.type. Mandatory field missing.`);
      const out: JsonObject = { type: coerce(`${field}.type`, 'text', v.type!) };
      if ('enum' in v) out.enum = coerce(`${field}.enum`, 'texts', v.enum!);
      return out;
    }
  }
}

/**
 * A property type as Glance keeps it. `strict` (request bodies) throws ModelError
 * on unknown attributes, missing type/title and values WSME cannot coerce;
 * otherwise (stored documents, e.g. loaded from files) those attributes are dropped.
 */
export function propertyType(value: unknown, strict: boolean, field = 'property'): JsonObject {
  if (!isObject(value)) {
    if (strict) throw wrongType(field, 'PropertyType', value);
    return {};
  }
  const known = new Set(PROPERTY_TYPE.map(([k]) => k));
  const unknown = Object.keys(value).filter((k) => !known.has(k));
  if (strict && unknown.length) throw new ModelError(`Unknown attribute${unknown.length > 1 ? 's' : ''} for argument ${field}: ${unknown.join(', ')}`);
  if (strict) {
    for (const k of PROPERTY_TYPE_MANDATORY) {
      if (!(k in value)) throw new ModelError(`Invalid input for field/attribute ${field}.${k}. Mandatory field missing.`);
    }
  }
  const out: JsonObject = {};
  for (const [k, kind] of PROPERTY_TYPE) {
    if (!(k in value)) continue;
    try {
      out[k] = coerce(`${field}.${k}`, kind, value[k]!);
    } catch (e) {
      if (strict) throw e;
    }
  }
  return out;
}

/** A map of property types (a namespace's or an object's `properties`). */
export function propertyTypes(value: unknown, strict: boolean, field = 'properties'): Record<string, JsonObject> {
  if (value === null || value === undefined) return {};
  if (!isObject(value)) {
    if (strict) throw wrongType(field, 'dict', value);
    return {};
  }
  const out: Record<string, JsonObject> = {};
  for (const [k, v] of Object.entries(value)) out[k] = propertyType(v, strict, `${field}.${k}`);
  return out;
}

/** Checks a nested record of a namespace body (object, association, tag) against its WSME model. */
export function checkModel(value: unknown, field: string, attributes: Record<string, Kind | 'properties'>, mandatory: string[]): JsonObject {
  if (!isObject(value)) throw wrongType(field, 'object', value);
  const unknown = Object.keys(value).filter((k) => !(k in attributes));
  if (unknown.length) throw new ModelError(`Unknown attribute${unknown.length > 1 ? 's' : ''} for argument ${field}: ${unknown.join(', ')}`);
  for (const k of mandatory) if (!(k in value)) throw new ModelError(`Invalid input for field/attribute ${field}.${k}. Mandatory field missing.`);
  const out: JsonObject = {};
  for (const [k, kind] of Object.entries(attributes)) {
    if (!(k in value)) continue;
    out[k] = kind === 'properties' ? propertyTypes(value[k], true, `${field}.${k}`) : coerce(`${field}.${k}`, kind, value[k]!);
  }
  return out;
}

export const OBJECT_MODEL: Record<string, Kind | 'properties'> = {
  name: 'text',
  required: 'texts',
  description: 'text',
  properties: 'properties',
  created_at: 'text',
  updated_at: 'text',
  self: 'text',
  schema: 'text',
};
export const ASSOCIATION_MODEL: Record<string, Kind> = { name: 'text', prefix: 'text', properties_target: 'text', created_at: 'text', updated_at: 'text' };
export const TAG_MODEL: Record<string, Kind> = { name: 'text', created_at: 'text', updated_at: 'text' };
