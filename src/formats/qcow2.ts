// qcow2 (docs/interop/qcow2.txt in qemu): big-endian header, optional header extensions in the first cluster.
import { fail, startsWith, u64be, type Detector, type EndInfo, type Verdict } from './detector.js';
import type { SafetyFailure } from './types.js';

const QCOW_MAGIC = Buffer.from('QFI\xfb', 'latin1');
const QED_MAGIC = Buffer.from('QED\x00', 'latin1');

// Incompatible feature bits: 0 dirty, 1 corrupt, 2 external data file, 3 compression type, 4 extended L2.
// Like oslo.utils, anything from bit 4 up is "unknown" (the inspector cannot vouch for it).
const INCOMPAT_DATA_FILE = 1n << 2n;
const INCOMPAT_KNOWN = (1n << 4n) - 1n;
const EXT_END = 0x00000000;
const EXT_DATA_FILE = 0x44415441;

export class Qcow2Detector implements Detector {
  readonly format = 'qcow2' as const;
  private verdict: Verdict | null = null;
  private l1End: number | null = null;

  probe(head: Buffer): boolean {
    if (!startsWith(head, QCOW_MAGIC)) return false;
    this.verdict = inspectHeader(head);
    if (head.length >= 48) {
      const l1Offset = u64be(head, 40);
      this.l1End = l1Offset === null ? null : l1Offset + head.readUInt32BE(36) * 8;
    }
    return true;
  }

  finish(end: EndInfo): Verdict {
    const v = this.verdict!;
    // A truncated upload cuts off the tables qemu needs; the L1 table is the first one it reads.
    if (v.failures.length === 0 && (this.l1End === null || this.l1End > end.size)) {
      return { ...v, failures: [fail('header', 'qcow2 L1 table lies beyond the end of the image')] };
    }
    return v;
  }
}

function inspectHeader(h: Buffer): Verdict {
  const failures: SafetyFailure[] = [];
  if (h.length < 72) return { virtualSize: null, failures: [fail('header', 'qcow2 header is truncated')] };
  const version = h.readUInt32BE(4);
  const backingOffset = h.readBigUInt64BE(8);
  const clusterBits = h.readUInt32BE(20);
  const virtualSize = u64be(h, 24);
  const cryptMethod = h.readUInt32BE(32);
  const details: Record<string, string | number | boolean> = { qcow2Version: version, encrypted: cryptMethod !== 0 };

  if (version !== 2 && version !== 3) failures.push(fail('version', `Unsupported qcow2 version ${version}`));
  if (backingOffset !== 0n) failures.push(fail('backing_file', 'Image has a backing file'));
  if (clusterBits < 9 || clusterBits > 21) failures.push(fail('header', `Invalid qcow2 cluster size 2^${clusterBits}`));
  if (virtualSize === null) failures.push(fail('header', 'qcow2 virtual size is out of range'));
  if (clusterBits >= 9 && clusterBits <= 21) {
    const mask = (1n << BigInt(clusterBits)) - 1n;
    // qemu refuses tables that are not cluster-aligned.
    if (h.readBigUInt64BE(40) & mask || h.readBigUInt64BE(48) & mask) {
      failures.push(fail('header', 'qcow2 L1 or refcount table is not cluster-aligned'));
    }
  }

  let extStart = 72;
  if (version === 3) {
    if (h.length < 104) {
      failures.push(fail('header', 'qcow2 v3 header is truncated'));
      return { virtualSize, failures, details };
    }
    const incompatible = h.readBigUInt64BE(72);
    if (incompatible & INCOMPAT_DATA_FILE) failures.push(fail('data_file', 'Image has an external data file'));
    if (incompatible & ~INCOMPAT_KNOWN) {
      failures.push(fail('unknown_features', `Unknown qcow2 incompatible features 0x${incompatible.toString(16)}`));
    }
    extStart = h.readUInt32BE(100);
    if (extStart < 104 || extStart % 8 !== 0) failures.push(fail('header', `Invalid qcow2 header length ${extStart}`));
  }
  if (failures.some((f) => f.check === 'header' || f.check === 'version')) return { virtualSize, failures, details };
  failures.push(...scanExtensions(h, extStart, 2 ** clusterBits));
  return { virtualSize, failures, details };
}

/** Header extensions run from the end of the header to an end marker, inside the first cluster. */
function scanExtensions(h: Buffer, start: number, clusterSize: number): SafetyFailure[] {
  const failures: SafetyFailure[] = [];
  const limit = Math.min(clusterSize, h.length);
  let off = start;
  while (off + 8 <= limit) {
    const type = h.readUInt32BE(off);
    const len = h.readUInt32BE(off + 4);
    if (type === EXT_END) return failures;
    if (type === EXT_DATA_FILE) failures.push(fail('data_file', 'Image names an external data file'));
    off += 8 + Math.ceil(len / 8) * 8;
  }
  if (off < clusterSize && h.length < clusterSize) {
    // The extension list goes on past what the head holds (or the stream ended inside the first cluster).
    failures.push(fail('header', 'qcow2 header extensions extend beyond the inspected area'));
  }
  return failures;
}

/** QED: recognised only to refuse it, as oslo.utils does (no consumer supports it; qemu would probe it). */
export class QedDetector implements Detector {
  readonly format = 'qed' as const;

  probe(head: Buffer): boolean {
    return startsWith(head, QED_MAGIC);
  }

  finish(): Verdict {
    return { virtualSize: null, failures: [fail('banned', 'The QED format is not allowed')] };
  }
}
