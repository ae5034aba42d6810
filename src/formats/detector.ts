import type { DetectedFormat, SafetyFailure } from './types.js';

/** Bytes every detector may look at from the start of the stream (kept in one buffer). */
export const HEAD_SIZE = 64 * 1024;
/** Bytes kept from the end of the stream: VMDK footer + end-of-stream marker (3 sectors) covers the VHD footer too. */
export const TAIL_SIZE = 1536;

export interface RegionResult {
  data: Buffer;
  /** False when the stream ended first, or `problem` says why the region could not be captured. */
  complete: boolean;
  problem?: string;
}

/** Lets a detector ask for a byte range further on in the stream; `done` runs exactly once. */
export interface Capture {
  region(offset: number, length: number, done: (r: RegionResult) => void): void;
}

export interface EndInfo {
  /** Total bytes in the stream. */
  size: number;
  /** The last min(size, TAIL_SIZE) bytes. */
  tail: Buffer;
}

export interface Verdict {
  virtualSize: number | null;
  failures: SafetyFailure[];
  details?: Record<string, string | number | boolean>;
}

/**
 * One image format. `probe` sees the head once (all of HEAD_SIZE, or the whole stream when shorter); only
 * detectors whose probe matched (or, for trailer-only formats, whose `probeEnd` matched) get `finish`.
 */
export interface Detector {
  readonly format: DetectedFormat;
  probe(head: Buffer, capture: Capture): boolean;
  probeEnd?(end: EndInfo): boolean;
  finish(end: EndInfo): Verdict;
}

/** Reads a little/big-endian u64 as a Number, or null when it cannot be represented exactly. */
export function u64le(b: Buffer, off: number): number | null {
  const v = b.readBigUInt64LE(off);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

export function u64be(b: Buffer, off: number): number | null {
  const v = b.readBigUInt64BE(off);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

export function startsWith(b: Buffer, magic: Buffer, at = 0): boolean {
  return b.length >= at + magic.length && b.compare(magic, 0, magic.length, at, at + magic.length) === 0;
}

/** Microsoft mixed-endian GUID as the usual upper-case text form. */
export function msGuid(b: Buffer, off: number): string {
  const h = (s: number, e: number) => b.subarray(off + s, off + e).toString('hex');
  const le = (s: number, e: number) => Buffer.from(b.subarray(off + s, off + e)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${h(8, 10)}-${h(10, 16)}`.toUpperCase();
}

export function fail(check: string, message: string): SafetyFailure {
  return { check, message };
}
