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

export async function startStore(config: StoreConfig, logger: Logger): Promise<RunningService> {
  const host = new ServiceHost({ name: 'store', config: config.server, logger });
  host.addService<store.EmbeddingStoreServiceServer>(store.EmbeddingStoreServiceService, {
    lookup: lookupHandler(config),
    batchLookup: batchLookupHandler(config),
    search: searchHandler(config),
    describeTables: describeTablesHandler(),
    loadVersion: loadVersionHandler(config),
    activateVersion: activateVersionHandler(config),
  });
  await host.start();
  return host.markServing();
}
