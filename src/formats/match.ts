// Glance's upload-time rule (2025.1, [image_format] require_image_format_match): for container_format=bare the
// detected content must be the declared disk_format and pass its safety checks.
import type { InspectionResult } from './types.js';

export interface FormatMatchOptions {
  /** [image_format] require_image_format_match (default true). Safety failures are fatal either way. */
  requireFormatMatch?: boolean;
}

export interface FormatRejection {
  reason: 'unsafe' | 'mismatch';
  message: string;
}

/** Declared formats that must be exactly what was detected. */
const STRICT = new Set(['qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'luks', 'iso']);

/** null when the image may be stored; otherwise why not (the API answers 415 and puts the image back to queued). */
export function checkDeclaredFormat(
  result: InspectionResult,
  diskFormat: string,
  containerFormat: string,
  opts: FormatMatchOptions = {},
): FormatRejection | null {
  // Glance only inspects bare images: other containers (ova, docker, compressed ...) wrap the disk.
  if (containerFormat !== 'bare') return null;
  if (!result.safety.ok) {
    const why = result.safety.failures.map((f) => `${f.check}: ${f.message}`).join('; ');
    return { reason: 'unsafe', message: `Image (${result.format}) failed safety checks: ${why}` };
  }
  if (!(opts.requireFormatMatch ?? true) || contentMatches(result, diskFormat)) return null;
  const found = result.compression ? `${result.compression}-compressed data` : result.format;
  return { reason: 'mismatch', message: `Image content is ${found}, which does not match disk_format ${diskFormat}` };
}

function contentMatches(result: InspectionResult, diskFormat: string): boolean {
  const f = result.format;
  // Raw data, or a raw disk whose first sector happens to hold a partition table.
  const rawLike = f === 'raw' || f === 'gpt' || f === 'mbr';
  if (diskFormat === 'raw') {
    // A fixed VHD is a raw disk plus one trailing sector; qemu probes it as raw too.
    return rawLike || (f === 'vhd' && result.details['vhdFooterOnly'] === true);
  }
  // Glance's gpt disk_format covers legacy MBR disks as well.
  if (diskFormat === 'gpt') return f === 'gpt' || f === 'mbr';
  // Bootable ISOs also match gpt/mbr; the inspector has already resolved those to iso.
  if (STRICT.has(diskFormat)) return f === diskFormat;
  // Formats without an inspector (ami, ari, aki, ploop ...): anything that is not a recognised image format.
  return rawLike || f === diskFormat;
}
