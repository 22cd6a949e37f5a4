// Where traces and metrics go, from the standard OTEL_* variables plus two of ours.
import { z } from 'zod';
import { host, optionalPath, optionalPort, parseEnv, type Env } from './env';

export interface TelemetrySettings {
  /** OTLP/HTTP collector base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans then go there. */
  otlpEndpoint?: string;
  /** Without a collector: spans appended to this JSONL file (EMBPRESS_SPANS_FILE). */
  spansFile?: string;
  /** Prometheus scrape port (EMBPRESS_METRICS_PORT, 0 = any free port). */
  prometheusPort?: number;
  /**
   * Interface the scrape endpoint listens on (EMBPRESS_METRICS_HOST, default 127.0.0.1); 0.0.0.0
   * in a pod, so that Prometheus can reach it on the pod IP.
   */
  prometheusHost: string;
}

export const DEFAULT_SPANS_FILE = 'var/traces/spans.jsonl';

const schema = z.object({
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      try {
        const url = new URL(raw.trim());
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
        return url.toString().replace(/\/$/, '');
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `expected an http(s) URL, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
    }),
  EMBPRESS_SPANS_FILE: optionalPath(),
  EMBPRESS_METRICS_PORT: optionalPort(),
  EMBPRESS_METRICS_HOST: host('127.0.0.1'),
});

export function parseTelemetrySettings(env: Env): TelemetrySettings {
  const v = parseEnv(schema, env);
  return {
    otlpEndpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
    spansFile:
      v.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
        ? (v.EMBPRESS_SPANS_FILE ?? DEFAULT_SPANS_FILE)
        : undefined,
    prometheusPort: v.EMBPRESS_METRICS_PORT,
    prometheusHost: v.EMBPRESS_METRICS_HOST,
  };
}
