// The image as clients see it (Glance's ResponseSerializer._format_image):
// base attributes always present (null when unset), extra properties only when
// set, hidden internal properties removed, locations per configuration.

import type { Image, ImageLocation } from './model.js';
import { isoSeconds } from './model.js';

/** Internal bookkeeping properties never shown to clients. */
const HIDDEN_PROPERTIES = new Set(['os_glance_stage_host', 'os_glance_hash_op_host', 'os_glance_staged_url']);

export interface ViewOptions {
  showMultipleLocations: boolean;
  showImageDirectUrl: boolean;
  multistore: boolean;
  /** Orders locations best first (store weight); identity when not given. */
  sortLocations?: (locations: ImageLocation[]) => ImageLocation[];
}

export type ImageView = Record<string, unknown>;

export function imageView(image: Image, opts: ViewOptions): ImageView {
  const view: ImageView = {};
  for (const [k, v] of Object.entries(image.properties)) if (!HIDDEN_PROPERTIES.has(k)) view[k] = v;
  view.name = image.name;
  view.disk_format = image.disk_format;
  view.container_format = image.container_format;
  view.visibility = image.visibility;
  view.size = image.size;
  view.virtual_size = image.virtual_size;
  view.status = image.status;
  view.checksum = image.checksum;
  view.protected = image.protected;
  view.min_ram = image.min_ram;
  view.min_disk = image.min_disk;
  view.owner = image.owner;
  view.os_hidden = image.os_hidden;
  view.os_hash_algo = image.os_hash_algo;
  view.os_hash_value = image.os_hash_value;
  view.id = image.id;
  view.created_at = isoSeconds(image.created_at);
  view.updated_at = isoSeconds(image.updated_at);
  const locations = (opts.sortLocations ?? ((l) => l))(image.locations.filter((l) => l.status === 'active'));
  if (opts.showMultipleLocations) view.locations = locations.map((l) => ({ url: l.url, metadata: l.metadata }));
  if (opts.showImageDirectUrl && locations.length) view.direct_url = locations[0]!.url;
  view.tags = [...image.tags];
  view.self = `/v2/images/${image.id}`;
  view.file = `/v2/images/${image.id}/file`;
  view.schema = '/v2/schemas/image';
  if (opts.multistore) {
    const stores = locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string');
    if (stores.length) view.stores = stores.join(',');
  }
  return view;
}
