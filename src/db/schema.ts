// Table shapes as Kysely sees them. Booleans are 0/1 integers and timestamps
// ISO-8601 strings with milliseconds (sortable as text) on every dialect, so one
// set of queries serves SQLite, PostgreSQL and MySQL.

import type { Generated } from 'kysely';

export interface ImagesTable {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: number;
  os_hidden: number;
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
  deleted_at: string | null;
  deleted: number;
}

export interface ImagePropertiesTable {
  image_id: string;
  name: string;
  value: string;
}

export interface ImageTagsTable {
  image_id: string;
  value: string;
}

export interface ImageMembersTable {
  image_id: string;
  member: string;
  status: string;
  can_share: number;
  created_at: string;
  updated_at: string;
}

export interface ImageLocationsTable {
  id: Generated<number>;
  image_id: string;
  url: string;
  /** JSON object. */
  metadata: string;
  status: string;
  position: number;
  created_at: string;
  updated_at: string;
}

export interface TasksTable {
  id: string;
  type: string;
  status: string;
  owner: string | null;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  input: string | null;
  result: string | null;
  message: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Metadata definitions (metadefs); JSON documents are stored as text. */
export interface MetadefNamespacesTable {
  id: Generated<number>;
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: string | null;
  protected: number | null;
  owner: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefObjectsTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  description: string | null;
  /** JSON array of property names, or null. */
  required: string | null;
  /** JSON object: property name -> property type. */
  json_schema: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefPropertiesTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  /** JSON object: the property type. */
  json_schema: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefTagsTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefResourceTypesTable {
  id: Generated<number>;
  name: string;
  protected: number;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefNamespaceResourceTypesTable {
  resource_type_id: number;
  namespace_id: number;
  properties_target: string | null;
  prefix: string | null;
  created_at: string;
  updated_at: string | null;
}

/** The image cache (src/cache): times are epoch seconds. */
export interface CachedImagesTable {
  node_reference: string;
  image_id: string;
  size: number;
  checksum: string;
  hits: Generated<number>;
  last_accessed: number;
  last_modified: number;
}

export interface CacheQueueTable {
  node_reference: string;
  image_id: string;
  queued_at: number;
  not_before: number;
  attempts: Generated<number>;
}

export interface Database {
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_members: ImageMembersTable;
  image_locations: ImageLocationsTable;
  tasks: TasksTable;
  metadef_namespaces: MetadefNamespacesTable;
  metadef_objects: MetadefObjectsTable;
  metadef_properties: MetadefPropertiesTable;
  metadef_tags: MetadefTagsTable;
  metadef_resource_types: MetadefResourceTypesTable;
  metadef_namespace_resource_types: MetadefNamespaceResourceTypesTable;
  cached_images: CachedImagesTable;
  cache_queue: CacheQueueTable;
}
