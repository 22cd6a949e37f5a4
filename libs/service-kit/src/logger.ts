// JSON logs (pino) to stdout. Every line logged inside a traced call carries its trace and span
// ids, so a log line leads to its trace and back.
import pino, { type Logger } from 'pino';
import { currentTraceIds } from './telemetry/telemetry';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Destination stream (default stdout); tests pass a buffer. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const { traceId, spanId } = currentTraceIds();
        return traceId === undefined ? {} : { trace_id: traceId, span_id: spanId };
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
