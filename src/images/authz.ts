// Authorization for image operations, shaped like Glance's ImageAPIPolicy:
// a policy rule per action against an image target, "you may not even see it"
// turned into 404, and — unless secure RBAC is on — the legacy hard-coded
// owner/admin checks that Glance still applies on top of its policy rules.

import type { RequestContext } from '../auth/context.js';
import { forbidden, notFound } from '../http/errors.js';
import type { Image } from './model.js';

export type PolicyTarget = Record<string, unknown>;

/** Evaluates one named policy rule (src/policy) for a context against a target. */
export interface PolicyChecker {
  check(rule: string, target: PolicyTarget, ctx: RequestContext): boolean;
  /** Glance's enforce_secure_rbac / enforce_new_defaults: drops the legacy owner checks. */
  readonly secureRbac: boolean;
}

/** Glance's is_image_visible: what a project may read at all (anything else is a 404). */
export function isImageVisible(ctx: RequestContext, image: Image, isMember: boolean): boolean {
  if (ctx.isAdmin) return true;
  if (image.owner === null) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  if (ctx.projectId !== null) {
    if (ctx.projectId === image.owner) return true;
    if (image.visibility === 'shared' && isMember) return true;
  }
  return false;
}

/** Alias keys policy files use on an image target (Glance's ImageTarget.key_transforms). */
const TARGET_ALIASES: Record<string, keyof Image> = { image_id: 'id', project_id: 'owner' };

/**
 * Glance's ImageTarget: image attributes, extra properties, and the aliases
 * policy files use. A lazy view rather than a copy, because listing a
 * 1,000-image page checks get_image on every image and most rules read one
 * or two keys (or none, for an admin).
 */
export function imageTarget(image: Image, ctx: RequestContext): PolicyTarget {
  const member = image.visibility === 'shared' && ctx.projectId !== image.owner ? ctx.projectId : null;
  return new Proxy(image as unknown as PolicyTarget, {
    get(_t, key) {
      if (typeof key !== 'string') return undefined;
      if (key === 'member' || key === 'member_id') return member;
      const k = (TARGET_ALIASES[key] ?? key) as keyof Image;
      if (k in image && k !== 'properties' && k !== 'locations') return image[k];
      return image.properties[key];
    },
    has(_t, key) {
      return typeof key === 'string' && (key in image || key in TARGET_ALIASES || key === 'member' || key === 'member_id' || key in image.properties);
    },
  });
}

export class ImageAuthorizer {
  constructor(private readonly policy: PolicyChecker) {}

  get secureRbac(): boolean {
    return this.policy.secureRbac;
  }

  check(ctx: RequestContext, rule: string, target: PolicyTarget): boolean {
    return this.policy.check(rule, target, ctx);
  }

  /** Enforces a rule on an existing image; if the caller may not even get_image it, answers 404. */
  enforce(ctx: RequestContext, image: Image, rule: string, message?: string): void {
    const target = imageTarget(image, ctx);
    if (this.policy.check(rule, target, ctx)) return;
    if (rule === 'get_image' || !this.policy.check('get_image', target, ctx)) throw notFound(`No image found with ID ${image.id}`);
    throw forbidden(message ?? `You are not authorized to complete ${rule} action.`);
  }

  /** The legacy admin-or-owner check (check_is_image_mutable) for actions that change an image. */
  requireMutable(ctx: RequestContext, image: Image): void {
    if (this.policy.secureRbac || ctx.isAdmin) return;
    if (image.owner === null || ctx.projectId === null || image.owner !== ctx.projectId) {
      throw forbidden('You do not own this image');
    }
  }

  /** get_image for a single image the DB layer already found visible. */
  get(ctx: RequestContext, image: Image): void {
    this.enforce(ctx, image, 'get_image');
  }

  /** Policy + ownership for actions that modify an image (modify_image, delete_image, upload_image...). */
  mutate(ctx: RequestContext, image: Image, rule: string): void {
    this.enforce(ctx, image, rule);
    this.requireMutable(ctx, image);
  }

  /** publicize_image / communitize_image when a visibility is set. */
  visibility(ctx: RequestContext, target: PolicyTarget, visibility: unknown): void {
    const rule = visibility === 'public' ? 'publicize_image' : visibility === 'community' ? 'communitize_image' : undefined;
    if (rule && !this.policy.check(rule, target, ctx)) {
      throw forbidden(`You are not authorized to complete ${rule} action.`);
    }
  }

  /** add_image plus the legacy "only admins create images for other projects". */
  create(ctx: RequestContext, owner: string | null, visibility: string): void {
    const target: PolicyTarget = { project_id: owner, owner, visibility };
    if (!this.policy.check('add_image', target, ctx)) {
      if (owner !== ctx.projectId) throw forbidden(`You are not permitted to create images owned by '${owner}'`);
      throw forbidden('You are not authorized to complete add_image action.');
    }
    this.visibility(ctx, target, visibility);
    if (!this.policy.secureRbac && !ctx.isAdmin && owner !== ctx.projectId) {
      throw forbidden(`You are not permitted to create images owned by '${owner}'.`);
    }
  }
}
