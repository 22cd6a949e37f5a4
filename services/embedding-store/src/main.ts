// Composition root of the embedding store: config → logger → server → handlers → SERVING.
// Telemetry is started by the caller (the CLI) before this module is loaded.
import { store } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import type { StoreConfig } from './config';
import { batchLookupHandler } from './handlers/batch-lookup';
import { describeTablesHandler } from './handlers/describe-tables';
import { lookupHandler } from './handlers/lookup';
import { searchHandler } from './handlers/search';
import { activateVersionHandler, loadVersionHandler } from './handlers/versions';
import { ModelRegistryDir } from '@embpress/model-registry';
import { ModelVersions } from './domain/model-versions';
import { RegistryWatcher } from './domain/registry-watcher';
import { StoreMetrics } from './domain/store-metrics';
import {
  serializeBatchLookupResponse,
  serializeLookupResponse,
  serializeLookupStreamResponse,
} from './wire/response-serializer';
import {
  decodeBatchLookupRequest,
  decodeLookupRequest,
  decodeLookupStreamRequest,
  requestDeserializer,
} from './wire/request-decoder';
import { lookupStreamServer } from '@embpress/store-client';

/**
 * The generated service definition with the two hot messages coded by hand: responses serialized
 * with one copy of the rows instead of three (wire/response-serializer.ts), requests decoded with
 * the id limit and the 32-bit id range checked while decoding (wire/request-decoder.ts).
 */
function storeServiceDefinition(config: StoreConfig): typeof store.EmbeddingStoreServiceService {
  const generated = store.EmbeddingStoreServiceService;
  const max = config.maxIdsPerRequest;
  return {
    ...generated,
    lookup: {
      ...generated.lookup,
      requestDeserialize: requestDeserializer(decodeLookupRequest, max),
      responseSerialize: serializeLookupResponse,
    } as typeof generated.lookup,
    batchLookup: {
      ...generated.batchLookup,
      requestDeserialize: requestDeserializer(decodeBatchLookupRequest, max),
      responseSerialize: serializeBatchLookupResponse,
    } as typeof generated.batchLookup,
    lookupStream: {
      ...generated.lookupStream,
      requestDeserialize: requestDeserializer(decodeLookupStreamRequest, max),
      responseSerialize: serializeLookupStreamResponse,
    } as typeof generated.lookupStream,
  };
}

export async function startStore(config: StoreConfig, logger: Logger): Promise<RunningService> {
  const registryDir = new ModelRegistryDir(config.registryRoot);
  const versions = new ModelVersions(registryDir);
  const storeMetrics = new StoreMetrics(versions);
  // Serve exactly what was served before a restart: the persisted active versions.
  const { restored, failed } = versions.restore();
  for (const { model, version, fallback } of restored)
    if (fallback)
      logger.warn(
        { model, version },
        "active version refused; serving the pointer's previous version instead",
      );
    else logger.info({ model, version }, 'active version restored');
  for (const { model, version, error } of failed)
    logger.error({ model, version, err: error }, 'version could not be restored');
  const host = new ServiceHost({
    name: 'store',
    config: config.server,
    logger,
    flowControlWindowBytes: config.flowControlWindowBytes,
    maxReceiveBytes: config.maxReceiveBytes,
  });
  const batchLookup = batchLookupHandler(config, versions, storeMetrics);
  const search = searchHandler(config, versions);
  host.addService<store.EmbeddingStoreServiceServer>(storeServiceDefinition(config), {
    lookup: lookupHandler(config, versions, storeMetrics),
    batchLookup,
    lookupStream: lookupStreamServer(batchLookup, config.streamMaxInFlight, search),
    search,
    describeTables: describeTablesHandler(versions),
    loadVersion: loadVersionHandler(config, versions),
    activateVersion: activateVersionHandler(config, versions),
  });
  await host.start();
  if (config.adminToken === undefined)
    logger.warn(
      { host: config.server.host },
      config.server.host === '127.0.0.1' ||
        config.server.host === 'localhost' ||
        config.server.host === '::1'
        ? 'admin RPCs (LoadVersion, ActivateVersion) need no token: anyone on this machine can call them; set EMBPRESS_STORE_ADMIN_TOKEN'
        : 'admin RPCs (LoadVersion, ActivateVersion) need no token and the store listens beyond loopback: anyone who reaches it can swap versions; set EMBPRESS_STORE_ADMIN_TOKEN',
    );
  const running = host.markServing();
  if (!config.watch) return running;
  const watcher = new RegistryWatcher(registryDir, versions, logger, {
    intervalMs: config.watchIntervalMs,
  });
  watcher.start();
  return {
    ...running,
    stop: async () => {
      watcher.stop();
      await running.stop();
    },
  };
}
