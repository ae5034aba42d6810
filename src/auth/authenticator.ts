// Turns a request into a RequestContext: trusted headers in no-auth mode, or a
// Keystone token validated by KeystoneAuth when [paste_deploy] flavor says keystone.

import type { Config } from '../config/config.js';
import { contextFromHeaders, hasIdentityHeaders, type RequestContext } from './context.js';
import { KeystoneAuth, keystoneAuthFromConfig, type Identity } from './keystone.js';

type Headers = Record<string, string | string[] | undefined>;

export interface Authenticator {
  authenticate(requestId: string, headers: Headers, request: { method: string; path: string }): Promise<RequestContext>;
}

/** Glance's context_is_admin, evaluated by the policy engine. */
export type AdminCheck = (ctx: RequestContext) => boolean;

/** Glance without a paste flavor: admin, or whatever identity headers say. */
export class NoAuth implements Authenticator {
  constructor(private readonly isAdmin: AdminCheck) {}

  async authenticate(requestId: string, headers: Headers): Promise<RequestContext> {
    const ctx = contextFromHeaders(requestId, headers);
    // Without identity headers Glance's unauthenticated context is admin by fiat.
    return hasIdentityHeaders(headers) ? { ...ctx, isAdmin: this.isAdmin(ctx) } : ctx;
  }
}

export class KeystoneAuthenticator implements Authenticator {
  constructor(
    readonly keystone: KeystoneAuth,
    private readonly isAdmin: AdminCheck,
  ) {}

  async authenticate(requestId: string, headers: Headers, request: { method: string; path: string }): Promise<RequestContext> {
    const ctx = contextFromIdentity(requestId, await this.keystone.authenticate(headers, request));
    return { ...ctx, isAdmin: this.isAdmin(ctx) };
  }
}

export function contextFromIdentity(requestId: string, id: Identity): RequestContext {
  const roles = id.roles.map((r) => r.toLowerCase());
  return {
    requestId,
    userId: id.userId,
    projectId: id.projectId ?? null,
    domainId: id.domainId ?? null,
    systemScope: id.systemScope ?? null,
    roles,
    serviceRoles: (id.serviceRoles ?? []).map((r) => r.toLowerCase()),
    isAdmin: roles.includes('admin'),
    authToken: id.token,
    ...(id.catalog ? { catalog: id.catalog } : {}),
  };
}

export function authenticatorFromConfig(config: Config, isAdmin: AdminCheck): Authenticator {
  const keystone = keystoneAuthFromConfig(config);
  return keystone ? new KeystoneAuthenticator(keystone, isAdmin) : new NoAuth(isAdmin);
}
