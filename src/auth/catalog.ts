// A Keystone service catalog (the `catalog` of a v3 token) and the one lookup of
// an endpoint in it, for everything that calls another service: the caller's
// object-store (multi-tenant Swift), the Swift service account's object-store
// (Swift's Keystone auth), the image service of another region (glance-download).

export interface CatalogEndpoint {
  id?: string | undefined;
  /** public, internal or admin. */
  interface: string;
  /** Keystone v3 gives both (region is the older name); either may name the region. */
  region?: string | undefined;
  region_id?: string | undefined;
  url: string;
}

export interface CatalogService {
  id?: string | undefined;
  type: string;
  name?: string | undefined;
  endpoints: readonly CatalogEndpoint[];
}

export interface EndpointQuery {
  serviceType: string;
  /** public, internal or admin, or the v2 spelling (publicURL, ...) of glance_store's *_endpoint_type options. */
  endpointType: string;
  /** Unset: any region. */
  region?: string | undefined;
}

/**
 * The URL of the first endpoint of the catalog that matches (v3 entries; v2-style
 * entries, which carry `publicURL`/`internalURL`/`adminURL` keys instead of an
 * interface, are read too).
 */
export function endpointFromCatalog(catalog: readonly CatalogService[] | undefined, q: EndpointQuery): string | undefined {
  const iface = q.endpointType.replace(/URL$/, '');
  for (const svc of catalog ?? []) {
    if (svc.type !== q.serviceType) continue;
    for (const ep of svc.endpoints) {
      const v2 = ep as unknown as Record<string, string | undefined>; // X-Service-Catalog (v2 form)
      const url = ep.interface === undefined ? v2[`${iface}URL`] : ep.interface === iface ? ep.url : undefined;
      if (!url) continue;
      if (q.region && ep.region_id !== q.region && ep.region !== q.region) continue;
      return url;
    }
  }
  return undefined;
}

/** Every URL of a service type in the catalog, whatever the interface and region (to vet URLs a client gives). */
export function catalogUrls(catalog: readonly CatalogService[] | undefined, serviceType: string): string[] {
  return (catalog ?? [])
    .filter((s) => s.type === serviceType)
    .flatMap((s) => s.endpoints.map((e) => e.url ?? (e as unknown as Record<string, string>).publicURL).filter((u): u is string => !!u));
}
