// JSON schemas served at /v2/schemas/* and used to validate image bodies.
// glanceclient downloads /v2/schemas/image and validates client side with it,
// so names, types and enums must be Glance's.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Config } from '../config/config.js';

type JsonSchema = Record<string, unknown>;

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

function baseImageProperties(diskFormats: string[], containerFormats: string[]): Record<string, JsonSchema> {
  const nullableString = (description: string, extra: JsonSchema = {}) => ({ type: ['null', 'string'], description, ...extra });
  const readOnly = (schema: JsonSchema) => ({ ...schema, readOnly: true });
  return {
    id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    name: nullableString('Descriptive name for the image', { maxLength: 255 }),
    status: readOnly({
      type: 'string',
      description: 'Status of the image',
      enum: ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'],
    }),
    visibility: { type: 'string', description: 'Scope of image accessibility', enum: ['community', 'public', 'private', 'shared'] },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
    checksum: readOnly(nullableString('md5 hash of image contents.', { maxLength: 32 })),
    os_hash_algo: readOnly(nullableString('Algorithm to calculate the os_hash_value', { maxLength: 64 })),
    os_hash_value: readOnly(nullableString('Hexdigest of the image contents using the algorithm specified by the os_hash_algo', { maxLength: 128 })),
    owner: nullableString('Owner of the image', { maxLength: 255 }),
    size: readOnly({ type: ['null', 'integer'], description: 'Size of image file in bytes' }),
    virtual_size: readOnly({ type: ['null', 'integer'], description: 'Virtual size of image in bytes' }),
    container_format: { type: ['null', 'string'], description: 'Format of the container', enum: [null, ...containerFormats] },
    disk_format: { type: ['null', 'string'], description: 'Format of the disk', enum: [null, ...diskFormats] },
    created_at: readOnly({ type: 'string', description: 'Date and time of image registration' }),
    updated_at: readOnly({ type: 'string', description: 'Date and time of the last image modification' }),
    tags: { type: 'array', description: 'List of strings related to the image', items: { type: 'string', maxLength: 255 } },
    direct_url: readOnly({ type: 'string', description: 'URL to access the image file kept in external store' }),
    min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
    self: readOnly({ type: 'string', description: 'An image self url' }),
    file: readOnly({ type: 'string', description: 'An image file url' }),
    // Glance also lists the read-only `stores` here. glanceclient turns schema
    // properties into CLI options and caches the schema in no-auth mode; a
    // `stores` property then collides with its own --stores option and every
    // later `glance` command fails. Clients never send it, so it is left out.
    schema: readOnly({ type: 'string', description: 'An image schema url' }),
    locations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: {
            description:
              "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
            type: 'object',
            writeOnly: true,
            additionalProperties: false,
            properties: {
              checksum: { type: 'string', minLength: 32, maxLength: 32 },
              os_hash_algo: { type: 'string', maxLength: 64 },
              os_hash_value: { type: 'string', maxLength: 128 },
            },
            required: ['os_hash_algo', 'os_hash_value'],
          },
        },
        required: ['url', 'metadata'],
      },
      description: 'A set of URLs to access the image file kept in external store',
    },
  };
}

/** The properties Glance ships in etc/schema-image.json, used when the operator has no such file. */
function defaultCustomProperties(): Record<string, JsonSchema> {
  const imageRef = (what: string) => ({
    type: ['null', 'string'],
    pattern: UUID_PATTERN,
    description: `ID of image stored in Glance that should be used as the ${what} when booting an AMI-style image.`,
  });
  const keysDoc = 'https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html';
  return {
    kernel_id: imageRef('kernel'),
    ramdisk_id: imageRef('ramdisk'),
    instance_uuid: {
      type: 'string',
      description:
        'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)',
    },
    architecture: { description: `Operating system architecture as specified in ${keysDoc}`, type: 'string' },
    os_distro: { description: `Common name of operating system distribution as specified in ${keysDoc}`, type: 'string' },
    os_version: { description: 'Operating system version as specified by the distributor.', type: 'string' },
    description: { description: 'A human-readable string describing this image.', type: 'string' },
    cinder_encryption_key_id: {
      description: 'Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image',
      type: 'string',
    },
    cinder_encryption_key_deletion_policy: {
      description: 'States the condition under which the Image Service will delete the object associated with the \'cinder_encryption_key_id\' image property.  If this property is missing, the Image Service will take no action',
      type: 'string',
      enum: ['on_image_deletion', 'do_not_delete'],
    },
  };
}

export interface ImageSchemas {
  image: JsonSchema;
  images: JsonSchema;
  member: JsonSchema;
  members: JsonSchema;
  task: JsonSchema;
  tasks: JsonSchema;
  /** Validates a whole image body (create) or a partial one (one PATCH change). */
  validateImage(body: unknown): string | null;
}

/** Operators can add properties with a schema-image.json next to glance-api.conf, as with Glance. */
function loadCustomProperties(config: Config): Record<string, JsonSchema> {
  const candidates = [config.configDir, '/etc/imago', '/etc/glance'].filter((d): d is string => !!d).map((d) => join(d, 'schema-image.json'));
  const file = candidates.find((f) => existsSync(f));
  if (!file) return defaultCustomProperties();
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, JsonSchema>;
}

const MEMBER_PROPERTIES: Record<string, JsonSchema> = {
  member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
  image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
  created_at: { type: 'string', description: 'Date and time of image member creation' },
  updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
  status: { type: 'string', description: 'The status of this image member', enum: ['pending', 'accepted', 'rejected'] },
  schema: { readOnly: true, type: 'string' },
};

const TASK_PROPERTIES: Record<string, JsonSchema> = {
  id: { description: 'An identifier for the task', pattern: UUID_PATTERN, type: 'string' },
  type: { description: 'The type of task represented by this content', enum: ['import', 'api_image_import', 'location_import'], type: 'string' },
  status: { description: 'The current status of this task', enum: ['pending', 'processing', 'success', 'failure'], type: 'string' },
  input: { description: 'The parameters required by task, JSON blob', type: ['null', 'object'] },
  result: { description: 'The result of current task, JSON blob', type: ['null', 'object'] },
  owner: { description: 'An identifier for the owner of this task', type: 'string' },
  message: { description: 'Human-readable informative message only included when appropriate (usually on failure)', type: 'string' },
  image_id: { description: 'Image associated with the task', type: 'string' },
  request_id: { description: 'Human-readable informative request-id', type: 'string' },
  user_id: { description: 'User associated with the task', type: 'string' },
  expires_at: { description: 'Datetime when this resource would be subject to removal', type: ['null', 'string'] },
  created_at: { description: 'Datetime when this resource was created', type: 'string' },
  updated_at: { description: 'Datetime when this resource was updated', type: 'string' },
  self: { readOnly: true, type: 'string' },
  schema: { readOnly: true, type: 'string' },
};

function collection(name: string, item: JsonSchema, full: boolean): JsonSchema {
  return full
    ? {
        name,
        properties: { [name]: { type: 'array', items: item }, first: { type: 'string' }, next: { type: 'string' }, schema: { type: 'string' } },
        links: [
          { rel: 'first', href: '{first}' },
          { rel: 'next', href: '{next}' },
          { rel: 'describedby', href: '{schema}' },
        ],
      }
    : { name, properties: { [name]: { type: 'array', items: item }, schema: { type: 'string' } }, links: [{ rel: 'describedby', href: '{schema}' }] };
}

export function buildSchemas(config: Config): ImageSchemas {
  const custom = loadCustomProperties(config);
  const properties: Record<string, JsonSchema> = baseImageProperties(config.api.diskFormats, config.api.containerFormats);
  for (const [k, v] of Object.entries(custom)) {
    if (!(k in properties)) properties[k] = { ...v, is_base: false };
  }
  const image: JsonSchema = {
    name: 'image',
    properties,
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
  const member: JsonSchema = { name: 'member', properties: MEMBER_PROPERTIES };
  const taskFull: JsonSchema = { name: 'task', properties: TASK_PROPERTIES };
  const partialTask = Object.fromEntries(Object.entries(TASK_PROPERTIES).filter(([k]) => !['input', 'result', 'message'].includes(k)));

  // Glance's schemas carry keys that are not JSON-schema keywords (name, links, is_base).
  const ajv = new Ajv({ strict: false, allErrors: false });
  const validate: ValidateFunction = ajv.compile({ ...image, name: undefined, links: undefined });
  return {
    image,
    images: collection('images', image, true),
    member,
    members: collection('members', member, false),
    task: taskFull,
    tasks: collection('tasks', { name: 'task', properties: partialTask }, false),
    validateImage(body: unknown): string | null {
      if (validate(body)) return null;
      const e = validate.errors?.[0];
      if (!e) return 'Invalid image';
      const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
      return `Provided object does not match schema 'image': ${where ? `${where}: ` : ''}${e.message ?? 'invalid'}`;
    },
  };
}
