import type { Compression } from './types.js';

/** Recognises compressed containers by magic number; says nothing about what is inside. */
export function detectCompression(head: Buffer): Compression | null {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === ZSTD_MAGIC) return 'zstd';
  if (
    head.length >= 10 &&
    head.subarray(0, 3).toString('latin1') === 'BZh' &&
    head[3]! >= 0x31 &&
    head[3]! <= 0x39 &&
    (head.subarray(4, 10).equals(BZ2_BLOCK) || head.subarray(4, 10).equals(BZ2_EOS))
  ) {
    return 'bzip2';
  }
  return null;
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD_MAGIC = 0xfd2fb528;
// bzip2 streams start with a block (digits of pi) or, when empty, the end-of-stream marker (sqrt(pi)).
const BZ2_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
const BZ2_EOS = Buffer.from([0x17, 0x72, 0x45, 0x38, 0x50, 0x90]);
