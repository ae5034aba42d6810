// The http store against real HTTP(S) servers started here on 127.0.0.1
// (allowed explicitly through [import_filtering_opts] allowed_hosts, as an
// operator would), plus one on 127.0.0.2 that must never be reached.
// Needs: the openssl command for the https cases.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { loadConfig } from '../../src/config/config.js';
import { StoreRegistry } from '../../src/stores/registry.js';
import { HttpStore } from '../../src/stores/http.js';
import { StoreError, type Store } from '../../src/stores/store.js';
import { UrlPolicy } from '../../src/net/urlPolicy.js';
import { makeSelfSignedCert, serveBytes, startHttpServer, startHttpsServer, type TestCert, type TestServer } from '../helpers/servers.js';
import { tempDir } from '../helpers/cleanup.js';

const DATA = randomBytes(3 * 1024 * 1024 + 17);

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function storeError(p: Promise<unknown>, kind: StoreError['kind'], msg?: RegExp): Promise<StoreError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  });
  return caught as StoreError;
}

describe('http store (real servers on 127.0.0.1)', () => {
  let srv: TestServer;
  let internal: TestServer;
  let tlsSrv: TestServer;
  let cert: TestCert;
  let downPort: number;
  let store: Store;
  let registry: StoreRegistry;
  const warnings: string[] = [];
  let base: string;

  before(async () => {
    internal = await startHttpServer((_req, res) => res.end('internal'), '127.0.0.2');
    srv = await startHttpServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname;
      if (p === '/image') return serveBytes(DATA, req, res);
      if (p === '/norange') return serveBytes(DATA, req, res, { ignoreRange: true });
      if (p.startsWith('/r/')) {
        // /r/<status>/<hops>: a chain of redirects ending on /image
        const [, , status, hops] = p.split('/');
        const left = Number(hops) - 1;
        res.writeHead(Number(status), { location: left > 0 ? `/r/${status}/${left}` : '/image' });
        return res.end();
      }
      if (p === '/to') {
        res.writeHead(302, { location: u.searchParams.get('url')! });
        return res.end();
      }
      if (p === '/auth') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('glance:s3cret').toString('base64')}`;
        if (!ok) {
          res.writeHead(401);
          return res.end();
        }
        return serveBytes(DATA, req, res);
      }
      if (p === '/head405') {
        if (req.method === 'HEAD') {
          res.writeHead(405);
          return res.end();
        }
        return serveBytes(DATA, req, res);
      }
      if (p === '/chunked') {
        // No Content-Length anywhere, and no Range support.
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        return res.end(req.method === 'HEAD' ? undefined : DATA.subarray(0, 1000));
      }
      if (p === '/badrange') {
        res.writeHead(206, { 'content-range': `bytes 0-9/${DATA.length}`, 'content-length': 10 });
        return res.end(DATA.subarray(0, 10));
      }
      if (p === '/truncated') {
        // Promises more than it sends, then drops the connection.
        res.writeHead(200, { 'content-length': DATA.length });
        res.write(DATA.subarray(0, 1000));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      if (p === '/slow') {
        res.writeHead(200, { 'content-length': DATA.length });
        res.write(DATA.subarray(0, 1000)); // then nothing more
        return;
      }
      if (p === '/multiple') {
        res.writeHead(300, { location: '/image' });
        return res.end();
      }
      if (p === '/noloc') {
        res.writeHead(302);
        return res.end();
      }
      const status = Number(p.slice(1));
      res.writeHead(status >= 400 && status < 600 ? status : 404);
      res.end('error body');
    });
    cert = makeSelfSignedCert(['localhost'], ['127.0.0.1']);
    tlsSrv = await startHttpsServer((req, res) => serveBytes(DATA, req, res), cert);
    const gone = await startHttpServer(() => undefined);
    downPort = gone.port;
    await gone.close();

    base = `http://127.0.0.1:${srv.port}`;
    const config = loadConfig({
      env: {},
      set: [
        `DEFAULT.imago_data_dir=${tempDir('imago-http-')}`,
        'glance_store.stores=file, http',
        'glance_store.default_store=file',
        'import_filtering_opts.allowed_hosts=127.0.0.1',
        `import_filtering_opts.allowed_ports=${srv.port}, ${tlsSrv.port}, ${internal.port}, ${downPort}`,
      ],
    });
    registry = await StoreRegistry.fromConfig(config, { warn: (m) => warnings.push(m) });
    store = registry.forLocation(`${base}/image`);
  });

  after(async () => {
    await registry?.close();
    await Promise.all([srv?.close(), internal?.close(), tlsSrv?.close()]);
  });

  test('legacy `stores = file, http` builds a read-only http store for http and https locations', () => {
    assert.ok(store instanceof HttpStore);
    assert.equal(store.type, 'http');
    assert.equal(registry.forLocation(`https://127.0.0.1:${tlsSrv.port}/image`), store);
    assert.deepEqual(store.capabilities, { write: false, delete: false, rangeRead: true });
    assert.deepEqual([...store.schemes], ['http', 'https']);
    assert.equal(registry.default.type, 'file');
  });

  test('https_insecure (Glance default) is warned about once, when an https location is first read', async () => {
    const before = warnings.length;
    await store.stat(`https://127.0.0.1:${tlsSrv.port}/image`).catch(() => undefined);
    await store.stat(`https://127.0.0.1:${tlsSrv.port}/image`).catch(() => undefined);
    assert.equal(warnings.length, before + 1);
    assert.match(warnings.at(-1)!, /https_insecure is true/);
  });

  test('reads a whole image, with its size', async () => {
    const { stream, size } = await store.open(`${base}/image`);
    assert.equal(size, DATA.length);
    assert.ok((await readAll(stream)).equals(DATA));
    assert.equal(srv.requests.at(-1)!.headers.range, undefined);
    assert.equal(srv.requests.at(-1)!.headers['accept-encoding'], 'identity');
  });

  test('ranged reads send Range and check the 206', async () => {
    const cases: [number, number | undefined][] = [
      [0, 10],
      [1234, 100_000],
      [DATA.length - 5, undefined],
      [2_000_000, undefined],
      [DATA.length - 10, 1000], // runs past the end: the server cuts it
    ];
    for (const [offset, length] of cases) {
      const { stream, size } = await store.open(`${base}/image`, { offset, length });
      assert.equal(size, DATA.length);
      const want = DATA.subarray(offset, length === undefined ? undefined : offset + length);
      assert.ok((await readAll(stream)).equals(want), `offset ${offset} length ${length}`);
      assert.equal(srv.requests.at(-1)!.headers.range, `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`);
    }
    const empty = await store.open(`${base}/image`, { offset: 5, length: 0 });
    assert.equal((await readAll(empty.stream)).length, 0);
    assert.equal(empty.size, DATA.length);
  });

  test('a range beyond the end is invalid', async () => {
    await storeError(store.open(`${base}/image`, { offset: DATA.length + 1 }), 'invalid');
  });

  test('a server that ignores Range: bytes are skipped up to the limit, refused past it', async () => {
    const { stream, size } = await store.open(`${base}/norange`, { offset: 1000, length: 5000 });
    assert.equal(size, DATA.length);
    assert.ok((await readAll(stream)).equals(DATA.subarray(1000, 6000)));
    const tail = await store.open(`${base}/norange`, { offset: DATA.length - 3 });
    assert.ok((await readAll(tail.stream)).equals(DATA.subarray(DATA.length - 3)));

    const strict = new HttpStore({
      id: 'strict',
      policy: new UrlPolicy({ allowedHosts: ['127.0.0.1'], allowedPorts: [] }),
      insecure: false,
      proxies: {},
      rangeSkipLimit: 1024,
    });
    await storeError(strict.open(`${base}/norange`, { offset: 4096 }), 'unsupported', /ignores Range/);
    const small = await strict.open(`${base}/norange`, { offset: 1000, length: 10 });
    assert.ok((await readAll(small.stream)).equals(DATA.subarray(1000, 1010)));
  });

  test('a 206 for another range than asked is refused', async () => {
    await storeError(store.open(`${base}/badrange`, { offset: 100, length: 10 }), 'unavailable', /Content-Range/);
  });

  test('stat: HEAD, or a one-byte GET when HEAD is refused; 0 when the size is unknown', async () => {
    assert.deepEqual(await store.stat(`${base}/image`), { size: DATA.length });
    assert.equal(srv.requests.at(-1)!.method, 'HEAD');
    assert.deepEqual(await store.stat(`${base}/head405`), { size: DATA.length });
    assert.equal(srv.requests.at(-1)!.headers.range, 'bytes=0-0');
    assert.deepEqual(await store.stat(`${base}/chunked`), { size: 0 });
    await storeError(store.stat(`${base}/404`), 'not_found');
  });

  test('redirects 301/302/303/307/308 are followed, at most 5', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const { stream, size } = await store.open(`${base}/r/${status}/5`, { offset: 10, length: 20 });
      assert.equal(size, DATA.length);
      assert.ok((await readAll(stream)).equals(DATA.subarray(10, 30)), `status ${status}`);
      assert.equal(srv.requests.at(-1)!.headers.range, 'bytes=10-29', 'Range survives redirects');
      assert.deepEqual(await store.stat(`${base}/r/${status}/2`), { size: DATA.length });
    }
    await storeError(store.open(`${base}/r/302/6`), 'bad_uri', /more than 5 redirects/);
    await storeError(store.open(`${base}/multiple`), 'bad_uri', /300/);
    await storeError(store.open(`${base}/noloc`), 'bad_uri', /302/);
  });

  test('redirects to hosts the policy refuses are not followed', async () => {
    const before = internal.requests.length;
    for (const target of [
      `http://127.0.0.2:${internal.port}/`,
      `http://2130706434:${internal.port}/`,
      `http://[::ffff:127.0.0.2]:${internal.port}/`,
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      await storeError(store.open(`${base}/to?url=${encodeURIComponent(target)}`), 'bad_uri', /does not pass filtering: redirect/);
    }
    assert.equal(internal.requests.length, before);
  });

  test('locations the policy refuses are bad URIs; other schemes too', async () => {
    await storeError(store.open(`http://127.0.0.2:${internal.port}/image`), 'bad_uri', /not in the allowed hosts/);
    await storeError(store.open(`http://127.0.0.1:1/image`), 'bad_uri', /port 1 is not allowed/);
    await storeError(store.open('ftp://127.0.0.1/image'), 'bad_uri');
  });

  test('404 is not_found, 5xx gateway errors unavailable, other errors bad_uri', async () => {
    await storeError(store.open(`${base}/404`), 'not_found');
    await storeError(store.open(`${base}/410`), 'not_found');
    await storeError(store.open(`${base}/503`), 'unavailable');
    await storeError(store.open(`${base}/500`), 'bad_uri', /500/);
    await storeError(store.open(`${base}/403`), 'bad_uri', /403/);
  });

  test('a server that is down is unavailable', async () => {
    await storeError(store.open(`http://127.0.0.1:${downPort}/image`), 'unavailable', /ECONNREFUSED/);
    await storeError(store.stat(`http://127.0.0.1:${downPort}/image`), 'unavailable');
  });

  test('a connection dropped mid-body fails the stream', async () => {
    const { stream } = await store.open(`${base}/truncated`);
    await assert.rejects(readAll(stream));
  });

  test('the body idle timeout and the caller AbortSignal stop a stalled read', async () => {
    const quick = new HttpStore({
      id: 'quick',
      policy: new UrlPolicy({ allowedHosts: ['127.0.0.1'], allowedPorts: [] }),
      insecure: false,
      proxies: {},
      timeouts: { bodyIdleMs: 200 },
    });
    const started = Date.now();
    const { stream } = await quick.open(`${base}/slow`);
    await assert.rejects(readAll(stream), /timeout/i);
    assert.ok(Date.now() - started < 5000);

    const ac = new AbortController();
    const opened = await store.open(`${base}/slow`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(readAll(opened.stream), { name: 'AbortError' });
  });

  test('credentials in the location are sent as Basic auth and never shown', async () => {
    const { stream } = await store.open(`http://glance:s3cret@127.0.0.1:${srv.port}/auth`, { offset: 1, length: 3 });
    assert.ok((await readAll(stream)).equals(DATA.subarray(1, 4)));
    const e1 = await storeError(store.open(`http://glance:wrong-s3cret@127.0.0.1:${srv.port}/auth`), 'bad_uri', /401/);
    const e2 = await storeError(store.open(`http://glance:s3cret@127.0.0.1:${downPort}/auth`), 'unavailable');
    const e3 = await storeError(store.open(`http://glance:s3cret@127.0.0.2:${internal.port}/x`), 'bad_uri');
    for (const e of [e1, e2, e3]) assert.doesNotMatch(`${e.message} ${String(e.cause)}`, /s3cret/);
  });

  test('writes and deletes are refused', async () => {
    await storeError(store.createWriter('11111111-2222-3333-4444-555555555555'), 'unsupported');
    await storeError(store.delete(`${base}/image`), 'unsupported');
  });

  test('https: insecure by default (Glance), verified with https_insecure = false or a CA file', async () => {
    const url = `https://127.0.0.1:${tlsSrv.port}/image`;
    const { stream } = await store.open(url, { offset: 7, length: 7 });
    assert.ok((await readAll(stream)).equals(DATA.subarray(7, 14)));

    const policy = new UrlPolicy({ allowedHosts: ['127.0.0.1'], allowedPorts: [] });
    const verifying = new HttpStore({ id: 'v', policy, insecure: false, proxies: {} });
    await storeError(verifying.open(url), 'unavailable', /TLS|certificate/i);

    const withCa = new HttpStore({ id: 'ca', policy, insecure: true, caFile: cert.certFile, proxies: {} });
    assert.deepEqual(await withCa.stat(url), { size: DATA.length });
  });

  test('https to a pinned name: SNI and the certificate name are the URL host', async () => {
    // "localhost" is pinned by the policy's resolver to 127.0.0.1; the server sees SNI "localhost".
    const policy = new UrlPolicy(
      { allowedHosts: ['localhost'], allowedPorts: [] },
      { resolver: async () => [{ address: '127.0.0.1', family: 4 }] },
    );
    const s = new HttpStore({ id: 'sni', policy, insecure: false, caFile: cert.certFile, proxies: {} });
    const { stream } = await s.open(`https://localhost:${tlsSrv.port}/image`, { offset: 0, length: 4 });
    assert.ok((await readAll(stream)).equals(DATA.subarray(0, 4)));
    assert.equal(tlsSrv.requests.at(-1)!.servername, 'localhost');
    assert.equal(tlsSrv.requests.at(-1)!.headers.host, `localhost:${tlsSrv.port}`);
  });

  test('config: https_ca_certificates_file and http_proxy_information (http forwarded, https tunnelled)', async () => {
    // A small forward proxy: absolute-form requests are answered by the proxy itself,
    // CONNECT is tunnelled to the target.
    const tunnels: string[] = [];
    const proxy = await startHttpServer((req, res) => serveBytes(DATA, req, res));
    proxy.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url!);
      const [host, port] = req.url!.split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    const config = loadConfig({
      env: {},
      set: [
        'DEFAULT.enabled_backends=web:http, local:file',
        'glance_store.default_backend=local',
        `local.filesystem_store_datadir=${tempDir('imago-http-')}`,
        `web.https_ca_certificates_file=${cert.certFile}`,
        `web.http_proxy_information=http:127.0.0.1:${proxy.port}, https:http://127.0.0.1:${proxy.port}`,
        'import_filtering_opts.allowed_hosts=127.0.0.1',
        `import_filtering_opts.allowed_ports=${tlsSrv.port}, ${srv.port}`,
      ],
    });
    const warned: string[] = [];
    const reg = await StoreRegistry.fromConfig(config, { warn: (m) => warned.push(m) });
    try {
      const web = reg.get('web')!;
      assert.equal(web.type, 'http');
      assert.deepEqual(warned, [], 'a CA file means certificates are verified: no warning');

      const plain = await web.open(`${base}/image`, { offset: 3, length: 3 });
      assert.ok((await readAll(plain.stream)).equals(DATA.subarray(3, 6)));
      assert.equal(proxy.requests.at(-1)!.url, `${base}/image`, 'absolute-form request to the proxy');

      const secure = await web.open(`https://127.0.0.1:${tlsSrv.port}/image`, { offset: 9, length: 9 });
      assert.ok((await readAll(secure.stream)).equals(DATA.subarray(9, 18)));
      assert.deepEqual(tunnels, [`127.0.0.1:${tlsSrv.port}`]);
      // The policy still applies with a proxy.
      await storeError(web.open(`http://127.0.0.2:${srv.port}/image`), 'bad_uri');
    } finally {
      await reg.close();
      await proxy.close();
    }
  });
});
