// Sign-in for the dashboard: the page sends user, password, domain and project
// here and gets a Keystone token back, which it keeps in session storage and
// sends as X-Auth-Token to the API, as any client does.
//
// Why through imago and not from the page to Keystone: the page is served by
// imago, so the browser would need CORS on Keystone for imago's origin (not set
// by default anywhere; deployers set it for Horizon only). imago already knows
// its Keystone ([keystone_authtoken] www_authenticate_uri, else auth_url), so
// these few calls are relayed as they are. Nothing here is stored or logged:
// the password and tokens only pass through (bodies and headers are not in
// Fastify's request log).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../http/errors.js';
import { badRequest, forbidden, serviceUnavailable, unauthorized } from '../errors/index.js';
import { readJson } from '../http/route.js';
import { identityV3Url } from '../auth/keystone.js';

export interface SessionOptions {
  /** Keystone's root (or /v3) URL; undefined in no-auth mode. */
  keystoneUrl: string | undefined;
  timeoutMs: number;
}

interface TokenBody {
  token?: {
    expires_at?: string;
    user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
    project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
    roles?: { name?: string }[];
  };
}

/** What the page gets after a sign-in or a project switch. */
export interface SessionInfo {
  token: string;
  expiresAt: string | undefined;
  user: { id: string | undefined; name: string | undefined; domain: string | undefined };
  project: { id: string; name: string | undefined } | undefined;
  roles: string[];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function tokenHeader(req: FastifyRequest): string {
  const v = req.headers['x-auth-token'];
  const t = str(Array.isArray(v) ? v[0] : v);
  if (!t) throw unauthorized('The request you have made requires authentication.');
  return t;
}

export class KeystoneSessions {
  private readonly v3: string | undefined;

  constructor(private readonly opts: SessionOptions) {
    this.v3 = opts.keystoneUrl ? identityV3Url(opts.keystoneUrl) : undefined;
  }

  /** One call to Keystone; its error message is passed on with its status (401, 403, 404...). */
  private async keystone(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
    if (!this.v3) throw badRequest('imago runs without authentication: there is nothing to sign in to.');
    let res: Response;
    try {
      res = await fetch(`${this.v3}${path}`, {
        method,
        headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (e) {
      throw serviceUnavailable(`Keystone at ${this.v3} cannot be reached (${(e as Error).message}); try again, or ask the operator to check [keystone_authtoken] www_authenticate_uri.`);
    }
    if (res.status >= 400) {
      let message = `Keystone answered ${res.status}.`;
      try {
        const j = (await res.json()) as { error?: { message?: string } };
        if (j.error?.message) message = j.error.message;
      } catch {
        // not JSON: keep the status line
      }
      throw new HttpError(res.status >= 500 ? 503 : res.status, message);
    }
    return res;
  }

  private async issue(auth: unknown): Promise<SessionInfo> {
    const res = await this.keystone('POST', '/auth/tokens?nocatalog', {}, { auth });
    const token = res.headers.get('x-subject-token');
    const body = (await res.json()) as TokenBody;
    if (!token || !body.token) throw serviceUnavailable('Keystone issued no token.');
    const t = body.token;
    return {
      token,
      expiresAt: t.expires_at,
      user: { id: t.user?.id, name: t.user?.name, domain: t.user?.domain?.name ?? t.user?.domain?.id },
      project: t.project?.id ? { id: t.project.id, name: t.project.name } : undefined,
      roles: (t.roles ?? []).map((r) => r.name ?? '').filter(Boolean),
    };
  }

  /** Projects the token's user may scope to. */
  async projects(token: string): Promise<{ id: string; name: string; domain_id?: string }[]> {
    const res = await this.keystone('GET', '/auth/projects', { 'X-Auth-Token': token });
    const body = (await res.json()) as { projects?: { id: string; name: string; domain_id?: string; enabled?: boolean }[] };
    return (body.projects ?? []).filter((p) => p.enabled !== false).map(({ id, name, domain_id }) => ({ id, name, domain_id }));
  }

  /**
   * Password sign-in. Without a project name the user gets their first
   * project (an unscoped token cannot use the Images API).
   */
  async signIn(input: { username?: unknown; password?: unknown; domain?: unknown; project?: unknown; projectDomain?: unknown }): Promise<SessionInfo> {
    const username = str(input.username);
    const password = typeof input.password === 'string' ? input.password : undefined;
    if (!username || !password) throw badRequest('User name and password are required.');
    const domain = str(input.domain) ?? 'Default';
    const identity = { methods: ['password'], password: { user: { name: username, domain: { name: domain }, password } } };
    const project = str(input.project);
    if (project) {
      return this.issue({ identity, scope: { project: { name: project, domain: { name: str(input.projectDomain) ?? domain } } } });
    }
    const unscoped = await this.issue({ identity });
    const first = (await this.projects(unscoped.token))[0];
    if (!first) throw forbidden(`The user ${username} has no role on any project.`);
    const scoped = await this.rescope(unscoped.token, first.id);
    await this.signOut(unscoped.token).catch(() => undefined);
    return scoped;
  }

  /** A token for another project, from the current token (Keystone's token method). */
  rescope(token: string, projectId: string): Promise<SessionInfo> {
    return this.issue({ identity: { methods: ['token'], token: { id: token } }, scope: { project: { id: projectId } } });
  }

  /** Revokes the token (a user may revoke their own). */
  async signOut(token: string): Promise<void> {
    await this.keystone('DELETE', '/auth/tokens', { 'X-Auth-Token': token, 'X-Subject-Token': token });
  }
}

const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store');

/** /dashboard/api/session routes (under the /dashboard prefix). */
export function sessionRoutes(app: FastifyInstance, sessions: KeystoneSessions, auth: 'none' | 'keystone'): void {
  app.get('/api/config', async (_req, reply) => noStore(reply).send({ auth }));
  app.post('/api/session', async (req, reply) => {
    const body = ((await readJson(req)) ?? {}) as Record<string, unknown>;
    return noStore(reply).code(201).send(await sessions.signIn(body));
  });
  app.post('/api/session/project', async (req, reply) => {
    const body = ((await readJson(req)) ?? {}) as Record<string, unknown>;
    const project = str(body.project_id);
    if (!project) throw badRequest('project_id is required.');
    return noStore(reply).code(201).send(await sessions.rescope(tokenHeader(req), project));
  });
  app.get('/api/session/projects', async (req, reply) => noStore(reply).send({ projects: await sessions.projects(tokenHeader(req)) }));
  app.delete('/api/session', async (req, reply) => {
    await sessions.signOut(tokenHeader(req));
    return reply.code(204).send();
  });
}
