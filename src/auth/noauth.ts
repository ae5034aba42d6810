import type { RequestContext } from './context.js';
import { contextFromHeaders } from './context.js';

/** Turns a request into a RequestContext: no-auth headers or a validated token. */
export interface Authenticator {
  authenticate(requestId: string, headers: Record<string, string | string[] | undefined>): Promise<RequestContext>;
}

/** Glance without a paste flavor: admin, or whatever identity headers say. */
export class NoAuth implements Authenticator {
  async authenticate(requestId: string, headers: Record<string, string | string[] | undefined>): Promise<RequestContext> {
    return contextFromHeaders(requestId, headers);
  }
}
