// Relaying a request to the node that staged an image's data (src/imports/stageHost.ts),
// against a real local HTTP server standing in for that node.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBodyMessage, HttpError, renderError } from '../../src/http/errors.js';
import { StageHost, stageHostRelay, STAGE_HOST } from '../../src/imports/stageHost.js';
import type { Image } from '../../src/images/model.js';
import { freePort } from '../helpers/server.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** What the fake stage host answers next. */
let answer: { status: number; body: string; type: string } = { status: 202, body: '', type: 'text/plain' };

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url!.includes('/hang')) return; // never answers
      res.writeHead(answer.status, { 'Content-Type': answer.type, 'x-openstack-request-id': 'req-remote' }).end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const image = (host: string | undefined) => ({ id: 'i1', properties: host ? { [STAGE_HOST]: host } : {} }) as unknown as Image;

describe('StageHost', () => {
  test('records its own URL, and sees as elsewhere only another node', () => {
    const self = new StageHost('http://10.0.0.1:9292');
    assert.deepEqual(self.record(), { [STAGE_HOST]: 'http://10.0.0.1:9292' });
    assert.equal(self.elsewhere(image('http://10.0.0.1:9292')), undefined);
    assert.equal(self.elsewhere(image(undefined)), undefined);
    assert.equal(self.elsewhere(image('http://10.0.0.2:9292')), 'http://10.0.0.2:9292');
    assert.deepEqual(new StageHost(undefined).record(), {}, 'a node that does not know its URL records nothing');
  });

  test('replays method, path, body and end-to-end headers; not the per-connection ones', async () => {
    seen.length = 0;
    answer = { status: 202, body: '', type: 'text/plain' };
    const got = await new StageHost('http://me').replay(`${base}/`, {
      method: 'POST',
      url: '/v2/images/i1/import?x=1',
      headers: { host: 'me', connection: 'keep-alive', 'content-length': '99', 'x-auth-token': 'tok', 'x-roles': 'member', accept: 'application/json' },
      body: { method: { name: 'glance-direct' } },
    });
    assert.deepEqual(got, { status: 202, requestId: 'req-remote' });
    const [req] = seen;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, '/v2/images/i1/import?x=1');
    assert.deepEqual(JSON.parse(req!.body), { method: { name: 'glance-direct' } });
    assert.equal(req!.headers['x-auth-token'], 'tok');
    assert.equal(req!.headers['x-roles'], 'member');
    assert.equal(req!.headers['content-type'], 'application/json');
    assert.notEqual(req!.headers.host, 'me');
    assert.equal(req!.headers['content-length'], String(req!.body.length));
  });

  test("the stage host's error comes back with its status and explanation, in any of the three renderings", async () => {
    for (const accept of ['application/json', 'text/html', 'text/plain']) {
      const rendered = renderError(new HttpError(409, "Image needs to be staged before 'glance-direct' method can be used"), accept);
      answer = { status: 409, body: rendered.body, type: rendered.contentType };
      await assert.rejects(
        new StageHost('http://me').replay(base, { method: 'POST', url: '/v2/images/i1/import', headers: {}, body: {} }),
        (e: unknown) => e instanceof HttpError && e.status === 409 && e.message === "Image needs to be staged before 'glance-direct' method can be used",
        accept,
      );
    }
    assert.equal(errorBodyMessage('<html>not ours</html>'), undefined);
  });

  test('no answer: 504 when the host cannot be reached or is too slow', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const host = new StageHost('http://me');
    await assert.rejects(host.replay(closed, { method: 'DELETE', url: '/v2/images/i1', headers: {} }), (e: unknown) => e instanceof HttpError && e.status === 504);
    const saved = StageHost.timeoutMs;
    StageHost.timeoutMs = 300;
    try {
      await assert.rejects(host.replay(base, { method: 'DELETE', url: '/hang', headers: {} }), (e: unknown) => e instanceof HttpError && e.status === 504);
    } finally {
      StageHost.timeoutMs = saved;
    }
  });

  test('the relay: only for another node; a delete may go on here when the host fails, an import not', async () => {
    const req = { method: 'DELETE', url: '/v2/images/i1', headers: {}, requestId: 'req-local' };
    const host = new StageHost('http://me');
    assert.equal(await stageHostRelay(host, req, undefined, true)(image('http://me')), false, 'staged here: nothing to relay');
    answer = { status: 204, body: '', type: 'text/plain' };
    assert.equal(await stageHostRelay(host, req, undefined, true)(image(base)), true);
    assert.equal(req.requestId, 'req-remote', 'the client sees the id of the request that did the work');
    answer = { status: 500, body: '', type: 'text/plain' };
    assert.equal(await stageHostRelay(host, req, undefined, true)(image(base)), false, 'a failed stage host: the delete goes on here');
    await assert.rejects(stageHostRelay(host, req, {}, false)(image(base)), (e: unknown) => e instanceof HttpError && e.status === 500);
    answer = { status: 403, body: '', type: 'text/plain' };
    await assert.rejects(stageHostRelay(host, req, undefined, true)(image(base)), (e: unknown) => e instanceof HttpError && e.status === 403, 'a refusal is never overridden');
  });
});
