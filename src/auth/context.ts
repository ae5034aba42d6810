import type { StoreRequestContext } from '../stores/store.js';
import type { CatalogService } from './catalog.js';

// Who is asking: built once per request by the auth layer (no-auth headers or
// a validated Keystone token) and read by policy checks and the domain.

export interface RequestContext {
  requestId: string;
  userId: string | null;
  /** The project (tenant) the token is scoped to; images it creates are owned by it. */
  projectId: string | null;
  domainId: string | null;
  systemScope: string | null;
  /** Lower-cased role names. */
  roles: string[];
  /** Roles of an X-Service-Token, when a service (Nova, Cinder) calls on behalf of a user. */
  serviceRoles: string[];
  /** Glance's context_is_admin (role:admin by default). */
  isAdmin: boolean;
  authToken: string | null;
  /** The token's service catalog (Keystone mode), for calls to other services such as glance-download. */
  catalog?: CatalogService[];
}

export function adminContext(requestId: string): RequestContext {
  return {
    requestId,
    userId: null,
    projectId: null,
    domainId: null,
    systemScope: null,
    roles: ['admin'],
    serviceRoles: [],
    isAdmin: true,
    authToken: null,
  };
}

/**
 * No-auth mode (Glance without a paste flavor): every request acts as admin,
 * unless it carries the identity headers keystonemiddleware would have set;
 * then those are trusted, so visibility and member rules can be exercised.
 */
const IDENTITY_HEADERS = ['x-project-id', 'x-tenant-id', 'x-tenant', 'x-roles', 'x-role', 'x-user-id', 'x-user'];

export function hasIdentityHeaders(headers: Record<string, string | string[] | undefined>): boolean {
  return IDENTITY_HEADERS.some((h) => headers[h] !== undefined);
}

export function contextFromHeaders(requestId: string, headers: Record<string, string | string[] | undefined>): RequestContext {
  const h = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (!hasIdentityHeaders(headers)) return adminContext(requestId);
  const project = h('x-project-id') ?? h('x-tenant-id') ?? h('x-tenant');
  const rolesHeader = h('x-roles') ?? h('x-role');
  const user = h('x-user-id') ?? h('x-user');
  const roles = (rolesHeader ?? '')
    .split(',')
    .map((r) => r.trim().toLowerCase())
    .filter(Boolean);
  const serviceRoles = (h('x-service-roles') ?? '')
    .split(',')
    .map((r) => r.trim().toLowerCase())
    .filter(Boolean);
  return {
    requestId,
    userId: user ?? null,
    projectId: project ?? null,
    domainId: h('x-domain-id') ?? null,
    systemScope: h('openstack-system-scope') ?? null,
    roles,
    serviceRoles,
    isAdmin: roles.includes('admin'),
    authToken: h('x-auth-token') ?? null,
  };
}

/** What a store that keeps data in the caller's own account (multi-tenant Swift) needs to know. */
export function storeContext(ctx: RequestContext): StoreRequestContext | undefined {
  if (!ctx.authToken) return undefined;
  return { authToken: ctx.authToken, projectId: ctx.projectId ?? undefined, userId: ctx.userId ?? undefined, catalog: ctx.catalog };
}
