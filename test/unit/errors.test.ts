// src/errors: one code per meaning, Glance's status for each, and the data
// path's failures mapped to Glance's answers in one place.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiError,
  codeForStatus,
  conflict,
  ERROR_STATUS,
  FormatRejectedError,
  ingestError,
  isApiError,
  SizeLimitError,
  SizeMismatchError,
  StoreError,
  type ErrorCode,
} from '../../src/errors/index.js';
import { HttpError, renderError } from '../../src/http/errors.js';

test('every code has its Glance status, and a relayed status its code', () => {
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.equal(new ApiError(code as ErrorCode, 'x').status, status);
    assert.equal(codeForStatus(status), code);
  }
  assert.equal(codeForStatus(507), 'internal');
  assert.equal(codeForStatus(418), 'bad_request');
  const relayed = new HttpError(507, 'full');
  assert.equal(relayed.status, 507, 'a relayed answer keeps its status');
  assert.ok(isApiError(relayed, 'internal'));
});

test('callers test codes', () => {
  const e = conflict('busy');
  assert.ok(isApiError(e));
  assert.ok(isApiError(e, 'forbidden', 'conflict'));
  assert.ok(!isApiError(e, 'forbidden'));
  assert.ok(!isApiError(new Error('x')));
});

test('failures while receiving data get Glance’s answers', () => {
  const answer = (e: unknown) => {
    const a = ingestError(e);
    assert.ok(a instanceof ApiError, `${String(e)} is answered`);
    return [a.status, a.message];
  };
  assert.deepEqual(answer(new SizeLimitError('image_size_cap', 10)), [413, 'The incoming image is too large: The provided image is too large.']);
  assert.deepEqual(answer(new SizeLimitError('storage_quota', 10))[0], 413);
  assert.deepEqual(answer(new SizeMismatchError(3, 4)), [400, 'Image size mismatch: declared 3 bytes, received 4.']);
  assert.deepEqual(answer(new FormatRejectedError('a backing file')), [415, 'Image data does not pass inspection: a backing file']);
  assert.deepEqual(answer(new StoreError('storage_full', 'disk')), [413, 'Image storage media is full: disk']);
  assert.deepEqual(answer(new StoreError('write_denied', 'ro')), [503, 'Insufficient permissions on image storage media: ro']);
  assert.deepEqual(answer(new StoreError('unsupported', 'x')), [410, 'Error in store configuration. Adding images to store is disabled.']);
  assert.deepEqual(answer(new StoreError('invalid', 'bad')), [400, 'bad']);
  assert.deepEqual(answer(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), [400, 'The client closed the connection before the upload completed.']);
  const bug = new TypeError('oops');
  assert.equal(ingestError(bug), bug, 'anything else stays what it is (a 500)');
  assert.equal(new StoreError('in_use', 'x').code, 'store_in_use');
});

test('rendered as webob renders it', () => {
  const { contentType, body } = renderError(conflict('Image is busy'), 'application/json');
  assert.equal(contentType, 'application/json');
  assert.deepEqual(JSON.parse(body), { message: 'Image is busy<br /><br />\n\n\n', code: '409 Conflict', title: 'Conflict' });
});
