// =================================================================================================
//  CALL startTelemetry() BEFORE ANYTHING REQUIRES @grpc/grpc-js.
//
//  gRPC spans come from GrpcInstrumentation, which patches @grpc/grpc-js *while it is being
//  required* (a require-in-the-middle hook). A process that loaded grpc-js first - directly, or
//  through a generated client, @grpc/reflection, a shared lib... - gets no gRPC spans and no
//  trace-context propagation, silently. Put the call in a module that is the entry point's very
//  first import (import order is require order in CommonJS), or run it before a dynamic require.
//  This file therefore never imports grpc-js (nor @opentelemetry/sdk-node, whose OTLP/gRPC
//  exporter loads it).
// =================================================================================================
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { metrics, trace, isSpanContextValid } from '@opentelemetry/api';
import type { Meter, Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { JsonlSpanExporter, SERVICE_JSONL_BUFFERING } from './jsonl-span-exporter';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** OTLP/HTTP base URL (e.g. http://127.0.0.1:4318): traces to /v1/traces, metrics to /v1/metrics. */
  otlpEndpoint?: string;
  /** JSONL span file, used when `otlpEndpoint` is not set. With neither, spans stay in-process. */
  spansFile?: string;
  /** Serve Prometheus text on http://HOST:PORT/metrics; 0 picks a free port. */
  prometheusPort?: number;
  /** Interface of the Prometheus endpoint; default 127.0.0.1 (0.0.0.0 in a pod). */
  prometheusHost?: string;
  /** OTLP metrics push interval; the SDK default is 60 s. */
  metricsExportIntervalMs?: number;
}

export interface Telemetry {
  tracer: Tracer;
  meter: Meter;
  /** The bound Prometheus port once listening; undefined when `prometheusPort` was not set. */
  prometheusPort(): Promise<number | undefined>;
  /** Exports everything buffered (spans on disk / sent, metrics pushed). */
  flush(): Promise<void>;
  /** flush + shut down the providers and the metrics endpoint. Idempotent. */
  shutdown(): Promise<void>;
}

// The OTel API keeps one tracer/meter provider, propagator and context manager per process; a
// second registration is refused by the API with only a diag message, which would leave the
// second caller's exporters silently unused. Fail loudly instead.
let started = false;

export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (started) {
    throw new Error(
      'startTelemetry() was already called in this process: OpenTelemetry providers are ' +
        'process-wide globals. Call it once at startup and share the returned Telemetry.',
    );
  }
  started = true;
  warnIfGrpcAlreadyLoaded();

  const resource = defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
  );
  const otlpBase = options.otlpEndpoint?.replace(/\/+$/, '');

  // --- traces -----------------------------------------------------------------------------------
  const spanProcessors: SpanProcessor[] = [];
  if (otlpBase) {
    spanProcessors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpBase}/v1/traces` })),
    );
  } else if (options.spansFile) {
    // Simple (not batch: the SDK's batch processor drops spans beyond its queue) with a buffering
    // exporter: every span is kept, written in one system call per ~200 ms instead of one per RPC,
    // and flushed on forceFlush, shutdown and process exit.
    spanProcessors.push(
      new SimpleSpanProcessor(new JsonlSpanExporter(options.spansFile, SERVICE_JSONL_BUFFERING)),
    );
  }
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors });
  // Defaults: AsyncLocalStorage context manager, W3C trace-context + baggage propagators.
  tracerProvider.register();

  // --- metrics ----------------------------------------------------------------------------------
  const readers: IMetricReader[] = [];
  if (otlpBase) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${otlpBase}/v1/metrics` }),
        ...(options.metricsExportIntervalMs !== undefined
          ? { exportIntervalMillis: options.metricsExportIntervalMs }
          : {}),
      }),
    );
  }
  let prometheus: { server: Server; port: Promise<number> } | undefined;
  if (options.prometheusPort !== undefined) {
    // The exporter cannot bind port 0 (`config.port || 9464` turns 0 into 9464) and hides its
    // server, so the bound port is unknowable. Keep its serializer (getMetricsRequestHandler)
    // and serve it from our own loopback server instead.
    const exporter = new PrometheusExporter({ preventServerStart: true });
    readers.push(exporter);
    prometheus = servePrometheus(exporter, options.prometheusPort, options.prometheusHost);
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);

  // After the providers are global, so the instrumentation's tracer is the SDK one.
  // Long-lived multiplexed streams (the store's LookupStream, docs/adr/0013) get one span per
  // message from multiplexed-stream.ts; a span for the stream itself would last for hours.
  registerInstrumentations({
    instrumentations: [new GrpcInstrumentation({ ignoreGrpcMethods: ['LookupStream'] })],
  });

  const meter = meterProvider.getMeter(options.serviceName, options.serviceVersion);

  const flush = async (): Promise<void> => {
    await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
  };
  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (shutdownPromise ??= (async () => {
      // Provider shutdown flushes first; allSettled so one failing exporter cannot keep the
      // other provider (or the HTTP server) open.
      const results = await Promise.allSettled([
        tracerProvider.shutdown(),
        meterProvider.shutdown(),
        prometheus && closePrometheus(prometheus),
      ]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })());

  return {
    tracer: tracerProvider.getTracer(options.serviceName, options.serviceVersion),
    meter,
    prometheusPort: async () => prometheus?.port,
    flush,
    shutdown,
  };
}

/** Trace/span id of the active span, for log lines; empty when there is no valid active span. */
export function currentTraceIds(): { traceId?: string; spanId?: string } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}

function servePrometheus(
  exporter: PrometheusExporter,
  port: number,
  host = '127.0.0.1',
): { server: Server; port: Promise<number> } {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === '/metrics') {
      exporter.getMetricsRequestHandler(req, res);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  // Like the exporter's own server: a scrape endpoint alone must not keep the process alive.
  server.unref();
  const bound = new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
  // Nobody may ever ask for the port: report a failed bind instead of an unhandled rejection.
  bound.catch((err: Error) =>
    process.emitWarning(`Prometheus endpoint not listening on ${host}:${port}: ${err.message}`),
  );
  return { server, port: bound };
}

async function closePrometheus({ server, port }: { server: Server; port: Promise<number> }) {
  // Let a pending listen() settle first, or the server would open after we "closed" it.
  await port.catch(() => undefined);
  if (!server.listening) return;
  await new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}

function warnIfGrpcAlreadyLoaded(): void {
  // `require.cache` is absent under ESM; then there is nothing cheap to check.
  if (typeof require === 'undefined') return;
  if (Object.keys(require.cache).some((id) => /[\\/]@grpc[\\/]grpc-js[\\/]/.test(id))) {
    process.emitWarning(
      '@grpc/grpc-js was loaded before startTelemetry(): gRPC calls will not be traced.',
    );
  }
}
