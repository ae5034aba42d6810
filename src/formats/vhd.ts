// VHD ("vpc" in qemu): a 512-byte big-endian footer at the end of the file; dynamic and differencing disks also
// keep a copy at offset 0. qemu only probes the copy at 0, so a fixed VHD looks like raw to it.
import { fail, startsWith, u64be, type Detector, type EndInfo, type Verdict } from './detector.js';

const MAGIC = Buffer.from('conectix', 'latin1');
const FOOTER = 512;
const TYPES: Record<number, string> = { 2: 'fixed', 3: 'dynamic', 4: 'differencing' };
/** Creator applications whose images are sized by current_size rather than CHS geometry (qemu block/vpc.c). */
const SIZE_BY_CURRENT_SIZE = ['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0'];
const MAX_GEOMETRY = 65535 * 16 * 255;

export class VhdDetector implements Detector {
  readonly format = 'vhd' as const;
  private footer: Buffer | null = null;
  private footerOnly = false;

  probe(head: Buffer): boolean {
    if (!startsWith(head, MAGIC)) return false;
    this.footer = Buffer.from(head.subarray(0, Math.min(head.length, FOOTER)));
    return true;
  }

  probeEnd(end: EndInfo): boolean {
    if (end.tail.length < FOOTER || !startsWith(end.tail, MAGIC, end.tail.length - FOOTER)) return false;
    this.footer = end.tail.subarray(end.tail.length - FOOTER);
    this.footerOnly = true;
    return true;
  }

  finish(): Verdict {
    const f = this.footer!;
    if (f.length < FOOTER) return { virtualSize: null, failures: [fail('header', 'VHD footer is truncated')] };
    const diskType = f.readUInt32BE(60);
    const details = { vhdType: TYPES[diskType] ?? String(diskType), vhdFooterOnly: this.footerOnly };
    const failures = [];
    if (diskType === 4) failures.push(fail('parent', 'Differencing VHD depends on a parent disk'));
    else if (!(diskType in TYPES)) failures.push(fail('header', `Unknown VHD disk type ${diskType}`));
    return { virtualSize: virtualSize(f), failures, details };
  }
}

/** What qemu reports: CHS geometry unless the creator is known to use current_size, or the geometry is maxed out. */
function virtualSize(f: Buffer): number | null {
  const chsSectors = f.readUInt16BE(56) * f[58]! * f[59]!;
  const creator = f.subarray(28, 32).toString('latin1');
  if (SIZE_BY_CURRENT_SIZE.includes(creator) || chsSectors === MAX_GEOMETRY) {
    const current = u64be(f, 48);
    return current === null ? null : Math.floor(current / 512) * 512;
  }
  return chsSectors * 512;
}
