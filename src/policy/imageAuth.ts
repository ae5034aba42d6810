// Authorization of image operations as Glance's API layer does it
// (glance/api/v2/policy.py ImageAPIPolicy/MemberAPIPolicy/MetadefAPIPolicy and
// glance/api/policy.py ImageTarget): the policy target an image gives, the
// "Forbidden becomes Not Found when you may not even see the image" rule, and
// the legacy owner checks that stay on until [DEFAULT] enforce_secure_rbac is set.
// Every function here throws PolicyDenied (403 or 404) instead of an HTTP error,
// so the HTTP layer maps it in one place.

import type { Credentials, PolicyEnforcer, Target } from './enforcer.js';

export type Visibility = 'public' | 'private' | 'shared' | 'community';

/**
 * The image as authorization sees it. The API layer maps its records onto this
 * shape; `properties` holds the extra (user) properties only. Core attributes that
 * are not given read as None in check strings, as in Glance.
 */
export interface PolicyImage {
  readonly id: string;
  readonly owner: string | null;
  readonly visibility: Visibility;
  readonly status: string;
  readonly protected: boolean;
  readonly os_hidden: boolean;
  readonly properties: Readonly<Record<string, string>>;
  readonly name?: string | null;
  readonly disk_format?: string | null;
  readonly container_format?: string | null;
  readonly size?: number | null;
  readonly virtual_size?: number | null;
  readonly min_disk?: number;
  readonly min_ram?: number;
  readonly checksum?: string | null;
  readonly os_hash_algo?: string | null;
  readonly os_hash_value?: string | null;
  readonly created_at?: string;
  readonly updated_at?: string | null;
  readonly tags?: readonly string[];
}

/** An image that does not exist yet (create) or no image at all (list). */
export interface ProposedImage {
  readonly owner?: string | null;
  readonly visibility?: string;
}

export interface ImageAccess {
  /** The requesting project is a member of the image (any member status). */
  readonly isMember?: boolean;
  /**
   * Whether the requester may see the image at all (Glance's DB-level check).
   * Computed by isImageVisible() when not given; false means 404 before any policy.
   */
  readonly isVisible?: boolean;
}

/** A denied operation: 403, or 404 where saying 403 would reveal that the resource exists. */
export class PolicyDenied extends Error {
  constructor(
    readonly status: 403 | 404,
    readonly rule: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (rule: string) => new PolicyDenied(404, rule, 'The resource could not be found.');
const forbidden = (rule: string) => new PolicyDenied(403, rule, `You are not authorized to complete ${rule} action.`);

/**
 * Rules after which Glance (without enforce_secure_rbac) still requires the caller to
 * be admin or the image owner: check_is_image_mutable in glance/api/v2/policy.py.
 */
const LEGACY_OWNER_CHECKED = new Set([
  'modify_image',
  'delete_image',
  'upload_image',
  'deactivate',
  'reactivate',
  'delete_image_location',
]);

/** Core image attributes ImageTarget exposes (Glance's proxy.Image, without locations). */
const CORE_ATTRIBUTES = [
  'name', 'status', 'created_at', 'updated_at', 'visibility', 'min_disk', 'min_ram', 'protected', 'os_hidden',
  'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'disk_format', 'container_format', 'size', 'virtual_size',
] as const;

/**
 * The policy target of an existing image (Glance's ImageTarget): core attributes,
 * then extra properties, with the aliases `id` (image_id), `project_id` (owner) and
 * `member_id` (member). Like Glance's image repository, `member` is the requesting
 * project when the image is shared, the requester is not its owner and found it as a
 * member (Glance also sets it for admins, who see everything).
 */
export function buildImageTarget(image: PolicyImage, creds: Credentials, access: { isMember?: boolean } = {}): Target {
  const project = creds.project_id ?? null;
  const member = image.visibility === 'shared' && project !== image.owner && access.isMember ? project : null;
  const aliases: Record<string, unknown> = { image_id: image.id, id: image.id, project_id: image.owner, member, member_id: member };
  const value = (key: string): unknown => {
    if (Object.hasOwn(aliases, key)) return aliases[key];
    if ((CORE_ATTRIBUTES as readonly string[]).includes(key)) return image[key as (typeof CORE_ATTRIBUTES)[number]] ?? null;
    if (key === 'tags') return [...(image.tags ?? [])];
    if (key === 'extra_properties') return { ...image.properties };
    return Object.hasOwn(image.properties, key) ? image.properties[key] : undefined;
  };
  const has = (key: string) => value(key) !== undefined || (CORE_ATTRIBUTES as readonly string[]).includes(key);
  // A lazy view, not a copy: a 1,000-image list page checks get_image on every
  // image, and copying each image's properties dominated that request.
  return new Proxy({} as Record<string, unknown>, {
    get: (_t, key) => (typeof key === 'string' ? value(key) : undefined),
    has: (_t, key) => typeof key === 'string' && has(key),
    getOwnPropertyDescriptor: (_t, key) =>
      typeof key === 'string' && has(key) ? { value: value(key), enumerable: true, configurable: true, writable: false } : undefined,
    ownKeys: () => [...new Set([...Object.keys(image.properties), ...CORE_ATTRIBUTES, ...Object.keys(aliases), 'tags', 'extra_properties'])],
  });
}

/** The target Glance uses before an image exists (create) or without one (list). */
export function buildProposedImageTarget(creds: Credentials, proposed: ProposedImage = {}): Target {
  const owner = proposed.owner !== undefined ? proposed.owner : (creds.project_id ?? null);
  return { project_id: owner, owner, visibility: proposed.visibility ?? 'private' };
}

/** Glance's DB-level visibility (glance/db/utils.py is_image_visible). */
export function isImageVisible(image: PolicyImage, creds: Credentials, who: { isAdmin: boolean; isMember?: boolean }): boolean {
  if (who.isAdmin) return true;
  if (image.owner === null) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  const project = creds.project_id ?? null;
  if (project === null) return false;
  if (project === image.owner) return true;
  return image.visibility === 'shared' && who.isMember === true;
}

/**
 * Enforces an image rule on an existing image (ImageAPIPolicy._enforce):
 * - an image the requester cannot see is 404 before any rule;
 * - a denied rule is 404 when the requester may not `get_image` either, else 403;
 * - without enforce_secure_rbac, mutating rules also need admin or owner (403).
 */
export function enforceImage(enforcer: PolicyEnforcer, creds: Credentials, rule: string, image: PolicyImage, access: ImageAccess = {}): void {
  const { target, isAdmin } = visibleImageTarget(enforcer, creds, rule, image, access);
  if (!enforcer.check(rule, target, creds)) {
    if (rule === 'get_image' || !enforcer.check('get_image', target, creds)) throw notFound(rule);
    throw forbidden(rule);
  }
  if (!enforcer.options.enforceSecureRbac && LEGACY_OWNER_CHECKED.has(rule)) checkIsImageMutable(creds, image, isAdmin);
}

/** The image's target, or 404 when the requester's image lookup would not have found it. */
function visibleImageTarget(enforcer: PolicyEnforcer, creds: Credentials, rule: string, image: PolicyImage, access: ImageAccess) {
  const isAdmin = enforcer.isAdmin(creds);
  const visible = access.isVisible ?? isImageVisible(image, creds, { isAdmin, isMember: access.isMember });
  if (!visible) throw notFound(rule);
  return { isAdmin, target: buildImageTarget(image, creds, { isMember: access.isMember === true || isAdmin }) };
}

/** enforceImage as a yes/no answer (ImageAPIPolicy.check). */
export function checkImage(enforcer: PolicyEnforcer, creds: Credentials, rule: string, image: PolicyImage, access: ImageAccess = {}): boolean {
  try {
    enforceImage(enforcer, creds, rule, image, access);
    return true;
  } catch (e) {
    if (e instanceof PolicyDenied) return false;
    throw e;
  }
}

/**
 * A change of one image attribute (ImageAPIPolicy.update_property): a visibility
 * change needs publicize_image/communitize_image first (plain 403), then modify_image.
 */
export function enforceImagePropertyChange(
  enforcer: PolicyEnforcer,
  creds: Credentials,
  image: PolicyImage,
  name: string,
  value: unknown,
  access: ImageAccess = {},
): void {
  if (name === 'visibility') {
    const { target } = visibleImageTarget(enforcer, creds, 'modify_image', image, access);
    enforceImageVisibility(enforcer, creds, String(value), target);
  }
  enforceImage(enforcer, creds, 'modify_image', image, access);
}

/** Making an image public or community needs its own rule (glance/api/policy.py _enforce_image_visibility). */
export function enforceImageVisibility(enforcer: PolicyEnforcer, creds: Credentials, visibility: string, target: Target): void {
  const rule = visibility === 'public' ? 'publicize_image' : visibility === 'community' ? 'communitize_image' : undefined;
  if (rule && !enforcer.check(rule, target, creds)) throw forbidden(rule);
}

/**
 * POST /v2/images (ImageAPIPolicy.add_image): add_image on the proposed target,
 * the visibility rule, and (without enforce_secure_rbac) the legacy same-owner check.
 */
export function enforceAddImage(enforcer: PolicyEnforcer, creds: Credentials, proposed: ProposedImage): void {
  const target = buildProposedImageTarget(creds, proposed);
  if (!enforcer.check('add_image', target, creds)) {
    if (target['owner'] !== (creds.project_id ?? null)) {
      throw new PolicyDenied(403, 'add_image', `You are not permitted to create images owned by '${pyText(target['owner'])}'`);
    }
    throw forbidden('add_image');
  }
  enforceImageVisibility(enforcer, creds, String(target['visibility']), target);
  if (!enforcer.options.enforceSecureRbac) checkAdminOrSameOwner(creds, proposed, enforcer.isAdmin(creds));
}

/** A rule about images without a specific image (get_images): plain 403, on the proposed target. */
export function enforceImages(enforcer: PolicyEnforcer, creds: Credentials, rule: string, proposed: ProposedImage = {}): void {
  enforceRule(enforcer, creds, rule, buildProposedImageTarget(creds, proposed));
}

/**
 * Member rules (MemberAPIPolicy): the requester must be able to get the image
 * (else 404), then the member rule is enforced on the image target (403).
 */
export function enforceImageMember(enforcer: PolicyEnforcer, creds: Credentials, rule: string, image: PolicyImage, access: ImageAccess = {}): void {
  enforceImage(enforcer, creds, 'get_image', image, access);
  enforceRule(enforcer, creds, rule, visibleImageTarget(enforcer, creds, rule, image, access).target);
}

/** A metadef namespace as its policies see it. */
export interface PolicyNamespace {
  readonly owner: string | null;
  readonly visibility: string;
}

/**
 * Metadef rules (MetadefAPIPolicy): the target is the namespace's owner and
 * visibility (or the requester's project when there is no namespace); a denied rule
 * is 404 when get_metadef_namespace is denied too.
 */
export function enforceMetadef(enforcer: PolicyEnforcer, creds: Credentials, rule: string, namespace?: PolicyNamespace): void {
  const target: Target = namespace
    ? { project_id: namespace.owner, visibility: namespace.visibility }
    : { project_id: creds.project_id ?? null };
  if (enforcer.check(rule, target, creds)) return;
  if (rule === 'get_metadef_namespace' || !enforcer.check('get_metadef_namespace', target, creds)) throw notFound(rule);
  throw forbidden(rule);
}

/** Any other rule (cache, discovery, tasks): plain 403. Cache rules on one image pass buildImageTarget(). */
export function enforceRule(enforcer: PolicyEnforcer, creds: Credentials, rule: string, target: Target = {}): void {
  if (!enforcer.check(rule, target, creds)) throw forbidden(rule);
}

/** Legacy: only an admin or the image's owner may change it (check_is_image_mutable). */
export function checkIsImageMutable(creds: Credentials, image: Pick<PolicyImage, 'owner'>, isAdmin: boolean): void {
  if (isAdmin) return;
  const project = creds.project_id ?? null;
  if (image.owner === null || project === null || image.owner !== project) {
    throw new PolicyDenied(403, 'check_is_image_mutable', 'You do not own this image');
  }
}

/** Legacy: a non-admin may only create images owned by its own project (check_admin_or_same_owner). */
export function checkAdminOrSameOwner(creds: Credentials, proposed: ProposedImage, isAdmin: boolean): void {
  if (isAdmin || proposed.owner === undefined) return;
  if ((creds.project_id ?? null) !== proposed.owner) {
    throw new PolicyDenied(403, 'check_admin_or_same_owner', `You are not permitted to create images owned by '${pyText(proposed.owner)}'.`);
  }
}

function pyText(v: unknown): string {
  return v === null || v === undefined ? 'None' : String(v);
}
