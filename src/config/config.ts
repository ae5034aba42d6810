// The one typed configuration object, built once at start from glance-api.conf
// (and friends), then environment variables, then command-line flags.
// Nothing else in imago reads process.env or parses config files.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createHash, getHashes } from 'node:crypto';
import { mergeIni, parseIni, type IniSections } from './ini.js';
import { ConfigError, OptionReader } from './options.js';

export { ConfigError, OptionReader };

export const DEFAULT_DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
export const DEFAULT_CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];

export interface Config {
  /** Every section as read, for the parts (stores) that read their own sections. */
  readonly sections: IniSections;
  /** Folder of the first config file: relative policy/schema/swift files are looked up here. */
  readonly configDir: string | undefined;
  /** imago's own folder for embedded defaults (SQLite file, file store, staging). */
  readonly dataDir: string;
  readonly server: {
    bindHost: string;
    bindPort: number;
    workers: number;
    publicEndpoint: string | undefined;
    maxRequestIdLength: number;
  };
  readonly api: {
    limitParamDefault: number;
    apiLimitMax: number;
    showImageDirectUrl: boolean;
    showMultipleLocations: boolean;
    imageSizeCap: number;
    userStorageQuota: number;
    imagePropertyQuota: number;
    imageTagQuota: number;
    imageMemberQuota: number;
    imageLocationQuota: number;
    hashingAlgorithm: string;
    diskFormats: string[];
    containerFormats: string[];
    enabledImportMethods: string[];
  };
  readonly database: { connection: string };
  readonly imports: {
    /** [image_import_opts] image_import_plugins */
    plugins: string[];
    /** [image_conversion] output_format */
    conversionFormat: string;
    /** [inject_metadata_properties] inject and ignore_user_roles */
    inject: Record<string, string>;
    injectIgnoreRoles: string[];
    /** [glance_download_properties] extra_properties: prefixes copied from the remote image */
    glanceDownloadProperties: string[];
    /** [task] task_time_to_live, hours a finished task stays visible */
    taskTimeToLiveHours: number;
    /** Seconds without a heartbeat after which an import lock is considered abandoned (imago). */
    lockTimeoutSeconds: number;
    /** Where staged data goes: an enabled backend id ([DEFAULT] imago_staging_store), else a local folder. */
    stagingStore: string | undefined;
    stagingDir: string;
    /** [DEFAULT] worker_self_reference_url, else public_endpoint (as Glance): recorded as os_glance_stage_host. */
    selfReferenceUrl: string | undefined;
    /** [DEFAULT] do_secure_hash: hash the data behind a location added with the 2.17 API. */
    doSecureHash: boolean;
    /** [DEFAULT] http_retries: attempts to read a location for hashing. */
    httpRetries: number;
  };
  readonly auth: { flavor: 'none' | 'keystone'; pasteFlavor: string | undefined };
  /** Glance's image cache ([DEFAULT] image_cache_*); off unless image_cache_dir is set. */
  readonly cache: {
    /** image_cache_dir: cached files live here, one per image, named by its id. */
    dir: string | undefined;
    /** image_cache_max_size: the in-process pruner keeps the cache at or below this many bytes. */
    maxSize: number;
    /** image_cache_stall_time: seconds before an untouched partial file is removed. */
    stallTimeSeconds: number;
    /** image_cache_driver as written (sqlite, centralized_db, xattr): all keep their records in imago's database. */
    driver: string;
    /** This node's key for its cache records: worker_self_reference_url, else the host name. */
    nodeReference: string;
  };
  /** [cors] (and deprecated [cors.*] sections), as oslo.middleware's CORS filter reads them; off without allowed_origin. */
  readonly cors: CorsOptions;
  /** Reader over [glance_store] (legacy single-store options and multistore defaults). */
  readonly glanceStore: OptionReader;
  /** Reader over any section, e.g. a store's own section. */
  section(name: string, fallback?: OptionReader): OptionReader;
}

export interface CorsRule {
  allowCredentials: boolean;
  exposeHeaders: string[];
  maxAge: number;
  allowMethods: string[];
  allowHeaders: string[];
}

export interface CorsOptions {
  /** Origin (or "*") -> its rule; empty when CORS is off. */
  origins: Map<string, CorsRule>;
}

export interface ConfigInputs {
  configFiles?: string[];
  configDir?: string;
  /** `section.key=value` pairs, highest priority. */
  set?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Environment variables that map onto options (the only place env is read). */
const ENV_OPTIONS: Record<string, string> = {
  IMAGO_BIND_HOST: 'DEFAULT.bind_host',
  IMAGO_BIND_PORT: 'DEFAULT.bind_port',
  IMAGO_WORKERS: 'DEFAULT.workers',
  IMAGO_DATA_DIR: 'DEFAULT.imago_data_dir',
  IMAGO_DATABASE_CONNECTION: 'database.connection',
  IMAGO_PUBLIC_ENDPOINT: 'DEFAULT.public_endpoint',
};

export function loadConfig(inputs: ConfigInputs = {}): Config {
  const env = inputs.env ?? {};
  const cwd = inputs.cwd ?? process.cwd();
  const files = [...(inputs.configFiles ?? [])];
  if (files.length === 0 && env.IMAGO_CONFIG_FILE) files.push(...env.IMAGO_CONFIG_FILE.split(':').filter(Boolean));
  const configDirArg = inputs.configDir ?? env.IMAGO_CONFIG_DIR;

  const sections: IniSections = new Map();
  for (const f of files) {
    const path = resolve(cwd, f);
    if (!existsSync(path)) throw new ConfigError(`config file not found: ${path}`);
    mergeIni(sections, parseIni(readFileSync(path, 'utf8'), path));
  }
  if (configDirArg) {
    const dir = resolve(cwd, configDirArg);
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.conf')).sort()) {
      mergeIni(sections, parseIni(readFileSync(join(dir, name), 'utf8'), join(dir, name)));
    }
  }
  const overrides: string[] = [];
  for (const [name, opt] of Object.entries(ENV_OPTIONS)) {
    const v = env[name];
    if (v !== undefined && v !== '') overrides.push(`${opt}=${v}`);
  }
  overrides.push(...(inputs.set ?? []));
  for (const o of overrides) {
    const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(o);
    if (!m) throw new ConfigError(`bad override "${o}": expected section.key=value`);
    const sec = sections.get(m[1]!) ?? new Map<string, string[]>();
    sec.set(m[2]!, [m[3]!]);
    sections.set(m[1]!, sec);
  }
  interpolate(sections);

  const configDir = files.length ? dirname(resolve(cwd, files[0]!)) : configDirArg ? resolve(cwd, configDirArg) : undefined;
  const d = new OptionReader(sections, 'DEFAULT');
  const dataDir = resolve(cwd, d.str('imago_data_dir', 'data'));
  const glanceStore = new OptionReader(sections, 'glance_store');
  const imageFormat = new OptionReader(sections, 'image_format');
  const paste = new OptionReader(sections, 'paste_deploy');

  const hashingAlgorithm = d.str('hashing_algorithm', 'sha512');
  if (!getHashes().includes(hashingAlgorithm)) {
    throw new ConfigError(`[DEFAULT] hashing_algorithm: "${hashingAlgorithm}" is not available`);
  }
  createHash(hashingAlgorithm); // fails early on algorithms that cannot stream

  const pasteFlavor = paste.str('flavor');
  const flavor = pasteFlavor && /keystone/.test(pasteFlavor) ? 'keystone' : 'none';

  const bindPort = d.int('bind_port', 9292, 0);
  if (bindPort > 65535) throw new ConfigError(`[DEFAULT] bind_port: ${bindPort} is not a port`);

  return {
    sections,
    configDir,
    dataDir,
    server: {
      bindHost: d.str('bind_host', '127.0.0.1'),
      bindPort,
      workers: d.int('workers', 1, 1),
      publicEndpoint: d.str('public_endpoint') || undefined,
      maxRequestIdLength: d.int('max_request_id_length', 64, 0),
    },
    api: {
      limitParamDefault: d.int('limit_param_default', 25, 1),
      apiLimitMax: d.int('api_limit_max', 1000, 1),
      showImageDirectUrl: d.bool('show_image_direct_url', false),
      showMultipleLocations: d.bool('show_multiple_locations', false),
      imageSizeCap: d.int('image_size_cap', 1099511627776, 1),
      userStorageQuota: d.size('user_storage_quota', 0),
      imagePropertyQuota: d.int('image_property_quota', 128),
      imageTagQuota: d.int('image_tag_quota', 128),
      imageMemberQuota: d.int('image_member_quota', 128),
      imageLocationQuota: d.int('image_location_quota', 10),
      hashingAlgorithm,
      diskFormats: imageFormat.list('disk_formats', DEFAULT_DISK_FORMATS),
      containerFormats: imageFormat.list('container_formats', DEFAULT_CONTAINER_FORMATS),
      enabledImportMethods: d.list('enabled_import_methods', ['glance-direct', 'web-download', 'copy-image']),
    },
    database: { connection: new OptionReader(sections, 'database').str('connection', `sqlite:///${join(dataDir, 'imago.sqlite')}`) },
    auth: { flavor, pasteFlavor },
    cache: cacheOptions(d, cwd),
    imports: {
      plugins: new OptionReader(sections, 'image_import_opts').list('image_import_plugins', []),
      conversionFormat: new OptionReader(sections, 'image_conversion').str('output_format', 'raw'),
      inject: new OptionReader(sections, 'inject_metadata_properties').dict('inject'),
      injectIgnoreRoles: new OptionReader(sections, 'inject_metadata_properties').list('ignore_user_roles', ['admin']),
      glanceDownloadProperties: new OptionReader(sections, 'glance_download_properties').list('extra_properties', [
        'hw_',
        'trait:',
        'os_distro',
        'os_secure_boot',
        'os_type',
      ]),
      taskTimeToLiveHours: new OptionReader(sections, 'task').int('task_time_to_live', 48, 0),
      lockTimeoutSeconds: d.int('imago_import_lock_timeout', 300, 10),
      stagingStore: d.str('imago_staging_store') || undefined,
      stagingDir: stagingDir(sections, dataDir),
      selfReferenceUrl: d.str('worker_self_reference_url') || d.str('public_endpoint') || undefined,
      doSecureHash: d.bool('do_secure_hash', true),
      httpRetries: d.int('http_retries', 3, 0),
    },
    cors: corsOptions(sections),
    glanceStore,
    section: (name, fallback) => new OptionReader(sections, name, fallback),
  };
}

/**
 * oslo.middleware's [cors] options with the defaults Glance sets
 * (glance/common/config.py set_cors_middleware_defaults). Each deprecated
 * [cors.NAME] section adds its origins with [cors] as defaults; the first
 * rule for an origin wins, as in oslo.
 */
function corsOptions(sections: IniSections): CorsOptions {
  const main = new OptionReader(sections, 'cors');
  const rule = (r: OptionReader): CorsRule => ({
    allowCredentials: r.bool('allow_credentials', true),
    exposeHeaders: r.list('expose_headers', ['X-Image-Meta-Checksum', 'X-Auth-Token', 'X-Subject-Token', 'X-Service-Token', 'X-OpenStack-Request-ID']),
    maxAge: r.int('max_age', 3600, 0),
    allowMethods: r.list('allow_methods', ['GET', 'PUT', 'POST', 'DELETE', 'PATCH']),
    allowHeaders: r.list('allow_headers', [
      'Content-MD5',
      'X-Image-Meta-Checksum',
      'X-Storage-Token',
      'Accept-Encoding',
      'X-Auth-Token',
      'X-Identity-Status',
      'X-Roles',
      'X-Service-Catalog',
      'X-User-Id',
      'X-Tenant-Id',
      'X-OpenStack-Request-ID',
    ]),
  });
  const origins = new Map<string, CorsRule>();
  const add = (r: OptionReader) => {
    const list = r.list('allowed_origin', []);
    if (list.length === 0) return;
    const cors = rule(r);
    for (const o of list) if (!origins.has(o)) origins.set(o, cors);
  };
  add(main);
  for (const name of sections.keys()) if (name.startsWith('cors.')) add(new OptionReader(sections, name, main));
  return { origins };
}

const CACHE_DRIVERS = ['sqlite', 'centralized_db', 'xattr'];

function cacheOptions(d: OptionReader, cwd: string): Config['cache'] {
  const dir = d.str('image_cache_dir');
  const driver = d.str('image_cache_driver', 'sqlite').toLowerCase();
  if (!CACHE_DRIVERS.includes(driver)) {
    throw new ConfigError(`[DEFAULT] image_cache_driver: "${driver}" is not one of ${CACHE_DRIVERS.join(', ')}`);
  }
  return {
    dir: dir ? resolve(cwd, dir) : undefined,
    maxSize: d.size('image_cache_max_size', 10 * 1024 ** 3),
    stallTimeSeconds: d.int('image_cache_stall_time', 86400, 0),
    driver,
    nodeReference: d.str('worker_self_reference_url') || hostname(),
  };
}

/** Glance's staging folder: [os_glance_staging_store] datadir, else node_staging_uri (file://), else ours. */
function stagingDir(sections: IniSections, dataDir: string): string {
  const reserved = new OptionReader(sections, 'os_glance_staging_store').str('filesystem_store_datadir');
  if (reserved) return resolve(reserved);
  const uri = new OptionReader(sections, 'DEFAULT').str('node_staging_uri');
  if (uri) {
    if (!uri.startsWith('file://')) throw new ConfigError(`[DEFAULT] node_staging_uri: only file:// is supported, got "${uri}"`);
    return resolve(uri.slice('file://'.length));
  }
  return join(dataDir, 'staging');
}

/** oslo.config's `$name` / `${name}` substitution from the same section or [DEFAULT]; `$$` is a literal `$`. */
function interpolate(sections: IniSections): void {
  const lookup = (section: string, name: string): string | undefined => {
    const own = sections.get(section)?.get(name);
    const v = own ?? sections.get('DEFAULT')?.get(name);
    return v?.[v.length - 1];
  };
  for (const [section, opts] of sections) {
    for (const [key, values] of opts) {
      opts.set(
        key,
        values.map((v) =>
          v.includes('$')
            ? v.replace(/\$\$|\$\{([A-Za-z0-9_.]+)\}|\$([A-Za-z0-9_]+)/g, (all, a?: string, b?: string) => {
                if (all === '$$') return '$';
                const name = (a ?? b)!;
                const dot = name.indexOf('.');
                const found = dot > 0 ? lookup(name.slice(0, dot), name.slice(dot + 1)) : lookup(section, name);
                if (found === undefined) throw new ConfigError(`[${section}] ${key}: undefined variable $${name}`);
                return found;
              })
            : v,
        ),
      );
    }
  }
}
