// [image_format] options of glance-api.conf that govern upload-time inspection.
import type { OptionReader } from '../config/options.js';
import type { InspectorOptions } from './types.js';
import { DEFAULT_VMDK_ALLOWED_TYPES } from './vmdk.js';

export interface ImageFormatPolicy {
  inspector: InspectorOptions;
  /** [image_format] require_image_format_match: Glance 2025.1 default true. */
  requireFormatMatch: boolean;
}

/** `imageFormat` is a reader over [image_format], e.g. `config.section('image_format')`. */
export function imageFormatPolicy(imageFormat: OptionReader): ImageFormatPolicy {
  return {
    inspector: {
      vmdkAllowedTypes: imageFormat.list('vmdk_allowed_types', DEFAULT_VMDK_ALLOWED_TYPES),
      // Glance master makes GPT/MBR checks fatal by default; operators relax them with this switch.
      gptSafetyNonFatal: imageFormat.bool('gpt_safety_checks_nonfatal', false),
    },
    requireFormatMatch: imageFormat.bool('require_image_format_match', true),
  };
}
