// The image service's door to the policy engine (src/policy): turns a
// RequestContext into policy credentials, runs Glance's image authorization
// rules, and maps a PolicyDenied to the HTTP error clients expect.

import type { RequestContext } from '../auth/context.js';
import { forbidden, notFound, type ApiError } from '../errors/index.js';
import {
  buildImageTarget,
  enforceAddImage,
  enforceImage,
  enforceImageMember,
  enforceImagePropertyChange,
  enforceMetadef,
  enforceRule,
  isImageVisible,
  PolicyDenied,
  type Credentials,
  type ImageAccess,
  type PolicyEnforcer,
  type PolicyNamespace,
  type PropertyProtections,
  type Target,
} from '../policy/index.js';
import type { Image } from './model.js';

export type { ImageAccess };

/** An image the caller may see, with how it sees it (ImageService.load()); what the member and image rules are checked on. */
export interface Loaded {
  image: Image;
  access: ImageAccess;
}

/** What a property-protection check is for. */
export type PropertyOp = 'create' | 'read' | 'update' | 'delete';

export class ImageAuthorizer {
  private readonly credsCache = new WeakMap<RequestContext, Credentials>();

  constructor(
    readonly enforcer: PolicyEnforcer,
    private readonly protections?: PropertyProtections,
  ) {}

  creds(ctx: RequestContext): Credentials {
    let c = this.credsCache.get(ctx);
    if (!c) {
      c = {
        user_id: ctx.userId,
        project_id: ctx.projectId,
        ...(ctx.domainId && !ctx.projectId ? { domain_id: ctx.domainId } : {}),
        system_scope: ctx.systemScope,
        roles: ctx.roles,
        service_roles: ctx.serviceRoles,
      };
      this.credsCache.set(ctx, c);
    }
    return c;
  }

  /** Glance's context_is_admin for this caller. */
  isAdmin(ctx: RequestContext): boolean {
    return this.enforcer.isAdmin(this.creds(ctx));
  }

  /** Whether the caller's image lookup finds the image at all (else it is a 404). */
  visible(ctx: RequestContext, image: Image, isMember: boolean): boolean {
    return isImageVisible(image, this.creds(ctx), { isAdmin: ctx.isAdmin, isMember });
  }

  /** A rule on an existing image: 404 if the caller may not see it, 403 if only this is denied. */
  enforce(ctx: RequestContext, image: Image, rule: string, access: ImageAccess, message?: string): void {
    guard(() => enforceImage(this.enforcer, this.creds(ctx), rule, image, access), message);
  }

  /** enforce() as a yes/no answer, e.g. to filter a list page. */
  allowed(ctx: RequestContext, image: Image, rule: string, access: ImageAccess): boolean {
    try {
      enforceImage(this.enforcer, this.creds(ctx), rule, image, access);
      return true;
    } catch (e) {
      if (e instanceof PolicyDenied) return false;
      throw e;
    }
  }

  /** Changing one attribute: visibility needs publicize/communitize first, then modify_image. */
  propertyChange(ctx: RequestContext, image: Image, name: string, value: unknown, access: ImageAccess): void {
    guard(() => enforceImagePropertyChange(this.enforcer, this.creds(ctx), image, name, value, access));
  }

  create(ctx: RequestContext, proposed: { owner?: string | null; visibility?: string }): void {
    guard(() => enforceAddImage(this.enforcer, this.creds(ctx), proposed));
  }

  member(ctx: RequestContext, image: Image, rule: string, access: ImageAccess): void {
    guard(() => enforceImageMember(this.enforcer, this.creds(ctx), rule, image, access));
  }

  /** A metadef rule on a namespace (or none, for lists and creates): 404 when the caller may not see it, else 403. */
  metadef(ctx: RequestContext, rule: string, namespace?: PolicyNamespace): void {
    guard(() => enforceMetadef(this.enforcer, this.creds(ctx), rule, namespace));
  }

  /** metadef() as a yes/no answer, e.g. to filter a list. */
  metadefAllowed(ctx: RequestContext, rule: string, namespace?: PolicyNamespace): boolean {
    try {
      enforceMetadef(this.enforcer, this.creds(ctx), rule, namespace);
      return true;
    } catch (e) {
      if (e instanceof PolicyDenied) return false;
      throw e;
    }
  }

  /** Any rule without an image (get_images, stores_info_detail, tasks, cache...). */
  rule(ctx: RequestContext, rule: string, target: Target = {}): void {
    guard(() => enforceRule(this.enforcer, this.creds(ctx), rule, target));
  }

  /**
   * A rule with the image as its target but none of the image rules' visibility
   * handling (Glance's CacheImageAPIPolicy): a denial is a plain 403.
   */
  imageRule(ctx: RequestContext, rule: string, image: Image): void {
    guard(() => enforceRule(this.enforcer, this.creds(ctx), rule, buildImageTarget(image, this.creds(ctx))));
  }

  /** Property protections (property_protection_file); everything is allowed without one. */
  property(ctx: RequestContext, name: string, op: PropertyOp): boolean {
    return this.protections ? this.protections.check(name, op, this.creds(ctx)) : true;
  }

  /** The extra properties this caller may read. */
  readableProperties(ctx: RequestContext, properties: Record<string, string>): Record<string, string> {
    if (!this.protections) return properties;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(properties)) if (this.protections.check(k, 'read', this.creds(ctx))) out[k] = v;
    return out;
  }
}

function guard(fn: () => void, message?: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolicyDenied) throw toHttp(e, message);
    throw e;
  }
}

function toHttp(e: PolicyDenied, message?: string): ApiError {
  return e.status === 404 ? notFound(e.message) : forbidden(message ?? e.message);
}
