// Wires configuration, database, stores, policy and routes into one server.

import { resolve as resolvePath } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import { migrate, openDatabase, type Db } from './db/connect.js';
import { StoreRegistry } from './stores/registry.js';
import { buildSchemas } from './images/schema.js';
import { ImageRepository } from './images/repository.js';
import { MemberRepository, MemberService } from './images/members.js';
import { ImageAuthorizer } from './images/authz.js';
import { createGlanceEnforcer, PropertyProtections, readPolicyConfig } from './policy/index.js';
import { ImageService } from './images/service.js';
import { ImageData } from './images/data.js';
import { LocationRules } from './images/locations.js';
import { authenticatorFromConfig, KeystoneAuthenticator } from './auth/authenticator.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { KeystoneSessions } from './dashboard/session.js';
import { buildApp } from './http/app.js';
import { imageRoutes } from './api/images.js';
import { imageDataRoutes } from './api/imageData.js';
import { memberRoutes } from './api/members.js';
import { schemaRoutes } from './api/schemas.js';
import { discoveryRoutes } from './api/discovery.js';
import { importRoutes } from './api/imports.js';
import { metadefRoutes } from './api/metadefs.js';
import { cacheRoutes } from './api/cache.js';
import { ImageCache } from './cache/imageCache.js';
import { CacheRepository } from './cache/repository.js';
import { MetadefRepository } from './metadefs/repository.js';
import { MetadefService } from './metadefs/service.js';
import { Importer } from './imports/importer.js';
import { StagingArea } from './imports/staging.js';
import { StageHost } from './imports/stageHost.js';
import { pluginsFromConfig } from './imports/plugins.js';
import { TaskRepository } from './tasks/tasks.js';
import { importFilteringFrom, UrlPolicy } from './net/urlPolicy.js';
import type { Services } from './api/services.js';
import { closeHashPool } from './data/hashing.js';
import { imageFormatPolicy } from './formats/index.js';

export interface Server {
  app: FastifyInstance;
  db: Db;
  stores: StoreRegistry;
  close(): Promise<void>;
}

export async function createServer(config: Config, opts: { migrate?: boolean; logger?: boolean; janitor?: boolean } = {}): Promise<Server> {
  const db = openDatabase(config.database.connection);
  if (opts.migrate !== false) await migrate(db);
  const stores = await StoreRegistry.fromConfig(config);
  const schemas = buildSchemas(config);
  const policyConfig = readPolicyConfig(config.sections);
  const enforcer = createGlanceEnforcer(policyConfig, config.configDir, (m) => console.warn(`imago: policy: ${m}`));
  const protections = policyConfig.propertyProtectionFile
    ? PropertyProtections.load(resolvePath(config.configDir ?? '.', policyConfig.propertyProtectionFile), policyConfig.propertyProtectionRuleFormat, enforcer)
    : undefined;
  const authz = new ImageAuthorizer(enforcer, protections);
  const memberRepo = new MemberRepository(db);
  const formatPolicy = imageFormatPolicy(config.section('image_format'));
  const locations = new LocationRules(config, stores);
  const repo = new ImageRepository(db);
  const staging = await StagingArea.fromConfig(config, stores);
  const cacheDir = config.cache.dir;
  const cache = cacheDir
    ? new ImageCache({
        options: { ...config.cache, dir: cacheDir },
        repo: new CacheRepository(db, config.cache.nodeReference),
        images: repo,
        stores,
        sortLocations: (locs) => images.sortLocations(locs),
      })
    : undefined;
  await cache?.init();
  const images: ImageService = new ImageService({
    config,
    repo,
    members: memberRepo,
    authz,
    schemas,
    stores,
    locations,
    // Staged data and the cached copy of a deleted image go with it, as in Glance.
    afterDelete: async (img) => {
      await staging.remove(img.properties.os_glance_staged_url);
      await cache?.purge(img.id);
    },
  });
  const imageData = new ImageData({ config, repo, images, authz, stores, formatPolicy, cache });
  const members = new MemberService(memberRepo, authz, config.api.imageMemberQuota);
  const tasks = new TaskRepository(db, config.imports.taskTimeToLiveHours);
  const stageHost = new StageHost(config.imports.selfReferenceUrl);
  const importer = new Importer({
    config,
    repo,
    images,
    tasks,
    stores,
    staging,
    authz,
    formatPolicy,
    plugins: pluginsFromConfig(config),
    urlPolicy: new UrlPolicy(importFilteringFrom(config)),
    locations,
    stageHost,
  });
  if (opts.janitor !== false) {
    importer.startJanitor();
    cache?.start();
  }
  const metadefs = new MetadefService(new MetadefRepository(db), authz, config.api);
  const services: Services = { config, images, imageData, members, schemas, stores, authz, importer, tasks, metadefs, cache, stageHost };
  const auth = authenticatorFromConfig(config, (ctx) => authz.isAdmin(ctx));
  // The dashboard signs people in at the Keystone that clients are sent to (WWW-Authenticate).
  const keystone = auth instanceof KeystoneAuthenticator ? auth.keystone.options : undefined;
  const sessions = new KeystoneSessions({ keystoneUrl: keystone?.wwwAuthenticateUri, timeoutMs: keystone?.timeoutMs ?? 10_000 });
  const app = buildApp({
    config,
    auth,
    features: { multistore: stores.multistore, cache: cache !== undefined, locationsApi: true },
    logger: opts.logger,
    routes: (v2) => {
      imageRoutes(v2, services);
      imageDataRoutes(v2, services);
      memberRoutes(v2, services);
      schemaRoutes(v2, services);
      discoveryRoutes(v2, services);
      importRoutes(v2, services);
      metadefRoutes(v2, services);
      cacheRoutes(v2, services);
    },
    dashboard: (web) => dashboardRoutes(web, { sessions, auth: keystone ? 'keystone' : 'none' }),
  });
  return {
    app,
    db,
    stores,
    async close() {
      await importer.close();
      await app.close();
      await cache?.close();
      await stores.close();
      await db.destroy();
      await closeHashPool();
    },
  };
}
