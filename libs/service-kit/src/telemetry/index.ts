export { currentTraceIds, startTelemetry } from './telemetry';
export type { Telemetry, TelemetryOptions } from './telemetry';
export {
  JsonlSpanExporter,
  SERVICE_JSONL_BUFFERING,
  toJsonlSpanRecord,
} from './jsonl-span-exporter';
export type { JsonlBuffering, JsonlSpanRecord } from './jsonl-span-exporter';
export { rpcServerDuration } from './instruments';
