// The rbd store's options, location URLs and feature parsing, without a cluster: Glance's
// option names and defaults, the 4-part and legacy URL forms (quoted as Python's urllib
// quotes them), and rbd_default_features given as a number or as names.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, OptionReader } from '../../src/config/options.js';
import { StoreError } from '../../src/stores/store.js';
import { orderOf, rbdStoreOptionsFrom } from '../../src/stores/rbd/config.js';
import { formatRbdLocation, parseRbdLocation, rbdUrlPrefix } from '../../src/stores/rbd/location.js';
import { parseFeatures } from '../../src/stores/rbd/cluster.js';

const MiB = 1 << 20;

function reader(values: Record<string, string>): OptionReader {
  return new OptionReader(new Map([['glance_store', new Map(Object.entries(values).map(([k, v]) => [k, [v]]))]]), 'glance_store');
}

test("Glance's defaults and the seed's options", () => {
  assert.deepEqual(rbdStoreOptionsFrom('rbd', reader({}), false), {
    id: 'rbd',
    description: undefined,
    weight: 0,
    pool: 'images',
    user: undefined,
    cephConf: undefined,
    chunkSize: 8 * MiB,
    thinProvisioning: false,
    connectTimeout: 0,
    locationMetadata: {},
  });
  const o = rbdStoreOptionsFrom(
    'ceph',
    reader({ rbd_store_pool: 'glance-images', rbd_store_user: 'glance', rbd_store_ceph_conf: '/etc/ceph/ceph.conf', rbd_store_chunk_size: '4', rbd_thin_provisioning: 'True', rados_connect_timeout: '10', weight: '5' }),
    true,
  );
  assert.equal(o.pool, 'glance-images');
  assert.equal(o.user, 'glance');
  assert.equal(o.cephConf, '/etc/ceph/ceph.conf');
  assert.equal(o.chunkSize, 4 * MiB);
  assert.equal(o.thinProvisioning, true);
  assert.equal(o.connectTimeout, 10);
  assert.equal(o.weight, 5);
  assert.deepEqual(o.locationMetadata, { store: 'ceph' });
});

test('bad options are refused naming them', () => {
  for (const [k, v] of [
    ['rbd_store_chunk_size', '0'],
    ['rbd_store_chunk_size', '64'],
    ['rbd_store_chunk_size', 'x'],
    ['rbd_thin_provisioning', 'maybe'],
    ['rbd_store_pool', 'a/b'],
  ] as const) {
    assert.throws(() => rbdStoreOptionsFrom('rbd', reader({ [k]: v }), false), (e: Error) => e instanceof ConfigError && e.message.includes(k), `${k}=${v}`);
  }
});

test('image order is floor(log2(chunk size)), as Glance computes it', () => {
  assert.equal(orderOf(8 * MiB), 23);
  assert.equal(orderOf(1 * MiB), 20);
  assert.equal(orderOf(3 * MiB), 21);
  assert.equal(orderOf(32 * MiB), 25);
});

test('locations: the 4-part form, quoted; the legacy form; malformed ones are bad_uri', () => {
  const url = formatRbdLocation('f5d8-11', 'my pool', 'img/1', 'snap');
  assert.equal(url, 'rbd://f5d8-11/my%20pool/img%2F1/snap');
  assert.deepEqual(parseRbdLocation(url), { fsid: 'f5d8-11', pool: 'my pool', image: 'img/1', snapshot: 'snap' });
  assert.equal(rbdUrlPrefix('f5d8-11', 'images'), 'rbd://f5d8-11/images/');
  assert.equal(formatRbdLocation('a', "o'k(1)*", 'b', 'c'), 'rbd://a/o%27k%281%29%2A/b/c', "Python's quote(s, '')");
  assert.deepEqual(parseRbdLocation('rbd://0f1e2d3c'), { image: '0f1e2d3c' });
  for (const bad of ['rbd://a/b', 'rbd://a/b/c', 'rbd://a/b/c/d/e', 'rbd://', 'rbd://a//c/d', 'file:///x', 'rbd://a/b/c/%zz', 'rbd://é']) {
    assert.throws(() => parseRbdLocation(bad), (e: Error) => e instanceof StoreError && e.kind === 'bad_uri', bad);
  }
});

test('rbd_default_features: a number or names; 0 or unset means layering (Glance)', () => {
  assert.equal(parseFeatures('61'), 61n);
  assert.equal(parseFeatures('layering,exclusive-lock, object-map'), 13n);
  assert.equal(parseFeatures('0'), 1n);
  assert.equal(parseFeatures(undefined), 1n);
  assert.equal(parseFeatures(''), 1n);
});
