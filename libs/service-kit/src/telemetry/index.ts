export { currentTraceIds, startTelemetry } from './telemetry';
export type { Telemetry, TelemetryOptions } from './telemetry';
export { JsonlSpanExporter, toJsonlSpanRecord } from './jsonl-span-exporter';
export type { JsonlSpanRecord } from './jsonl-span-exporter';
export { rpcServerDuration } from './instruments';
