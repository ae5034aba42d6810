// [cors] as oslo.middleware's CORS filter applies it in front of Glance:
// preflights answered before authentication, the origin, method and headers
// checked, headers on every answer to an allowed origin (a 401 too), and
// nothing at all when [cors] allowed_origin is not set.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/http/app.js';
import { unauthorized } from '../../src/errors/index.js';

const HORIZON = 'https://horizon.example.com';

function app(set: string[], conf?: string) {
  let config;
  if (conf) {
    const dir = mkdtempSync(join(tmpdir(), 'imago-cors-'));
    writeFileSync(join(dir, 'glance-api.conf'), conf);
    try {
      config = loadConfig({ configFiles: [join(dir, 'glance-api.conf')], set });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else config = loadConfig({ set });
  return buildApp({
    config,
    features: { multistore: false, cache: false, locationsApi: false },
    auth: {
      async authenticate(_id, headers) {
        if (headers['x-auth-token'] !== 'good') throw unauthorized('The request you have made requires authentication.');
        return { requestId: 'r', userId: 'u', projectId: 'p', domainId: null, systemScope: null, roles: ['member'], serviceRoles: [], isAdmin: false, authToken: 'good' };
      },
    },
    routes: (v2) => {
      v2.get('/images', async () => ({ images: [] }));
      v2.put('/images/:id/file', async (_req, reply) => reply.code(204).send());
    },
  });
}

const preflight = (method: string, headers: string, origin = HORIZON) => ({
  method: 'OPTIONS' as const,
  url: '/v2/images/abc/file',
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
});

describe('CORS', () => {
  test('off unless configured: a preflight meets authentication, and no CORS header anywhere', async () => {
    const a = app([]);
    const r = await a.inject(preflight('PUT', 'x-auth-token,content-type'));
    assert.equal(r.statusCode, 401);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    const g = await a.inject({ method: 'GET', url: '/v2/images', headers: { origin: HORIZON, 'x-auth-token': 'good' } });
    assert.equal(g.statusCode, 200);
    assert.equal(g.headers['access-control-allow-origin'], undefined);
  });

  test('an allowed origin: the preflight is answered with Glance defaults, the actual request carries the headers', async () => {
    const a = app([`cors.allowed_origin=${HORIZON}`]);
    const r = await a.inject(preflight('PUT', 'X-Auth-Token, Content-Type'));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['access-control-allow-origin'], HORIZON);
    assert.equal(r.headers['access-control-allow-methods'], 'PUT');
    assert.equal(r.headers['access-control-allow-headers'], 'X-Auth-Token,Content-Type');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-max-age'], '3600');
    assert.equal(r.headers.vary, 'Origin');

    const put = await a.inject({ method: 'PUT', url: '/v2/images/abc/file', headers: { origin: HORIZON, 'x-auth-token': 'good' }, payload: 'x' });
    assert.equal(put.statusCode, 204);
    assert.equal(put.headers['access-control-allow-origin'], HORIZON);
    assert.equal(put.headers['access-control-expose-headers'], 'X-Image-Meta-Checksum,X-Auth-Token,X-Subject-Token,X-Service-Token,X-OpenStack-Request-ID');

    // The browser must see a refusal to tell the user: the 401 carries the headers too.
    const denied = await a.inject({ method: 'GET', url: '/v2/images', headers: { origin: HORIZON } });
    assert.equal(denied.statusCode, 401);
    assert.equal(denied.headers['access-control-allow-origin'], HORIZON);
  });

  test('refused: another origin, a method or a header not allowed (200 without CORS headers, as oslo)', async () => {
    const a = app([`cors.allowed_origin=${HORIZON}`, 'cors.allow_methods=GET,PUT']);
    for (const req of [preflight('PUT', 'x-auth-token', 'https://evil.example.com'), preflight('DELETE', 'x-auth-token'), preflight('PUT', 'x-auth-token,x-custom')]) {
      const r = await a.inject(req);
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined, JSON.stringify(req.headers));
    }
    const g = await a.inject({ method: 'GET', url: '/v2/images', headers: { origin: 'https://evil.example.com', 'x-auth-token': 'good' } });
    assert.equal(g.statusCode, 200);
    assert.equal(g.headers['access-control-allow-origin'], undefined);
  });

  test('"*" allows any origin; options and deprecated [cors.NAME] sections as oslo reads them', async () => {
    const star = app(['cors.allowed_origin=*', 'cors.allow_credentials=false', 'cors.max_age=60', 'cors.expose_headers=X-A']);
    const r = await star.inject(preflight('PUT', 'x-auth-token', 'http://anything.test'));
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
    assert.equal(r.headers['access-control-max-age'], '60');
    const g = await star.inject({ method: 'GET', url: '/v2/images', headers: { origin: 'http://anything.test', 'x-auth-token': 'good' } });
    assert.equal(g.headers['access-control-expose-headers'], 'X-A');

    const sub = app([], `[cors]\nallowed_origin = ${HORIZON}\n[cors.other]\nallowed_origin = https://other.example.com\nallow_headers = X-Custom\n`);
    const o = await sub.inject(preflight('PUT', 'x-custom', 'https://other.example.com'));
    assert.equal(o.headers['access-control-allow-origin'], 'https://other.example.com');
    assert.equal((await sub.inject(preflight('PUT', 'x-custom'))).headers['access-control-allow-origin'], undefined);
  });
});
