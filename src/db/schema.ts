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

export interface Database {
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_members: ImageMembersTable;
  image_locations: ImageLocationsTable;
  tasks: TasksTable;
}
