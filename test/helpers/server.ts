// Starts the real imago server process for integration tests, on a free port
// with its own data folder, and gives a small fetch-based client.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onExit } from './cleanup.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CLI = resolve(here, '../../src/cli/main.js');

export interface Imago {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** glance-api.conf content; `{data}` is replaced by the data folder. */
  conf?: string;
  set?: string[];
  env?: Record<string, string>;
  /** Reuse a data folder (e.g. after a crash); otherwise a fresh one is made. */
  dataDir?: string;
  /** A fixed port (see freePort), for a node that must know its own URL; else any free one. */
  port?: number;
  /**
   * A command that runs node in its place (it must exec it, keeping the PID), e.g. unshare(1)
   * to give the server a private mount namespace.
   */
  wrap?: string[];
}

/** A port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** How long a started server may take to say it serves, and to stop after SIGTERM, before it is killed. */
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;

/**
 * Starts `imago serve`. Whatever happens (a start that fails or times out, a test that
 * fails, the test process interrupted), the process is killed and its data folder removed:
 * by stop(), or else when the test process ends (helpers/cleanup.ts).
 */
export async function startImago(opts: StartOptions = {}): Promise<Imago> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'imago-test-'));
  const args = [CLI, 'serve', '--bind-port', String(opts.port ?? 0), '--data-dir', dataDir];
  if (opts.conf) {
    const file = join(dataDir, 'glance-api.conf');
    writeFileSync(file, opts.conf.replaceAll('{data}', dataDir));
    args.push('--config-file', file);
  }
  for (const s of opts.set ?? []) args.push('--set', s);
  const argv = [process.execPath, '--max-semi-space-size=1', ...args];
  const [cmd, ...rest] = opts.wrap ? [...opts.wrap, ...argv] : argv;
  const proc = spawn(cmd!, rest, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const forget = onExit(() => {
    if (running()) proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));

  async function stop(): Promise<void> {
    if (running()) {
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const lingered = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STOP_GRACE_MS)))]);
      clearTimeout(timer);
      if (lingered) {
        proc.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
    forget();
  }

  try {
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`imago did not start within ${START_TIMEOUT_MS / 1000} s:\n${out}`)), START_TIMEOUT_MS);
      const check = () => {
        const m = /serving the Images API on (http:\/\/[^\s]+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      };
      proc.stdout!.on('data', check);
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        rej(new Error(`imago exited with ${code ?? signal}:\n${out}`));
      });
    });
    return { url, dataDir, proc, output: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

type BodyInit = NonNullable<RequestInit['body']>;

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests inspect arbitrary JSON bodies
}

/** A client with JSON helpers; `as` adds trusted identity headers (no-auth mode). */
export function client(base: string, identity?: { project?: string; roles?: string; user?: string }) {
  const idHeaders: Record<string, string> = {};
  if (identity?.project) idHeaders['X-Project-Id'] = identity.project;
  if (identity?.roles !== undefined) idHeaders['X-Roles'] = identity.roles;
  if (identity?.user) idHeaders['X-User-Id'] = identity.user;
  async function call(method: string, path: string, init: { body?: unknown; raw?: BodyInit; headers?: Record<string, string> } = {}): Promise<Res> {
    const headers: Record<string, string> = { Accept: 'application/json', ...idHeaders, ...init.headers };
    let body: BodyInit | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['Content-Type'] ??= 'application/json';
    }
    const r = await fetch(base + path, { method, headers, body, ...(init.raw instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    const text = await r.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
  }
  return {
    call,
    get: (p: string, h?: Record<string, string>) => call('GET', p, { headers: h }),
    post: (p: string, body?: unknown, h?: Record<string, string>) => call('POST', p, { body, headers: h }),
    put: (p: string, body?: unknown, h?: Record<string, string>) => call('PUT', p, { body, headers: h }),
    del: (p: string) => call('DELETE', p),
    patch: (p: string, ops: unknown, mediaType = 'application/openstack-images-v2.1-json-patch') =>
      call('PATCH', p, { body: ops, headers: { 'Content-Type': mediaType } }),
    upload: (p: string, data: BodyInit, h: Record<string, string> = {}) =>
      call('PUT', p, { raw: data, headers: { 'Content-Type': 'application/octet-stream', ...h } }),
    /** Creates an image and returns its JSON. */
    async create(props: Record<string, unknown> = {}) {
      const r = await call('POST', '/v2/images', { body: { disk_format: 'raw', container_format: 'bare', ...props } });
      if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.text}`);
      return r.json;
    },
  };
}

/** A request fetch() refuses to make (e.g. GET with a body). */
export function rawRequest(base: string, method: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, headers: { Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
