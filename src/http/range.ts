// Range handling for GET /v2/images/{id}/file with Glance's rules: one range
// only (400 for several), `bytes=a-b`, `bytes=a-`, suffix `bytes=-n`; a start
// beyond the image is 416. The legacy request `Content-Range` is honoured too.

import { badRequest, rangeNotSatisfiable } from '../errors/index.js';

export interface ByteRange {
  offset: number;
  length: number;
  /** Inclusive last byte, for Content-Range. */
  last: number;
}

export function parseRange(range: string | undefined, contentRange: string | undefined, size: number): ByteRange | undefined {
  if (range !== undefined) {
    if (range.includes(',')) {
      throw badRequest(
        'Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.',
      );
    }
    const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
    if (!m || (m[1] === '' && m[2] === '')) throw rangeNotSatisfiable('Invalid Range header.');
    let start: number;
    let endExclusive: number | undefined;
    if (m[1] === '') {
      const suffix = Number(m[2]);
      if (suffix === 0) throw rangeNotSatisfiable('Invalid Range header.');
      start = -suffix;
    } else {
      start = Number(m[1]);
      if (m[2] !== '') {
        const end = Number(m[2]);
        if (end < start) throw rangeNotSatisfiable('Invalid Range header.');
        endExclusive = end + 1;
      }
    }
    if (start >= size) {
      throw rangeNotSatisfiable(`Invalid start position in Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`);
    }
    let offset = start >= 0 ? start : Math.abs(start) < size ? size + start : 0;
    if (offset < 0) offset = 0;
    if (endExclusive !== undefined && endExclusive < size) {
      return { offset, length: endExclusive - offset, last: endExclusive - 1 };
    }
    return { offset, length: size - offset, last: size - 1 };
  }
  if (contentRange !== undefined) {
    const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(contentRange);
    if (!m) throw rangeNotSatisfiable('Invalid Content-Range header.');
    const start = Number(m[1]);
    const stop = Number(m[2]) + 1;
    if (stop <= start || (m[3] !== '*' && stop > Number(m[3]))) throw rangeNotSatisfiable('Invalid Content-Range header.');
    if (stop > size) {
      throw rangeNotSatisfiable(`Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, ${size - 1}].`);
    }
    return { offset: start, length: stop - start, last: stop - 1 };
  }
  return undefined;
}
