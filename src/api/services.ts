import type { Config } from '../config/config.js';
import type { ImageService } from '../images/service.js';
import type { MemberService } from '../images/members.js';
import type { ImageSchemas } from '../images/schema.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { ImageAuthorizer } from '../images/authz.js';

/** What the route modules need; built once in src/server.ts. */
export interface Services {
  config: Config;
  images: ImageService;
  members: MemberService;
  schemas: ImageSchemas;
  stores: StoreRegistry;
  authz: ImageAuthorizer;
}
