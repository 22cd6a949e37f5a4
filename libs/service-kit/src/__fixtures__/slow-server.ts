// Fixture process for the graceful-shutdown test: a ServiceHost whose Retrieve takes
// SLOW_MS, stopped by stopOnSignals exactly as the real composition roots do.
import { retriever } from '@embpress/proto';
import { stopOnSignals } from '../lifecycle';
import { createLogger } from '../logger';
import { ServiceHost } from '../server';

const slowMs = Number(process.env.SLOW_MS ?? '1500');
const logger = createLogger({ service: 'slow-fixture', level: 'warn' });
const host = new ServiceHost({
  name: 'slow',
  logger,
  config: {
    host: '127.0.0.1',
    port: 0,
    tls: {},
    shutdownGraceMs: Number(process.env.GRACE_MS ?? '5000'),
    maxInFlight: 16,
  },
});
host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
  retrieve: async (request) => {
    await new Promise((resolve) => setTimeout(resolve, slowMs));
    return { corpus: request.corpus, version: 'v1', passages: [] };
  },
});
void host.start().then(() => {
  const running = host.markServing();
  stopOnSignals(() => running.stop(), logger);
  process.send?.({ type: 'ready', port: running.port });
});
