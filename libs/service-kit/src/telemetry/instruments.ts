// The metric instruments embpress records, defined once. They bind to the global MeterProvider,
// so they are no-ops until startTelemetry has set one.
import { metrics, type Histogram } from '@opentelemetry/api';

const METER = '@embpress/service-kit';

/** `rpc.server.duration` (ms), attributes rpc.system, rpc.service, rpc.method, rpc.grpc.status_code. */
export function rpcServerDuration(): Histogram {
  return metrics.getMeter(METER).createHistogram('rpc.server.duration', {
    unit: 'ms',
    description: 'Duration of inbound RPCs, measured by the server handler.',
  });
}
