// Glance's policies in code (glance/policies/{base,image,cache,discovery,metadef,tasks}.py)
// as data: the new (secure RBAC) check strings and the deprecated legacy ones that
// oslo ORs in while [oslo_policy] enforce_new_defaults is off.
//
// Baseline: Zed (Glance 25.1, installed). Changes in later releases are applied and
// marked where they could be read from upstream:
// - 2023.2+: the admin persona is spelled `rule:context_is_admin` instead of
//   `role:admin`, so an operator's context_is_admin override reaches every policy.
// - 2024.2 (v2.17 locations API): service_api, add_image_location, fetch_image_location.
// - 2025.1: stores_info_detail also admits the service role (old check deprecated).
// - 2026.2 (master): list_cached_nodes, cache_clean, cache_prune, download_from_store.
// Rules marked "unverified" below could not be read from upstream source; their
// check strings follow the neighbouring rules and may need correcting.

import { loadPolicyOverrides, type PolicyConfig } from './config.js';
import { PolicyEnforcer, type RuleDefault } from './enforcer.js';

// Personas (base.py).
const ADMIN = 'rule:context_is_admin';
const SERVICE = 'rule:service_api';
const DEFAULT = 'rule:default';
const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s';
const PROJECT_READER = 'role:reader and project_id:%(project_id)s';

// Target checks: member_id is the requesting project when it found a shared image
// through its membership; visibility literals compare against the target's value.
const IMAGE_MEMBER_CHECK = 'project_id:%(member_id)s';
const COMMUNITY_VISIBILITY_CHECK = "'community':%(visibility)s";
const PUBLIC_VISIBILITY_CHECK = "'public':%(visibility)s";
const SHARED_VISIBILITY_CHECK = "'shared':%(visibility)s";

const VISIBLE_IMAGE =
  `(project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK} or ${COMMUNITY_VISIBILITY_CHECK} ` +
  `or ${PUBLIC_VISIBILITY_CHECK} or ${SHARED_VISIBILITY_CHECK})`;

const ADMIN_OR_PROJECT_MEMBER = `${ADMIN} or (${PROJECT_MEMBER})`;
const ADMIN_OR_PROJECT_READER = `${ADMIN} or (${PROJECT_READER})`;
const ADMIN_OR_PROJECT_READER_GET_IMAGE = `${ADMIN} or (role:reader and ${VISIBLE_IMAGE})`;
const ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE = `${ADMIN} or (role:member and ${VISIBLE_IMAGE})`;
const ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE = `${ADMIN} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;
const ADMIN_OR_PROJECT_READER_GET_NAMESPACE =
  `${ADMIN} or (role:reader and (project_id:%(project_id)s or ${PUBLIC_VISIBILITY_CHECK}))`;
const ADMIN_OR_SHARED_MEMBER = `${ADMIN} or (role:member and ${IMAGE_MEMBER_CHECK})`;
// Glance writes this one without parentheses around the "and": precedence makes it
// "admin or (reader and (...))".
const ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER =
  `${ADMIN} or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK})`;
/** 2024.2: the new locations API is for services, or members on their own queued images. */
const SERVICE_OR_PROJECT_MEMBER = `${SERVICE} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;
/** 2025.1: store details for admins and services. */
const ADMIN_OR_SERVICE_ROLE = `${ADMIN} or ${SERVICE}`;

const PROJECT: RuleDefault['scopeTypes'] = ['project'];
const WALLABY = 'Wallaby';
const XENA = 'Xena';

/** A rule whose deprecated (pre-Wallaby) check was `rule:default`. */
function image(name: string, checkStr: string, description: string, operations: string[]): RuleDefault {
  return { name, checkStr, description, operations, scopeTypes: PROJECT, deprecatedRule: { checkStr: DEFAULT, since: WALLABY } };
}

/** A metadef read rule whose deprecated (pre-Xena) check was `rule:metadef_default`. */
function metadefRead(name: string, checkStr: string, description: string, operations: string[]): RuleDefault {
  return { name, checkStr, description, operations, scopeTypes: PROJECT, deprecatedRule: { checkStr: 'rule:metadef_default', since: XENA } };
}

function metadefAdmin(name: string, description: string, operations: string[]): RuleDefault {
  return { name, checkStr: 'rule:metadef_admin', description, operations, scopeTypes: PROJECT };
}

function cache(name: string, description: string, operations: string[]): RuleDefault {
  return { name, checkStr: ADMIN, description, operations, scopeTypes: PROJECT, deprecatedRule: { checkStr: 'rule:manage_image_cache', since: XENA } };
}

const BASE: RuleDefault[] = [
  {
    name: 'default',
    checkStr: '',
    description: 'Defines the default rule used for policies that historically had an empty policy in the supplied policy.json file.',
    deprecatedRule: { checkStr: 'role:admin', since: 'Ussuri' },
  },
  { name: 'context_is_admin', checkStr: 'role:admin', description: 'Defines the rule for the is_admin:True check.' },
  { name: 'service_api', checkStr: 'role:service', description: 'Default rule for the service-to-service API.', addedIn: '2024.2' },
];

const IMAGES: RuleDefault[] = [
  image('add_image', ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE, 'Create new image', ['POST /v2/images']),
  image('delete_image', ADMIN_OR_PROJECT_MEMBER, 'Deletes the image', ['DELETE /v2/images/{image_id}']),
  image('get_image', ADMIN_OR_PROJECT_READER_GET_IMAGE, 'Get specified image', ['GET /v2/images/{image_id}']),
  image('get_images', ADMIN_OR_PROJECT_READER, 'Get all available images', ['GET /v2/images']),
  image('modify_image', ADMIN_OR_PROJECT_MEMBER, 'Updates given image', ['PATCH /v2/images/{image_id}']),
  { name: 'publicize_image', checkStr: ADMIN, description: 'Publicize given image', operations: ['PATCH /v2/images/{image_id}'], scopeTypes: PROJECT },
  image('communitize_image', ADMIN_OR_PROJECT_MEMBER, 'Communitize given image', ['PATCH /v2/images/{image_id}']),
  image('download_image', ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE, 'Downloads given image', ['GET /v2/images/{image_id}/file']),
  image('upload_image', ADMIN_OR_PROJECT_MEMBER, 'Uploads data to specified image', ['PUT /v2/images/{image_id}/file']),
  image('delete_image_location', ADMIN, 'Deletes the location of given image', ['PATCH /v2/images/{image_id}']),
  image('get_image_location', ADMIN_OR_PROJECT_READER, 'Reads the location of the image', ['GET /v2/images/{image_id}']),
  image('set_image_location', ADMIN_OR_PROJECT_MEMBER, 'Sets location URI to given image', ['PATCH /v2/images/{image_id}']),
  {
    name: 'add_image_location',
    checkStr: SERVICE_OR_PROJECT_MEMBER,
    description: 'Add location URI to given image',
    operations: ['POST /v2/images/{image_id}/locations'],
    scopeTypes: PROJECT,
    addedIn: '2024.2',
  },
  {
    name: 'fetch_image_location',
    checkStr: SERVICE,
    description: 'Show all locations associated to given image',
    operations: ['GET /v2/images/{image_id}/locations'],
    scopeTypes: PROJECT,
    addedIn: '2024.2',
  },
  image('add_member', ADMIN_OR_PROJECT_MEMBER, 'Create image member', ['POST /v2/images/{image_id}/members']),
  image('delete_member', ADMIN_OR_PROJECT_MEMBER, 'Delete image member', ['DELETE /v2/images/{image_id}/members/{member_id}']),
  image('get_member', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER, 'Show image member details', ['GET /v2/images/{image_id}/members/{member_id}']),
  image('get_members', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER, 'List image members', ['GET /v2/images/{image_id}/members']),
  image('modify_member', ADMIN_OR_SHARED_MEMBER, 'Update image member', ['PUT /v2/images/{image_id}/members/{member_id}']),
  { name: 'manage_image_cache', checkStr: ADMIN, description: 'Manage image cache', scopeTypes: PROJECT },
  image('deactivate', ADMIN_OR_PROJECT_MEMBER, 'Deactivate image', ['POST /v2/images/{image_id}/actions/deactivate']),
  image('reactivate', ADMIN_OR_PROJECT_MEMBER, 'Reactivate image', ['POST /v2/images/{image_id}/actions/reactivate']),
  { name: 'copy_image', checkStr: ADMIN, description: 'Copy existing image to other stores', operations: ['POST /v2/images/{image_id}/import'], scopeTypes: PROJECT },
  {
    name: 'list_cached_nodes',
    checkStr: ADMIN,
    description: 'Get all nodes where specified image is cached',
    operations: ['GET /v2/cache/nodes/{image_id}'],
    scopeTypes: PROJECT,
    addedIn: '2026.2',
  },
  {
    // unverified: the check string of this 2026.2 rule (prefer= on download) was not readable.
    name: 'download_from_store',
    checkStr: ADMIN_OR_SERVICE_ROLE,
    description: 'Download image data from a preferred store (the prefer= query parameter)',
    operations: ['GET /v2/images/{image_id}/file?prefer={stores}'],
    scopeTypes: PROJECT,
    addedIn: '2026.2',
  },
];

const TASK_DEPRECATION = { checkStr: DEFAULT, since: XENA };

const TASKS: RuleDefault[] = [
  // Internal policies, only checked by Glance itself (tasks_api_access guards the API).
  { name: 'get_task', checkStr: DEFAULT, description: 'Get an image task.', operations: ['GET /v2/tasks/{task_id}'], scopeTypes: PROJECT, deprecatedRule: TASK_DEPRECATION },
  { name: 'get_tasks', checkStr: DEFAULT, description: 'List tasks for all images.', operations: ['GET /v2/tasks'], scopeTypes: PROJECT, deprecatedRule: TASK_DEPRECATION },
  { name: 'add_task', checkStr: DEFAULT, description: 'List tasks for all images.', operations: ['POST /v2/tasks'], scopeTypes: PROJECT, deprecatedRule: TASK_DEPRECATION },
  {
    name: 'modify_task',
    checkStr: DEFAULT,
    description: 'This policy is not used.',
    operations: ['DELETE /v2/tasks/{task_id}'],
    scopeTypes: PROJECT,
    deprecatedForRemoval: true,
  },
  {
    name: 'tasks_api_access',
    checkStr: 'role:admin',
    description: 'This is a generic blanket policy for protecting all task APIs.',
    operations: ['GET /v2/tasks/{task_id}', 'GET /v2/tasks', 'POST /v2/tasks', 'DELETE /v2/tasks/{task_id}'],
    scopeTypes: PROJECT,
  },
];

const NS = '/v2/metadefs/namespaces/{namespace_name}';

const METADEFS: RuleDefault[] = [
  { name: 'metadef_default', checkStr: '' },
  { name: 'metadef_admin', checkStr: 'role:admin' },
  metadefRead('get_metadef_namespace', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get a specific namespace.', [`GET ${NS}`]),
  metadefRead('get_metadef_namespaces', ADMIN_OR_PROJECT_READER, 'List namespace.', ['GET /v2/metadefs/namespaces']),
  metadefAdmin('modify_metadef_namespace', 'Modify an existing namespace.', [`PUT ${NS}`]),
  metadefAdmin('add_metadef_namespace', 'Create a namespace.', ['POST /v2/metadefs/namespaces']),
  metadefAdmin('delete_metadef_namespace', 'Delete a namespace.', [`DELETE ${NS}`]),
  metadefRead('get_metadef_object', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get a specific object from a namespace.', [`GET ${NS}/objects/{object_name}`]),
  metadefRead('get_metadef_objects', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get objects from a namespace.', [`GET ${NS}/objects`]),
  metadefAdmin('modify_metadef_object', 'Update an object within a namespace.', [`PUT ${NS}/objects/{object_name}`]),
  metadefAdmin('add_metadef_object', 'Create an object within a namespace.', [`POST ${NS}/objects`]),
  metadefAdmin('delete_metadef_object', 'Delete an object within a namespace.', [`DELETE ${NS}/objects/{object_name}`]),
  metadefRead('list_metadef_resource_types', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'List meta definition resource types.', ['GET /v2/metadefs/resource_types']),
  metadefRead('get_metadef_resource_type', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get meta definition resource types associations.', [`GET ${NS}/resource_types`]),
  metadefAdmin('add_metadef_resource_type_association', 'Create meta definition resource types association.', [`POST ${NS}/resource_types`]),
  metadefAdmin('remove_metadef_resource_type_association', 'Delete meta definition resource types association.', [`DELETE ${NS}/resource_types/{name}`]),
  metadefRead('get_metadef_property', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get a specific meta definition property.', [`GET ${NS}/properties/{property_name}`]),
  metadefRead('get_metadef_properties', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'List meta definition properties.', [`GET ${NS}/properties`]),
  metadefAdmin('modify_metadef_property', 'Update meta definition property.', [`PUT ${NS}/properties/{property_name}`]),
  metadefAdmin('add_metadef_property', 'Create meta definition property.', [`POST ${NS}/properties`]),
  metadefAdmin('remove_metadef_property', 'Delete meta definition property.', [`DELETE ${NS}/properties/{property_name}`]),
  metadefRead('get_metadef_tag', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'Get tag definition.', [`GET ${NS}/tags/{tag_name}`]),
  metadefRead('get_metadef_tags', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'List tag definitions.', [`GET ${NS}/tags`]),
  metadefAdmin('modify_metadef_tag', 'Update tag definition.', [`PUT ${NS}/tags/{tag_name}`]),
  metadefAdmin('add_metadef_tag', 'Add tag definition.', [`POST ${NS}/tags/{tag_name}`]),
  metadefAdmin('add_metadef_tags', 'Create tag definitions.', [`POST ${NS}/tags`]),
  metadefAdmin('delete_metadef_tag', 'Delete tag definition.', [`DELETE ${NS}/tags/{tag_name}`]),
  metadefAdmin('delete_metadef_tags', 'Delete tag definitions.', [`DELETE ${NS}/tags`]),
];

const CACHE: RuleDefault[] = [
  cache('cache_image', 'Queue image for caching', ['PUT /v2/cache/{image_id}']),
  cache('cache_list', 'List cache status', ['GET /v2/cache']),
  cache('cache_delete', 'Delete image(s) from cache and/or queue', ['DELETE /v2/cache', 'DELETE /v2/cache/{image_id}']),
  // unverified check strings (2026.2 cache API v2.18): admin, like the other cache rules.
  { name: 'cache_clean', checkStr: ADMIN, description: 'Remove invalid and stalled cache entries', operations: ['POST /v2/cache/clean'], scopeTypes: PROJECT, addedIn: '2026.2' },
  { name: 'cache_prune', checkStr: ADMIN, description: 'Prune the cache to its maximum size', operations: ['POST /v2/cache/prune'], scopeTypes: PROJECT, addedIn: '2026.2' },
];

const DISCOVERY: RuleDefault[] = [
  {
    name: 'stores_info_detail',
    checkStr: ADMIN_OR_SERVICE_ROLE,
    description: 'Expose store specific information',
    operations: ['GET /v2/info/stores/detail'],
    scopeTypes: PROJECT,
    deprecatedRule: { checkStr: ADMIN, since: '2025.1' },
  },
];

/** Every Glance policy, in Glance's registration order (base, image, tasks, metadef, cache, discovery). */
export const GLANCE_POLICY_DEFAULTS: readonly RuleDefault[] = Object.freeze([
  ...BASE,
  ...IMAGES,
  ...TASKS,
  ...METADEFS,
  ...CACHE,
  ...DISCOVERY,
]);

/**
 * Glance's enforcer as glance-api builds it: these defaults, the operator's
 * policy_file and policy_dirs (relative paths looked up in `configDir`), and the
 * [oslo_policy]/[DEFAULT] options read by readPolicyConfig().
 */
export function createGlanceEnforcer(config: PolicyConfig, configDir?: string, warn?: (message: string) => void): PolicyEnforcer {
  return new PolicyEnforcer({
    defaults: GLANCE_POLICY_DEFAULTS,
    overrides: loadPolicyOverrides(config, configDir),
    options: config.enforcer,
    ...(warn ? { warn } : {}),
  });
}
