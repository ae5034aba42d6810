export { FormatInspector, inspectBuffer } from './inspector.js';
export { checkDeclaredFormat, type FormatMatchOptions, type FormatRejection } from './match.js';
export { DEFAULT_VMDK_ALLOWED_TYPES } from './vmdk.js';
export type { Compression, DetectedFormat, InspectionResult, InspectorOptions, SafetyFailure } from './types.js';
export { imageFormatPolicy, type ImageFormatPolicy } from './config.js';
