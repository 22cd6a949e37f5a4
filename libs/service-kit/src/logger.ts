// Logs (pino). JSON lines when stdout is piped, in a container or a pod, the form collectors
// parse; one human-readable, colored line per event on a terminal (pino-pretty, ADR 0011).
// Every line logged inside a traced call carries its trace and span ids, so a log line leads to
// its trace and back. This module loads no gRPC and no telemetry SDK (only @opentelemetry/api):
// `serve all`'s parent process logs through it too.
import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { z } from 'zod';
import { logFormat, parseEnv, type Env, type LogFormat } from './config/env';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level?: string;
  /**
   * `json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise; see `resolveLogFormat`).
   * Default: `EMBPRESS_LOG_FORMAT`, else `auto`.
   */
  format?: LogFormat;
  /** Destination stream (default stdout); tests pass a buffer. JSON unless `format: 'pretty'`. */
  destination?: pino.DestinationStream;
}

/**
 * Which form `auto` takes: pretty when stdout is a terminal outside Kubernetes, JSON otherwise
 * (piped, redirected, collected by a container runtime; the image also sets
 * `EMBPRESS_LOG_FORMAT=json` for `docker run -t`).
 */
export function resolveLogFormat(
  format: LogFormat,
  stdoutIsTTY: boolean,
  env: Env = process.env,
): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return stdoutIsTTY && env.KUBERNETES_SERVICE_HOST === undefined ? 'pretty' : 'json';
}

/** The pretty form: `12:00:01.234 INFO  [store] message {"field":1}`, colored unless NO_COLOR. */
function prettyStream(destination: pino.DestinationStream | undefined, env: Env) {
  return pretty({
    destination: destination ?? 1,
    sync: true, // a terminal: lines appear in order and none is lost on process.exit
    colorize: destination === undefined && env.NO_COLOR === undefined,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    messageFormat: (log, messageKey) => `[${String(log.service)}] ${String(log[messageKey])}`,
  });
}

export function createLogger(options: LoggerOptions): Logger {
  const requested =
    options.format ??
    parseEnv(z.object({ LOG_FORMAT: logFormat() }), process.env, 'EMBPRESS').LOG_FORMAT;
  const format = resolveLogFormat(
    requested,
    options.destination === undefined && process.stdout.isTTY === true,
  );
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const spanContext = trace.getActiveSpan()?.spanContext();
        return spanContext === undefined || !isSpanContextValid(spanContext)
          ? {}
          : { trace_id: spanContext.traceId, span_id: spanContext.spanId };
      },
    },
    format === 'pretty'
      ? prettyStream(options.destination, process.env)
      : (options.destination ?? pino.destination({ dest: 1, sync: false })),
  );
}

const shared = new Map<string, Logger>();

/** One logger per service name for a whole process (e.g. `serve all`'s own lines). */
export function processLogger(service: string): Logger {
  let logger = shared.get(service);
  if (logger === undefined) {
    logger = createLogger({ service });
    shared.set(service, logger);
  }
  return logger;
}
