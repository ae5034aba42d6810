// VMDK: a "hosted sparse extent" (magic KDMV, little-endian) with its text descriptor embedded at sector 1, or a
// bare text descriptor that points at other files. Only self-contained sparse files are acceptable: descriptors are
// how CVE-2022-47951 reached host files (FLAT/VMFS extents, paths), and parentFileNameHint names a backing file.
import { fail, startsWith, u64le, type Capture, type Detector, type EndInfo, type Verdict } from './detector.js';
import type { SafetyFailure } from './types.js';

const SPARSE_MAGIC = Buffer.from('KDMV', 'latin1');
const COWD_MAGIC = Buffer.from('COWD', 'latin1');
const SECTOR = 512;
/** qemu reads at most this much descriptor (DESC_SIZE in block/vmdk.c). */
const DESC_MAX = (1 << 20) - 1;
const MIN_SPARSE_HEADER = 64;
const GD_AT_END = 0xffffffffffffffffn;
const MARKER_EOS = 0;
const MARKER_FOOTER = 3;
/** The only subformats whose data all lives in the one stream. */
const SELF_CONTAINED = ['monolithicsparse', 'streamoptimized'];
export const DEFAULT_VMDK_ALLOWED_TYPES = ['streamOptimized', 'monolithicSparse'];
const EXTENT_ACCESS = new Set(['rw', 'rdonly', 'noaccess']);
const EXTENT_LINE = /^(rw|rdonly|noaccess)\s+(\d+)\s+([a-z]+)(?:\s+"([^"]*)")?(?:\s+(\d+))?$/;

interface SparseHeader {
  version: number;
  capacitySectors: number | null;
  descSector: bigint;
  descSectors: bigint;
  gdOffset: bigint;
}

function parseSparseHeader(b: Buffer, off = 0): SparseHeader {
  return {
    version: b.readUInt32LE(off + 4),
    capacitySectors: u64le(b, off + 12),
    descSector: b.readBigUInt64LE(off + 28),
    descSectors: b.readBigUInt64LE(off + 36),
    gdOffset: b.readBigUInt64LE(off + 56),
  };
}

export class VmdkDetector implements Detector {
  readonly format = 'vmdk' as const;
  private readonly allowed: Set<string>;
  private kind: 'sparse' | 'text' | 'cowd' | null = null;
  private header: Buffer | null = null;
  private descriptor: Buffer | null = null;
  private descriptorProblem: string | null = null;

  constructor(allowedTypes: readonly string[] = DEFAULT_VMDK_ALLOWED_TYPES) {
    this.allowed = new Set(allowedTypes.map((t) => t.toLowerCase()).filter((t) => SELF_CONTAINED.includes(t)));
  }

  probe(head: Buffer, capture: Capture): boolean {
    if (startsWith(head, SPARSE_MAGIC)) {
      this.kind = 'sparse';
      this.header = Buffer.from(head.subarray(0, Math.min(head.length, SECTOR)));
      if (this.header.length >= MIN_SPARSE_HEADER) {
        const h = parseSparseHeader(this.header);
        // qemu insists on the embedded descriptor living right after the header.
        if (h.descSector === 1n && h.descSectors > 0n) {
          const len = h.descSectors * 512n > BigInt(DESC_MAX) ? DESC_MAX : Number(h.descSectors * 512n);
          capture.region(SECTOR, len, (r) => {
            this.descriptor = r.data;
            if (!r.complete) this.descriptorProblem = r.problem ?? 'the stream ends inside it';
          });
        }
      }
      return true;
    }
    if (startsWith(head, COWD_MAGIC)) {
      this.kind = 'cowd';
      return true;
    }
    if (looksLikeTextDescriptor(head)) {
      this.kind = 'text';
      this.descriptor = head;
      return true;
    }
    return false;
  }

  finish(end: EndInfo): Verdict {
    if (this.kind === 'cowd') {
      return { virtualSize: null, failures: [fail('subformat', 'VMDK3 (COWD) images are not supported')] };
    }
    if (this.kind === 'text') {
      const d = checkDescriptor(this.descriptor!, this.allowed);
      return {
        virtualSize: null,
        failures: [fail('descriptor', 'Descriptor-only VMDK references extent files outside the image')],
        details: { vmdkCreateType: d.createType, vmdkDescriptorOnly: true },
      };
    }
    return this.finishSparse(end);
  }

  private finishSparse(end: EndInfo): Verdict {
    const head = this.header!;
    if (head.length < MIN_SPARSE_HEADER) return { virtualSize: null, failures: [fail('header', 'VMDK header is truncated')] };
    const h = parseSparseHeader(head);
    const failures: SafetyFailure[] = [];
    if (h.version < 1 || h.version > 3) failures.push(fail('header', `Unsupported VMDK version ${h.version}`));
    if (h.descSector !== 1n) failures.push(fail('descriptor', 'VMDK descriptor is not at sector 1'));
    if (this.descriptor === null) {
      if (h.descSector === 1n) failures.push(fail('descriptor', 'No VMDK descriptor found'));
      return { virtualSize: null, failures };
    }
    if (this.descriptorProblem) failures.push(fail('descriptor', `VMDK descriptor unreadable: ${this.descriptorProblem}`));

    const d = checkDescriptor(this.descriptor, this.allowed);
    failures.push(...d.failures);
    let capacity = h.capacitySectors;
    let footerUsed = false;
    if (h.gdOffset === GD_AT_END) {
      // The real header is the footer near the end of a streamOptimized file (qemu reads it from there).
      const footer = checkFooter(head, end);
      failures.push(...footer.failures);
      if (footer.capacitySectors !== undefined) capacity = footer.capacitySectors;
      footerUsed = true;
    }
    const allowed = this.allowed.has(d.createType);
    return {
      virtualSize: allowed && capacity !== null ? capacity * SECTOR : null,
      failures,
      details: { vmdkCreateType: d.createType, vmdkFooter: footerUsed },
    };
  }
}

/** qemu would open a text file as a VMDK descriptor: oslo's test (printable ASCII + createType) plus qemu's probe. */
function looksLikeTextDescriptor(head: Buffer): boolean {
  const sample = head.subarray(0, Math.min(head.length, SECTOR));
  if (sample.length < 4) return false;
  for (const c of sample) {
    if (!((c >= 0x20 && c <= 0x7e) || (c >= 0x09 && c <= 0x0d))) return false;
  }
  const nul = head.indexOf(0);
  const text = head.subarray(0, nul >= 0 ? nul : head.length).toString('latin1').toLowerCase();
  // qemu's vmdk_probe accepts a text file with a "version=1|2|3" line among its first 2 KiB.
  return text.includes('createtype="') || /^\s*version=[123]\s*$/m.test(text.slice(0, 2048));
}

interface DescriptorCheck {
  createType: string;
  failures: SafetyFailure[];
}

/** Parses the descriptor the cautious way (every line must be understood) and applies the allow-lists. */
export function checkDescriptor(raw: Buffer, allowed: ReadonlySet<string>): DescriptorCheck {
  const nul = raw.indexOf(0);
  const data = raw.subarray(0, nul >= 0 ? nul : raw.length);
  const failures: SafetyFailure[] = [];
  if (data.some((c) => c > 0x7f)) {
    return { createType: 'formatnotfound', failures: [fail('descriptor', 'VMDK descriptor is not ASCII')] };
  }
  const text = data.toString('latin1').toLowerCase();
  let createType = 'formatnotfound';
  const at = text.indexOf('createtype="');
  if (at >= 0) {
    const start = at + 'createtype="'.length;
    const stop = text.indexOf('"', start);
    if (stop >= 0 && stop - start < 64) createType = text.slice(start, stop);
  }
  if (createType === 'formatnotfound') failures.push(fail('descriptor', 'VMDK descriptor has no createType'));
  else if (!allowed.has(createType)) failures.push(fail('create_type', `VMDK createType "${createType}" is not allowed`));

  const extents: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith('ddb')) continue;
    const eq = line.indexOf('=');
    if (eq > 0 && !line.slice(0, eq).includes(' ')) {
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (key === 'parentfilenamehint') failures.push(fail('parent', 'VMDK names a parent (backing) disk'));
      if (key === 'parentcid' && value !== 'ffffffff') failures.push(fail('parent', 'VMDK depends on a parent disk'));
      continue;
    }
    if (EXTENT_ACCESS.has(line.split(/\s/, 1)[0]!)) {
      extents.push(line);
      continue;
    }
    failures.push(fail('descriptor', 'Invalid VMDK descriptor data'));
    return { createType, failures };
  }

  if (extents.length === 0) failures.push(fail('extent', 'VMDK descriptor specifies no extents'));
  else if (extents.length > 1) failures.push(fail('extent', 'A monolithic VMDK must have exactly one extent'));
  for (const line of extents) {
    const m = EXTENT_LINE.exec(line);
    if (!m) {
      failures.push(fail('extent', 'Malformed VMDK extent line'));
      continue;
    }
    const type = m[3]!;
    const file = m[4];
    if (type !== 'sparse') failures.push(fail('extent', `VMDK extent type ${type.toUpperCase()} is not allowed`));
    if (file === undefined || file === '' || /[/\\]/.test(file) || file.startsWith('..')) {
      failures.push(fail('extent', 'Invalid extent filenames found'));
    }
  }
  return { createType, failures };
}

/** Footer layout at the end of a streamOptimized file: footer marker, footer (a header copy), end-of-stream marker. */
function checkFooter(head: Buffer, end: EndInfo): { failures: SafetyFailure[]; capacitySectors?: number | null } {
  const t = end.tail;
  if (t.length < 3 * SECTOR || end.size < 4 * SECTOR) {
    return { failures: [fail('footer', 'VMDK footer expected but the stream is too short')] };
  }
  const failures: SafetyFailure[] = [];
  const h = parseSparseHeader(head);
  const f = parseSparseHeader(t, SECTOR);
  if (!startsWith(t, SPARSE_MAGIC, SECTOR)) failures.push(fail('footer', 'Header and footer signature do not match'));
  if (h.version !== f.version) failures.push(fail('footer', 'Header and footer versions do not match'));
  if (h.descSector !== f.descSector || h.descSectors !== f.descSectors) {
    failures.push(fail('footer', 'Footer specifies a different descriptor than header'));
  }
  if (f.gdOffset === GD_AT_END) failures.push(fail('footer', 'Footer indicates another footer'));
  if (!isMarker(t, 0, MARKER_FOOTER)) failures.push(fail('footer', 'Footer marker is invalid'));
  if (!isMarker(t, 2 * SECTOR, MARKER_EOS) || t.readBigUInt64LE(2 * SECTOR) !== 0n) {
    failures.push(fail('footer', 'End-of-stream marker is invalid'));
  }
  return { failures, capacitySectors: f.capacitySectors };
}

function isMarker(b: Buffer, off: number, type: number): boolean {
  if (b.readUInt32LE(off + 8) !== 0 || b.readUInt32LE(off + 12) !== type) return false;
  for (let i = off + 16; i < off + SECTOR; i++) if (b[i] !== 0) return false;
  return true;
}
