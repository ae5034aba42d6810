import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { parseListQuery, splitFilterOp, splitInValues } from '../../src/images/listQuery.js';
import { parseRange } from '../../src/http/range.js';
import { parseChanges, patchDraft } from '../../src/images/patch.js';
import { HttpError } from '../../src/http/errors.js';
import { rewrite } from '../../src/http/app.js';
import { batches, BatchPool, closeHashPool, hashStream, MultiHasher } from '../../src/data/hashing.js';
import { versionList } from '../../src/api/versions.js';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as HttpError).status;
  }
  return 0;
};

test('filter operators and in: values', () => {
  assert.deepEqual(splitFilterOp('in:a,b'), ['in', 'a,b']);
  assert.deepEqual(splitFilterOp('plain'), ['eq', 'plain']);
  assert.deepEqual(splitFilterOp('2024-01-01T00:00:00Z'), ['eq', '2024-01-01T00:00:00Z'], 'a bare timestamp is not op:value');
  assert.deepEqual(splitFilterOp('gt:2024-01-01T00:00:00Z'), ['gt', '2024-01-01T00:00:00Z']);
  assert.deepEqual(splitInValues('"glass, darkly",share'), ['glass, darkly', 'share']);
  assert.deepEqual(splitInValues('a,b,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitInValues('"say \\"hi\\"",x'), ['say "hi"', 'x']);
  assert.equal(status(() => splitInValues('"open')), 400);
});

test('list query: limits, sorting and filters', () => {
  const limits = { limitParamDefault: 25, apiLimitMax: 1000 };
  const q = parseListQuery(
    [
      ['limit', '5000'],
      ['sort', 'name:asc,size'],
      ['tag', 'a'],
      ['tag', 'b'],
      ['hw_disk_bus', 'scsi'],
      ['size_min', '10'],
      ['status', 'in:active,queued'],
    ],
    limits,
  );
  assert.equal(q.limit, 1000);
  assert.deepEqual(q.sortKeys, ['name', 'size']);
  assert.deepEqual(q.sortDirs, ['asc', 'desc']);
  assert.deepEqual(q.filters.tags, ['a', 'b']);
  assert.deepEqual(q.filters.properties, [{ name: 'hw_disk_bus', value: 'scsi' }]);
  assert.deepEqual(q.filters.bounds, [{ column: 'size', op: '>=', value: 10 }]);
  assert.deepEqual(q.filters.inColumns, [{ column: 'status', values: ['active', 'queued'] }]);
  assert.equal(parseListQuery([], limits).limit, 25);
  assert.deepEqual(parseListQuery([], limits).sortKeys, ['created_at']);
  for (const bad of [[['limit', 'x']], [['sort_key', 'owner']], [['changes-since', 'x']], [['name', 'like:x']], [['created_at', 'gt:never']]] as [string, string][][]) {
    assert.equal(status(() => parseListQuery(bad, limits)), 400, JSON.stringify(bad));
  }
});

test('ranges follow webob and Glance', () => {
  assert.deepEqual(parseRange('bytes=0-4', undefined, 10), { offset: 0, length: 5, last: 4 });
  assert.deepEqual(parseRange('bytes=8-', undefined, 10), { offset: 8, length: 2, last: 9 });
  assert.deepEqual(parseRange('bytes=-3', undefined, 10), { offset: 7, length: 3, last: 9 });
  assert.deepEqual(parseRange('bytes=-30', undefined, 10), { offset: 0, length: 10, last: 9 });
  assert.deepEqual(parseRange('bytes=5-50', undefined, 10), { offset: 5, length: 5, last: 9 });
  assert.deepEqual(parseRange(undefined, 'bytes 2-3/10', 10), { offset: 2, length: 2, last: 3 });
  assert.equal(parseRange(undefined, undefined, 10), undefined);
  assert.equal(status(() => parseRange('bytes=10-', undefined, 10)), 416);
  assert.equal(status(() => parseRange('bytes=0-1,3-4', undefined, 10)), 400);
  assert.equal(status(() => parseRange('bytes=x', undefined, 10)), 416);
  assert.equal(status(() => parseRange('bytes=0-0', undefined, 0)), 416);
});

test('JSON patch parsing', () => {
  const ok = () => null;
  assert.equal(patchDraft('application/openstack-images-v2.1-json-patch; charset=utf-8'), 10);
  assert.equal(status(() => patchDraft('application/json')), 415);
  const changes = parseChanges([{ op: 'add', path: '/a~1b', value: 'x' }, { op: 'remove', path: '/locations/0' }], 10, ok);
  assert.deepEqual(changes[0]!.path, ['a/b']);
  assert.deepEqual(changes[1]!.path, ['locations', '0']);
  assert.equal(status(() => parseChanges([{ op: 'add', path: '/a~2', value: 'x' }], 10, ok)), 400);
  assert.equal(status(() => parseChanges([{ op: 'add', path: '/a//b', value: 'x' }], 10, ok)), 400);
  assert.equal(status(() => parseChanges([{ op: 'add', path: '/a/', value: 'x' }], 10, ok)), 400);
  assert.equal(status(() => parseChanges([{ op: 'replace', path: '/status', value: 'x' }], 10, ok)), 403);
  assert.equal(status(() => parseChanges([{ op: 'replace', path: '/name', value: 'x' }], 10, () => 'bad')), 400);
});

test('version negotiation rewrites', () => {
  const prefixes = new Set(['v2', 'v2.0', 'v2.15']);
  assert.equal(rewrite('/v2/images?x=1', '', prefixes), '/v2/images?x=1');
  assert.equal(rewrite('/v2.15/images', '', prefixes), '/v2/images');
  assert.equal(rewrite('/v2.99/images', '', prefixes), '/__version_choices');
  assert.equal(rewrite('/', '', prefixes), '/__version_choices');
  assert.equal(rewrite('/versions', '', prefixes), '/versions');
  assert.equal(rewrite('/images', 'application/vnd.openstack.images-v2', prefixes), '/v2/images');
  const ids = versionList({ multistore: true, cache: false, locationsApi: true }).map((v) => v.id);
  assert.equal(ids[0], 'v2.17');
  assert.ok(ids.includes('v2.8') && !ids.includes('v2.16'));
});

test('hashing gives the same digests inline and through the workers, whatever the chunking', async () => {
  for (const size of [0, 1000, 5 << 20, (9 << 20) + 7]) {
    const data = randomBytes(size);
    const chunks = async function* () {
      for (let off = 0; off < data.length; off += 65536 + (off % 7)) yield data.subarray(off, off + 65536 + (off % 7));
    };
    const { size: n, digests } = await hashStream(chunks(), ['md5', 'sha512']);
    assert.equal(n, size);
    assert.equal(digests.md5, createHash('md5').update(data).digest('hex'), `md5 of ${size}`);
    assert.equal(digests.sha512, createHash('sha512').update(data).digest('hex'), `sha512 of ${size}`);
    const inline = new MultiHasher(['md5'], { expectedSize: size });
    const pool = new BatchPool();
    for await (const b of batches(chunks(), pool)) {
      await inline.submit(b.buf);
      b.release();
    }
    assert.equal((await inline.digest()).md5, createHash('md5').update(data).digest('hex'));
  }
  await closeHashPool();
});
