// Proposes a disk_format from a file's first bytes (and its last 512, where a
// fixed VHD keeps its only footer), as the server's inspector will check it:
// Glance refuses content that does not match disk_format
// ([image_format] require_image_format_match), so the proposal must come from
// the bytes, not from the file name. Pure: used by the page and by unit tests.

export type ProposedFormat = 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'iso' | 'raw';

/** Bytes to read from the start: the ISO 9660 volume descriptor sits at 32769. */
export const HEAD_BYTES = 32 * 1024 + 512;
/** Bytes to read from the end: a fixed VHD's footer. */
export const TAIL_BYTES = 512;

function ascii(b: Uint8Array, at: number, text: string): boolean {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

export function proposeDiskFormat(head: Uint8Array, tail: Uint8Array = new Uint8Array()): ProposedFormat {
  if (ascii(head, 0, 'QFI\xfb')) return 'qcow2';
  if (ascii(head, 0, 'vhdxfile')) return 'vhdx';
  if (ascii(head, 0, 'conectix') || ascii(tail, tail.length - 512, 'conectix')) return 'vhd';
  if (ascii(head, 0, 'KDMV') || ascii(head, 0, '# Disk DescriptorFile')) return 'vmdk';
  if (ascii(head, 32769, 'CD001')) return 'iso';
  return 'raw';
}
