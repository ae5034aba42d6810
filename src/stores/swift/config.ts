// Configuration of the swift store as glance_store reads it: the store's own
// options, the account references of glance-swift.conf
// (swift_store_config_file) or the deprecated swift_store_user/key/auth_address,
// and the four location URL forms.

import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseIni } from '../../config/ini.js';
import { ConfigError, type OptionReader } from '../../config/options.js';
import { StoreError } from '../store.js';

const MiB = 1024 * 1024;

/** How to get a token and a storage URL for one Swift account. */
export interface SwiftCredentials {
  /** tempauth/swauth URL (v1) or Keystone's URL (v2/v3: /v2.0 or /v3 suffix optional). */
  authAddress: string;
  /** '1' is tempauth-style; '2' and '3' both authenticate with Keystone's v3 API (v2.0 is gone from Keystone). */
  authVersion: '1' | '2' | '3';
  /** v1: the X-Auth-User ("account:user"). Keystone: "project:user", or the user alone with projectName/projectId. */
  user: string;
  key: string;
  userDomainId?: string | undefined;
  userDomainName?: string | undefined;
  projectDomainId?: string | undefined;
  projectDomainName?: string | undefined;
  projectName?: string | undefined;
  projectId?: string | undefined;
}

export type EndpointType = 'publicURL' | 'internalURL' | 'adminURL';

export interface SwiftStoreOptions {
  id: string;
  description?: string | undefined;
  weight?: number;
  container: string;
  createContainerOnPut: boolean;
  /** Bytes; images of a known size below this are one object, the rest SLO segments. */
  largeObjectSize: number;
  /** Bytes per SLO segment. */
  largeObjectChunkSize: number;
  /** 0: one container; N (1..32): container_<first N hex digits of the image id>. */
  multipleContainersSeed: number;
  multiTenant: boolean;
  /** Projects given write access to every per-image container (multi-tenant). */
  adminTenants: string[];
  /** Extra GETs that resume a download broken off midway (Range from the byte reached). */
  retryGetCount: number;
  /** Seconds before expiry in which a token is renewed before the next request. */
  expireSoonInterval: number;
  /** Folder where each segment is written first, so a failed segment PUT can be sent again. */
  uploadBufferDir?: string | undefined;
  insecure: boolean;
  /** CA bundle (PEM) for https to Keystone and Swift. */
  cacert?: string | undefined;
  region?: string | undefined;
  /** Storage URL that replaces the one from the catalog or from v1 auth. */
  endpoint?: string | undefined;
  endpointType: EndpointType;
  serviceType: string;
  /** Reference used for new images (single tenant). */
  defaultReference: string;
  references: Map<string, SwiftCredentials>;
  /** Location metadata added to every location (plus {store: id} in multistore mode). */
  locationMetadata: Record<string, unknown>;
  log?: { warn(msg: string): void } | undefined;
  /** Milliseconds since the epoch; injectable for token-expiry tests. */
  now?: (() => number) | undefined;
  /**
   * Most segments in one SLO manifest (Swift's max_manifest_segments, radosgw's
   * rgw_max_slo_entries; both 1000 by default). Past it, segments are grouped in sub-manifests.
   */
  maxManifestSegments?: number | undefined;
  /** Idle time after which a request to Swift or Keystone is abandoned (default 60 s). */
  requestTimeoutMs?: number | undefined;
}

export function swiftStoreOptionsFrom(
  id: string,
  opts: OptionReader,
  env: { configDir: string | undefined; multistore: boolean; log?: { warn(msg: string): void } },
): SwiftStoreOptions {
  const where = `[${opts.section}]`;
  const seed = opts.int('swift_store_multiple_containers_seed', 0, 0);
  if (seed > 32) throw new ConfigError(`${where} swift_store_multiple_containers_seed must be between 0 and 32`);
  const endpointType = opts.str('swift_store_endpoint_type', 'publicURL');
  if (!['publicURL', 'internalURL', 'adminURL'].includes(endpointType)) {
    throw new ConfigError(`${where} swift_store_endpoint_type: "${endpointType}" is not one of publicURL, internalURL, adminURL`);
  }
  const multiTenant = opts.bool('swift_store_multi_tenant', false);
  const configFile = opts.str('swift_store_config_file') || undefined;
  if (multiTenant && configFile) {
    throw new ConfigError(
      `${where} swift_store_multi_tenant and swift_store_config_file are mutually exclusive (the multi-tenant store keeps images in the users' own accounts)`,
    );
  }
  const defaultReference = opts.str('default_swift_reference', 'ref1');
  const defaultAuthVersion = authVersionOf(opts.str('swift_store_auth_version', '2'), `${where} swift_store_auth_version`);
  let references: Map<string, SwiftCredentials>;
  if (configFile) {
    const path = findConfigFile(configFile, env.configDir);
    if (!path) throw new ConfigError(`${where} swift_store_config_file: ${configFile} not found`);
    references = parseSwiftReferences(readFileSync(path, 'utf8'), path, defaultAuthVersion, env.log);
  } else {
    references = legacyReferences(opts, defaultReference, defaultAuthVersion);
  }
  if (!multiTenant && !references.has(defaultReference)) {
    throw new ConfigError(
      configFile
        ? `${where} default_swift_reference "${defaultReference}" is not a valid section of ${configFile}`
        : `${where} the swift store needs swift_store_config_file with a [${defaultReference}] section (or swift_store_user, swift_store_key and swift_store_auth_address)`,
    );
  }
  const largeMb = opts.int('swift_store_large_object_size', 5120, 1);
  const chunkMb = opts.int('swift_store_large_object_chunk_size', 200, 1);
  const bufferOnUpload = opts.bool('swift_buffer_on_upload', false);
  const uploadBufferDir = opts.str('swift_upload_buffer_dir') || undefined;
  if (bufferOnUpload && !uploadBufferDir) {
    throw new ConfigError(`${where} swift_buffer_on_upload needs swift_upload_buffer_dir`);
  }
  if (env.log && opts.has('swift_store_ssl_compression')) {
    // Node's TLS never compresses (CRIME), so the option has nothing to switch.
    env.log.warn(`${where} swift_store_ssl_compression is ignored: TLS compression is never used`);
  }
  if (env.log && multiTenant && opts.bool('swift_store_use_trusts', true)) {
    env.log.warn(`${where} swift_store_use_trusts is not supported: the multi-tenant store uses the caller's token`);
  }
  return {
    id,
    description: opts.str('store_description'),
    weight: opts.int('weight', 0),
    container: opts.str('swift_store_container', 'glance'),
    createContainerOnPut: opts.bool('swift_store_create_container_on_put', false),
    largeObjectSize: largeMb * MiB,
    largeObjectChunkSize: chunkMb * MiB,
    multipleContainersSeed: seed,
    multiTenant,
    adminTenants: opts.list('swift_store_admin_tenants', []),
    retryGetCount: opts.int('swift_store_retry_get_count', 0, 0),
    expireSoonInterval: opts.int('swift_store_expire_soon_interval', 60, 0),
    uploadBufferDir: bufferOnUpload ? uploadBufferDir : undefined,
    insecure: opts.bool('swift_store_auth_insecure', false),
    cacert: opts.str('swift_store_cacert') || undefined,
    region: opts.str('swift_store_region') || undefined,
    endpoint: opts.str('swift_store_endpoint') || undefined,
    endpointType: endpointType as EndpointType,
    serviceType: opts.str('swift_store_service_type', 'object-store'),
    defaultReference,
    references,
    locationMetadata: env.multistore ? { store: id } : {},
    log: env.log,
  };
}

function authVersionOf(v: string, what: string): SwiftCredentials['authVersion'] {
  const s = v.trim().replace(/^v/i, '');
  if (s === '1' || s === '1.0') return '1';
  if (s === '2' || s === '2.0') return '2';
  if (s === '3') return '3';
  throw new ConfigError(`${what}: "${v}" is not 1, 2 or 3`);
}

/** oslo.config's find_file, reduced: absolute as is, else the config folder, then /etc/glance. */
function findConfigFile(name: string, configDir: string | undefined): string | undefined {
  if (isAbsolute(name)) return existsSync(name) ? name : undefined;
  for (const dir of [configDir, '/etc/glance'].filter((d): d is string => !!d)) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * glance-swift.conf: one section per account reference. Python's configparser hands every
 * key of [DEFAULT] to each section, and Glance skips (with an error in its log) a section
 * that lacks auth_address, user or key; both kept here.
 */
export function parseSwiftReferences(
  text: string,
  source: string,
  defaultAuthVersion: SwiftCredentials['authVersion'],
  log?: { warn(msg: string): void },
): Map<string, SwiftCredentials> {
  const sections = parseIni(text, source);
  const defaults = sections.get('DEFAULT') ?? new Map<string, string[]>();
  const refs = new Map<string, SwiftCredentials>();
  for (const [name, values] of sections) {
    if (name === 'DEFAULT') continue;
    const get = (k: string): string | undefined => {
      const v = values.get(k) ?? defaults.get(k);
      return v === undefined ? undefined : v[v.length - 1];
    };
    const authAddress = get('auth_address');
    const user = get('user');
    const key = get('key');
    if (!authAddress || !user || key === undefined) {
      log?.warn(`${source}: [${name}] needs auth_address, user and key; reference ignored`);
      continue;
    }
    const userDomainName = get('user_domain_name');
    const projectDomainName = get('project_domain_name');
    refs.set(name, {
      authAddress,
      authVersion: get('auth_version') ? authVersionOf(get('auth_version')!, `${source} [${name}] auth_version`) : defaultAuthVersion,
      user,
      key,
      userDomainId: get('user_domain_id') ?? (userDomainName ? undefined : 'default'),
      userDomainName,
      projectDomainId: get('project_domain_id') ?? (projectDomainName ? undefined : 'default'),
      projectDomainName,
      projectName: get('project_name'),
      projectId: get('project_id'),
    });
  }
  return refs;
}

/** The deprecated in-section credentials, known under default_swift_reference (as Glance does). */
function legacyReferences(opts: OptionReader, name: string, authVersion: SwiftCredentials['authVersion']): Map<string, SwiftCredentials> {
  const user = opts.str('swift_store_user');
  const key = opts.str('swift_store_key');
  const authAddress = opts.str('swift_store_auth_address');
  if (!user || !key || !authAddress) return new Map();
  return new Map([[name, { authAddress, authVersion, user, key, userDomainId: 'default', projectDomainId: 'default' }]]);
}

/** Keystone's user and project from a reference: Glance writes "project:user" in `user`. */
export function keystoneNames(c: SwiftCredentials): { user: string; project: string | undefined } {
  if (c.projectName || c.projectId) return { user: c.user, project: c.projectName };
  const i = c.user.indexOf(':');
  if (i < 0 || c.user.indexOf(':', i + 1) >= 0) {
    throw new StoreError('invalid', `Badly formed tenant:user '${c.user}' in the swift account reference`);
  }
  return { project: c.user.slice(0, i), user: c.user.slice(i + 1) };
}

export type SwiftScheme = 'swift' | 'swift+http' | 'swift+https' | 'swift+config';
export const SWIFT_SCHEMES: readonly SwiftScheme[] = ['swift+config', 'swift+https', 'swift+http', 'swift'];

/** A parsed location. Exactly one of `reference`, `credentials` or `storageUrl` tells whose account it is. */
export interface SwiftLocation {
  scheme: SwiftScheme;
  container: string;
  object: string;
  /** swift+config://<reference>/... */
  reference?: string;
  /** Legacy swift+http(s)://user:key@auth-address/.../container/object: credentials in the URL. */
  credentials?: { user: string; key: string; authAddress: string };
  /** Multi-tenant swift+http(s)://<storage URL without scheme>/container/object. */
  storageUrl?: string;
}

/** Parses the four forms Glance writes (and reads). */
export function parseSwiftLocation(url: string): SwiftLocation {
  const bad = (why: string): never => {
    throw new StoreError('bad_uri', `Badly formed Swift URI (${why})`);
  };
  const sep = url.indexOf('://');
  if (sep < 0 || url.indexOf('://', sep + 3) >= 0) {
    bad('use swift+http://user:key@auth/container/obj, not swift://user:key@http://auth/...');
  }
  const scheme = url.slice(0, sep).toLowerCase() as SwiftScheme;
  if (!SWIFT_SCHEMES.includes(scheme)) bad(`scheme ${scheme}`);
  let rest = url.slice(sep + 3);
  const q = rest.search(/[?#]/);
  if (q >= 0) rest = rest.slice(0, q);
  const parts = rest.replace(/\/+$/, '').split('/');
  if (parts.length < 3) bad('expected <host>/<container>/<object>');
  const object = parts.pop()!;
  const container = parts.pop()!;
  if (!object || !container) bad('empty container or object');
  if (scheme === 'swift+config') {
    if (parts.length !== 1) bad('expected swift+config://<reference>/<container>/<object>');
    return { scheme, container, object, reference: decodeURIComponent(parts[0]!) };
  }
  const httpScheme = scheme === 'swift+http' ? 'http' : 'https';
  const host = parts.join('/');
  // Credentials end at the last '@' before the host: keys may contain '@', host names may not.
  const at = host.lastIndexOf('@');
  if (at < 0) return { scheme, container, object, storageUrl: `${httpScheme}://${host}` };
  const creds = host.slice(0, at);
  const colon = creds.lastIndexOf(':');
  if (colon <= 0) bad('credentials must be user:key');
  return {
    scheme,
    container,
    object,
    credentials: {
      user: decodeURIComponent(creds.slice(0, colon)),
      key: decodeURIComponent(creds.slice(colon + 1)),
      authAddress: `${httpScheme}://${host.slice(at + 1)}`,
    },
  };
}

export function configLocation(reference: string, container: string, object: string): string {
  return `swift+config://${reference}/${container}/${object}`;
}

/** Multi-tenant form: the account's storage URL (no secret), then container and object. */
export function storageLocation(storageUrl: string, container: string, object: string): string {
  const u = storageUrl.replace(/\/+$/, '');
  const scheme = u.startsWith('http://') ? 'swift+http' : 'swift+https';
  return `${scheme}://${u.replace(/^https?:\/\//, '')}/${container}/${object}`;
}

/** Same address whatever the trailing slash or Keystone version suffix. */
export function sameAuthAddress(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .trim()
      .replace(/\/+$/, '')
      .replace(/\/(v2\.0|v3)$/, '')
      .toLowerCase();
  return norm(a) === norm(b);
}

/** Glance's swift_store_multiple_containers_seed: container_<first N characters of the id, dashes not counted>. */
export function containerFor(opts: Pick<SwiftStoreOptions, 'container' | 'multipleContainersSeed' | 'multiTenant'>, imageId: string): string {
  if (opts.multiTenant) return `${opts.container}_${imageId}`;
  const n = opts.multipleContainersSeed;
  if (n === 0) return opts.container;
  const id = imageId.toLowerCase();
  const dashes = (id.slice(0, n).match(/-/g) ?? []).length;
  return `${opts.container}_${id.slice(0, n + dashes)}`;
}
