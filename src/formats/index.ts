// Streaming disk-image inspection for every ingest path (upload, stage, web-download, copy, location import).
//
//   const insp = new FormatInspector(imageFormatPolicy(config.section('image_format')).inspector);
//   for await (const chunk of stream) { insp.feed(chunk); ...hash, store... }
//   const result = insp.finish();
//   const rejection = checkDeclaredFormat(result, image.disk_format, image.container_format, { requireFormatMatch });
//   if (rejection) -> 415, abort the store write, image back to queued; else image.virtual_size = result.virtualSize.
//
// Behaviour follows oslo.utils' format_inspector (safety checks) and Glance 2025.1's upload rule, with these
// deliberate additions: descriptor-only VMDKs, VMDK parentFileNameHint/parentCID, non-SPARSE or multiple extents,
// differencing VHD/VHDX, qcow2 data-file header extensions and truncated headers are all refused; fixed VHDs are
// recognised from their trailing footer; GPT headers and entry arrays are CRC-checked.
export { FormatInspector, inspectBuffer } from './inspector.js';
export { checkDeclaredFormat, type FormatMatchOptions, type FormatRejection } from './match.js';
export { DEFAULT_VMDK_ALLOWED_TYPES } from './vmdk.js';
export type { Compression, DetectedFormat, InspectionResult, InspectorOptions, SafetyFailure } from './types.js';
export { imageFormatPolicy, type ImageFormatPolicy } from './config.js';
