// Attributes on the span of the current RPC (the server span the gRPC instrumentation opened):
// what an operator filters traces by (model, version, table, method, ids...).
import { trace, type AttributeValue } from '@opentelemetry/api';

export function annotateSpan(attributes: Record<string, AttributeValue | undefined>): void {
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) span.setAttribute(key, value);
}
