// Composition root of the retriever. Telemetry is started by the caller first.
import { retriever } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import type { RetrieverConfig } from './config';
import { retrieveHandler } from './handlers/retrieve';

export async function startRetriever(
  config: RetrieverConfig,
  logger: Logger,
): Promise<RunningService> {
  const host = new ServiceHost({ name: 'retriever', config: config.server, logger });
  host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
    retrieve: retrieveHandler(config),
  });
  await host.start();
  return host.markServing();
}
