// Turns a request into a RequestContext: trusted headers in no-auth mode, or a
// Keystone token validated by KeystoneAuth when [paste_deploy] flavor says keystone.

import type { Config } from '../config/config.js';
import { contextFromHeaders, type RequestContext } from './context.js';
import { KeystoneAuth, keystoneAuthFromConfig, type Identity } from './keystone.js';

type Headers = Record<string, string | string[] | undefined>;

export interface Authenticator {
  authenticate(requestId: string, headers: Headers, request: { method: string; path: string }): Promise<RequestContext>;
}

/** Glance without a paste flavor: admin, or whatever identity headers say. */
export class NoAuth implements Authenticator {
  async authenticate(requestId: string, headers: Headers): Promise<RequestContext> {
    return contextFromHeaders(requestId, headers);
  }
}

export class KeystoneAuthenticator implements Authenticator {
  constructor(readonly keystone: KeystoneAuth) {}

  async authenticate(requestId: string, headers: Headers, request: { method: string; path: string }): Promise<RequestContext> {
    return contextFromIdentity(requestId, await this.keystone.authenticate(headers, request));
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
  };
}

export function authenticatorFromConfig(config: Config): Authenticator {
  const keystone = keystoneAuthFromConfig(config);
  return keystone ? new KeystoneAuthenticator(keystone) : new NoAuth();
}
