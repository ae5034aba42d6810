// The parts of the API's documents the page reads.

export interface Image {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  disk_format: string | null;
  container_format: string | null;
  size: number | null;
  virtual_size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_disk: number;
  min_ram: number;
  protected: boolean;
  os_hidden: boolean;
  tags: string[];
  owner: string | null;
  created_at: string;
  updated_at: string;
  stores?: string;
  locations?: { url: string; metadata: Record<string, unknown> }[];
  direct_url?: string;
  [property: string]: unknown;
}

export interface ImageList {
  images: Image[];
  next?: string;
  first: string;
}

export interface Member {
  image_id: string;
  member_id: string;
  status: 'pending' | 'accepted' | 'rejected';
  created_at: string;
  updated_at: string;
}

export interface Task {
  id: string;
  type: string;
  status: string;
  message: string;
  input?: Record<string, unknown>;
  result?: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  owner?: string;
  image_id?: string;
  request_id?: string;
}

export interface StoreInfo {
  id: string;
  description?: string;
  default?: boolean;
  read_only?: boolean;
  type?: string;
  weight?: number;
  properties?: Record<string, unknown>;
}

export interface ImportInfo {
  'import-methods': { value: string[] };
}

export const STATUSES = ['queued', 'saving', 'uploading', 'importing', 'active', 'deactivated', 'killed', 'deleted', 'pending_delete'];
export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
export const CONTAINER_FORMATS = ['bare', 'ovf', 'ova', 'aki', 'ari', 'ami', 'docker', 'compressed'];
