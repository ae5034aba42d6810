// The real Keystone of scripts/keystone.sh for integration tests: reuse the
// one named by KEYSTONE_URL (and OS_* / IMAGO_SERVICE_*), else start it with
// the script (idempotent; it fails with an install hint when the Debian
// packages are missing). Plus a small admin client over Keystone's v3 API.

import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onExit } from './cleanup.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../../..');

export interface KeystoneEnv {
  url: string;
  region: string;
  admin: { user: string; password: string; project: string };
  service: { user: string; password: string; project: string };
}

function fromEnv(env: Record<string, string | undefined>): KeystoneEnv {
  return {
    url: env.KEYSTONE_URL!.replace(/\/+$/, ''),
    region: env.KEYSTONE_REGION ?? env.OS_REGION_NAME ?? 'RegionOne',
    admin: {
      user: env.OS_USERNAME ?? 'admin',
      password: env.OS_PASSWORD ?? 'secret',
      project: env.OS_PROJECT_NAME ?? 'admin',
    },
    service: {
      user: env.IMAGO_SERVICE_USER ?? 'imago',
      password: env.IMAGO_SERVICE_PASSWORD ?? 'imago-secret',
      project: env.IMAGO_SERVICE_PROJECT ?? 'service',
    },
  };
}

/** glance-api.conf lines that put imago behind this Keystone as its service user; `extra` is appended. */
export function keystoneAuthConf(ks: KeystoneEnv, extra = ''): string {
  return `
[paste_deploy]
flavor = keystone
[keystone_authtoken]
www_authenticate_uri = ${ks.url}
auth_url = ${ks.url}
username = ${ks.service.user}
password = ${ks.service.password}
project_name = ${ks.service.project}
user_domain_name = Default
project_domain_name = Default
${extra}
`;
}

function script(args: string[]): string {
  const r = spawnSync('bash', [resolve(REPO_ROOT, 'scripts/keystone.sh'), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0) {
    throw new Error(
      `scripts/keystone.sh ${args.join(' ')} failed (exit ${r.status ?? r.signal}); Keystone is needed for this test.\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

let started: KeystoneEnv | undefined;

/**
 * The Keystone named by KEYSTONE_URL (left as it is), else the one of scripts/keystone.sh:
 * reused when it already runs, else started here and stopped when this test process ends
 * (helpers/cleanup.ts), so a run leaves no Keystone behind that it did not find.
 */
export function ensureKeystone(): KeystoneEnv {
  if (process.env.KEYSTONE_URL) return fromEnv(process.env);
  if (started) return started;
  const running = spawnSync('bash', [resolve(REPO_ROOT, 'scripts/keystone.sh'), 'status'], { stdio: 'ignore' }).status === 0;
  script(['start']);
  if (!running) onExit(() => void spawnSync('bash', [resolve(REPO_ROOT, 'scripts/keystone.sh'), 'stop'], { stdio: 'ignore', timeout: 60_000 }));
  const vars: Record<string, string> = {};
  for (const line of script(['env']).split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  started = fromEnv(vars);
  return started;
}

export interface IssuedToken {
  token: string;
  body: { token: { expires_at: string; user: { id: string }; project?: { id: string } } };
}

/** POST /v3/auth/tokens with any auth body. */
export async function issueToken(env: KeystoneEnv, auth: unknown): Promise<IssuedToken> {
  const res = await fetch(`${env.url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth }),
  });
  if (res.status !== 201) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return { token: res.headers.get('x-subject-token')!, body: (await res.json()) as IssuedToken['body'] };
}

export function passwordAuth(user: string, password: string, project?: string, projectDomain = 'default') {
  const auth: Record<string, unknown> = {
    identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
  };
  if (project) auth.scope = { project: { name: project, domain: { id: projectDomain } } };
  return auth;
}

/** Keystone v3 calls with the admin account. */
export class KeystoneAdmin {
  private token: string | undefined;
  constructor(readonly env: KeystoneEnv) {}

  async adminToken(): Promise<string> {
    this.token ??= (await issueToken(this.env, passwordAuth(this.env.admin.user, this.env.admin.password, this.env.admin.project))).token;
    return this.token;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.env.url}/v3${path}`, {
      method,
      headers: {
        'X-Auth-Token': await this.adminToken(),
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} /v3${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async roleId(name: string): Promise<string> {
    const r = await this.call<{ roles: { id: string }[] }>('GET', `/roles?name=${encodeURIComponent(name)}`);
    if (!r.roles[0]) throw new Error(`no role ${name} in Keystone`);
    return r.roles[0].id;
  }

  async projectId(name: string): Promise<string> {
    const r = await this.call<{ projects: { id: string }[] }>('GET', `/projects?name=${encodeURIComponent(name)}`);
    if (!r.projects[0]) throw new Error(`no project ${name} in Keystone`);
    return r.projects[0].id;
  }

  async createProject(name: string): Promise<string> {
    const r = await this.call<{ project: { id: string } }>('POST', '/projects', {
      project: { name, domain_id: 'default', description: 'imago test' },
    });
    return r.project.id;
  }

  async createUser(name: string, password: string, projectId: string, roles: string[]): Promise<string> {
    const r = await this.call<{ user: { id: string } }>('POST', '/users', {
      user: { name, password, domain_id: 'default', default_project_id: projectId },
    });
    for (const role of roles) {
      await this.call('PUT', `/projects/${projectId}/users/${r.user.id}/roles/${await this.roleId(role)}`);
    }
    return r.user.id;
  }

  async setUserEnabled(userId: string, enabled: boolean): Promise<void> {
    await this.call('PATCH', `/users/${userId}`, { user: { enabled } });
  }

  async revokeToken(token: string): Promise<void> {
    await this.call('DELETE', '/auth/tokens', undefined, { 'X-Subject-Token': token });
  }

  async deleteUser(id: string): Promise<void> {
    await this.call('DELETE', `/users/${id}`).catch(() => undefined);
  }

  async deleteProject(id: string): Promise<void> {
    await this.call('DELETE', `/projects/${id}`).catch(() => undefined);
  }
}
