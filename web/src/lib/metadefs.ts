// Metadata definitions that apply to images (namespaces associated with
// OS::Glance::Image), read to build property forms.

import { json } from './api';

export interface MetadefProperty {
  title?: string;
  description?: string;
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  readonly?: boolean;
  items?: { type?: string; enum?: string[] };
}

export interface NamespaceSummary {
  namespace: string;
  display_name?: string;
  description?: string;
  resource_type_associations?: { name: string; prefix?: string }[];
}

export interface NamespaceDetail extends NamespaceSummary {
  properties?: Record<string, MetadefProperty>;
  objects?: { name: string; description?: string; properties?: Record<string, MetadefProperty> }[];
}

export const IMAGE_RESOURCE = 'OS::Glance::Image';

export async function imageNamespaces(): Promise<NamespaceSummary[]> {
  const out: NamespaceSummary[] = [];
  let url: string | undefined = `/v2/metadefs/namespaces?resource_types=${encodeURIComponent(IMAGE_RESOURCE)}&limit=100`;
  while (url) {
    const page: { namespaces: NamespaceSummary[]; next?: string } = await json(url);
    out.push(...page.namespaces);
    url = page.next;
  }
  return out;
}

/** The namespace's properties under their image names (prefix applied), objects' properties included. */
export async function imageProperties(ns: NamespaceSummary): Promise<Record<string, MetadefProperty>> {
  const detail = await json<NamespaceDetail>(`/v2/metadefs/namespaces/${encodeURIComponent(ns.namespace)}?resource_type=${encodeURIComponent(IMAGE_RESOURCE)}`);
  const prefix = ns.resource_type_associations?.find((a) => a.name === IMAGE_RESOURCE)?.prefix ?? '';
  const props: Record<string, MetadefProperty> = { ...(detail.properties ?? {}) };
  for (const o of detail.objects ?? []) {
    for (const [name, p] of Object.entries(o.properties ?? {})) {
      const full = prefix && !name.startsWith(prefix) ? `${prefix}${name}` : name;
      props[full] ??= { ...p, title: p.title ?? `${o.name}: ${name}` };
    }
  }
  return props;
}
