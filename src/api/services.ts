import type { Config } from '../config/config.js';
import type { ImageService } from '../images/service.js';
import type { ImageData } from '../images/data.js';
import type { MemberService } from '../images/members.js';
import type { ImageSchemas } from '../images/schema.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageAuthorizer } from '../images/authz.js';
import type { Importer } from '../imports/importer.js';
import type { TaskRepository } from '../tasks/tasks.js';
import type { MetadefService } from '../metadefs/service.js';
import type { ImageCache } from '../cache/imageCache.js';
import type { StageHost } from '../imports/stageHost.js';

/** What the route modules need; built once in src/server.ts. */
export interface Services {
  config: Config;
  images: ImageService;
  /** PUT and GET /v2/images/{id}/file. */
  imageData: ImageData;
  members: MemberService;
  schemas: ImageSchemas;
  stores: StoreRegistry;
  authz: ImageAuthorizer;
  importer: Importer;
  tasks: TaskRepository;
  metadefs: MetadefService;
  /** The image cache, when [DEFAULT] image_cache_dir is set. */
  cache: ImageCache | undefined;
  /** Where other nodes' staged data is (imports and deletes are relayed there). */
  stageHost: StageHost;
}
