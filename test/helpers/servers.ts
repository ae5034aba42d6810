// In-process HTTP(S) servers on loopback addresses for the fetch and http store tests.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cleanup.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  port: number;
  host: string;
  /** Requests seen, in order (method, url, headers). */
  requests: { method: string; url: string; headers: IncomingMessage['headers']; servername?: string }[];
  server: Server;
  close(): Promise<void>;
}

async function listen(server: Server, host: string, handler: Handler): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const servername = (req.socket as { servername?: string }).servername;
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(servername ? { servername } : {}) });
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host,
    requests,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function startHttpServer(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
  return listen(createHttpServer(), host, handler);
}

export function startHttpsServer(handler: Handler, cert: TestCert, host = '127.0.0.1'): Promise<TestServer> {
  return listen(createHttpsServer({ key: cert.key, cert: cert.cert }), host, handler);
}

export interface TestCert {
  key: Buffer;
  cert: Buffer;
  /** Path of the self-signed certificate, usable as a CA file. */
  certFile: string;
}

/** A self-signed certificate for the given DNS names and IPs, made with the openssl command. */
export function makeSelfSignedCert(dnsNames: string[], ips: string[]): TestCert {
  const dir = tempDir('imago-cert-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const san = [...dnsNames.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', `/CN=${dnsNames[0] ?? ips[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile],
      { stdio: 'pipe' },
    );
  } catch (e) {
    throw new Error(`the TLS tests need the openssl command (Debian package "openssl"): ${(e as Error).message}`);
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

/** Serves `data` with single-range support, as a well-behaved file server does. */
export function serveBytes(data: Buffer, req: IncomingMessage, res: ServerResponse, opts: { ignoreRange?: boolean } = {}): void {
  const range = req.headers.range;
  const m = range && !opts.ignoreRange ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
  if (m) {
    const start = Number(m[1]);
    const end = Math.min(m[2] ? Number(m[2]) : data.length - 1, data.length - 1);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` });
      res.end();
      return;
    }
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${data.length}` });
    res.end(req.method === 'HEAD' ? undefined : data.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'content-length': data.length, 'accept-ranges': opts.ignoreRange ? 'none' : 'bytes' });
  res.end(req.method === 'HEAD' ? undefined : data);
}
