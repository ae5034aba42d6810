import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIni } from '../../src/config/ini.js';
import { ConfigError, OptionReader } from '../../src/config/options.js';
import { mapS3Error, parseS3Location, S3Store, s3StoreOptionsFrom } from '../../src/stores/s3.js';
import { StoreError } from '../../src/stores/store.js';

const MiB = 1024 * 1024;

function reader(lines: string[]): OptionReader {
  return new OptionReader(parseIni(['[glance_store]', ...lines].join('\n')), 'glance_store');
}

const REQUIRED = ['s3_store_host = 127.0.0.1:7480', 's3_store_access_key = AK', 's3_store_secret_key = SK', 's3_store_bucket = glance'];

test('s3 location: new form, legacy forms with keys, secrets with slashes', () => {
  assert.deepEqual(parseS3Location('s3+http://127.0.0.1:7480/glance/abc'), { bucket: 'glance', key: 'abc' });
  assert.deepEqual(parseS3Location('s3+https://s3.example.com/prefix/glance/abc'), { bucket: 'glance', key: 'abc' });
  assert.deepEqual(parseS3Location('s3://AK:SK@s3.example.com/glance/abc'), {
    bucket: 'glance',
    key: 'abc',
    credentials: { accessKey: 'AK', secretKey: 'SK' },
  });
  assert.deepEqual(parseS3Location('s3+https://AK:se/cr/et@host/glance/abc').credentials, { accessKey: 'AK', secretKey: 'se/cr/et' });
  for (const bad of ['s3://AK:SK@https://host/b/k', 'swift://host/b/k', 's3://host/onlyone', 's3://nocolon@host/b/k']) {
    assert.throws(() => parseS3Location(bad), (e: unknown) => e instanceof StoreError && e.kind === 'bad_uri', bad);
  }
});

test('s3 options: Glance defaults and units', () => {
  const o = s3StoreOptionsFrom('s3', reader(REQUIRED), false);
  assert.equal(o.endpoint, 'http://127.0.0.1:7480', 'a host without scheme is http, as in Glance');
  assert.equal(o.region, 'us-east-1');
  assert.equal(o.largeObjectSize, 100 * MiB);
  assert.equal(o.partSize, 10 * MiB);
  assert.equal(o.threadPools, 10);
  assert.equal(o.createBucketOnPut, false);
  assert.equal(o.pathStyle, true, 'auto is path style for an IP endpoint');
  assert.equal(o.requestChecksumCalculation, 'WHEN_REQUIRED');
  assert.equal(o.responseChecksumValidation, 'WHEN_REQUIRED');
  assert.deepEqual(o.locationMetadata, {});
  assert.deepEqual(s3StoreOptionsFrom('fast', reader(REQUIRED), true).locationMetadata, { store: 'fast' });
});

test('s3 options: explicit values, AWS region and addressing', () => {
  const o = s3StoreOptionsFrom(
    's3',
    reader([
      's3_store_host = https://s3.eu-west-1.amazonaws.com/',
      's3_store_access_key = AK',
      's3_store_secret_key = SK',
      's3_store_bucket = my-images',
      's3_store_large_object_size = 0',
      's3_store_large_object_chunk_size = 5',
      's3_store_thread_pools = 2',
      's3_store_create_bucket_on_put = true',
      's3_store_enable_data_integrity_protection = true',
      's3_store_request_checksum_calculation = when_supported',
    ]),
    false,
  );
  assert.equal(o.endpoint, 'https://s3.eu-west-1.amazonaws.com');
  assert.equal(o.region, 'eu-west-1');
  assert.equal(o.pathStyle, false, 'AWS with a DNS-safe bucket: virtual hosts');
  assert.equal(o.largeObjectSize, 0);
  assert.equal(o.partSize, 5 * MiB);
  assert.equal(o.threadPools, 2);
  assert.equal(o.createBucketOnPut, true);
  assert.equal(o.requestChecksumCalculation, 'WHEN_SUPPORTED');
  assert.equal(o.responseChecksumValidation, 'WHEN_REQUIRED');
  const path = s3StoreOptionsFrom('s3', reader([...REQUIRED, 's3_store_bucket_url_format = path', 's3_store_region_name = RegionOne']), false);
  assert.equal(path.pathStyle, true);
  assert.equal(path.region, 'RegionOne');
  // without integrity protection, when_supported is ignored (Glance 2025.2)
  const off = s3StoreOptionsFrom('s3', reader([...REQUIRED, 's3_store_request_checksum_calculation = when_supported']), false);
  assert.equal(off.requestChecksumCalculation, 'WHEN_REQUIRED');
});

test('s3 options: errors name the option', () => {
  const bad: Array<[string[], RegExp]> = [
    [REQUIRED.filter((l) => !l.startsWith('s3_store_host')), /s3_store_host is required/],
    [REQUIRED.filter((l) => !l.startsWith('s3_store_secret_key')), /s3_store_secret_key is required/],
    [REQUIRED.filter((l) => !l.startsWith('s3_store_bucket')), /s3_store_bucket is required/],
    [[...REQUIRED, 's3_store_large_object_chunk_size = 4'], /at least 5/],
    [[...REQUIRED, 's3_store_thread_pools = 0'], /s3_store_thread_pools/],
    [[...REQUIRED, 's3_store_bucket_url_format = sideways'], /auto, virtual or path/],
    [[...REQUIRED.filter((l) => !l.startsWith('s3_store_bucket')), 's3_store_bucket = Not_DNS', 's3_store_bucket_url_format = virtual'], /not a valid DNS name/],
    [[...REQUIRED, 's3_store_response_checksum_validation = sometimes'], /when_required or when_supported/],
  ];
  for (const [lines, re] of bad) assert.throws(() => s3StoreOptionsFrom('s3', reader(lines), false), (e: unknown) => e instanceof ConfigError && re.test(e.message));
});

test('s3 store: locations never carry keys; detail() reports bytes', async () => {
  const store = new S3Store(s3StoreOptionsFrom('s3', reader([...REQUIRED, 's3_store_host = https://s3.example.com:8443/base']), false));
  assert.equal(store.urlFor('1234'), 's3+https://s3.example.com:8443/base/glance/1234');
  assert.deepEqual(store.detail(), { s3_store_large_object_size: 100 * MiB, s3_store_large_object_chunk_size: 10 * MiB, s3_store_thread_pools: 10 });
  await store.close();
});

test('s3 errors map onto store error kinds', () => {
  const svc = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const net = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
  const cases: Array<[unknown, string]> = [
    [svc('NoSuchKey', 404), 'not_found'],
    [svc('NotFound', 404), 'not_found'],
    [svc('AccessDenied', 403), 'write_denied'],
    [svc('InvalidAccessKeyId', 403), 'write_denied'],
    [svc('QuotaExceeded', 403), 'storage_full'],
    [svc('PreconditionFailed', 412), 'duplicate'],
    [svc('InvalidRange', 416), 'invalid'],
    [svc('ServiceUnavailable', 503), 'unavailable'],
    [svc('Weird', 502), 'unavailable'],
    [net('ECONNREFUSED'), 'unavailable'],
    [net('ECONNRESET'), 'unavailable'],
    [Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'unavailable'],
  ];
  for (const [e, kind] of cases) {
    const m = mapS3Error(e);
    assert.ok(m instanceof StoreError, String(e));
    assert.equal(m.kind, kind, String(e));
  }
  const abort = new DOMException('aborted', 'AbortError');
  assert.equal(mapS3Error(abort), abort, 'an abort stays an abort');
});
