// The LookupStream envelope as a server reads and writes it (docs/adr/0013): the store serves
// each message with its BatchLookup handler through service-kit's multiplexedHandler; test fakes
// of the store do the same with their own BatchLookup, so clients meet one protocol everywhere.
import type { store } from '@embpress/proto';
import {
  InvalidArgumentError,
  multiplexedHandler,
  type BidiHandler,
  type EmbpressError,
  type Envelope,
  type UnaryHandler,
} from '@embpress/service-kit';

/** A LookupStreamRequest as decoded (ts-proto's, or a hand decoder's with a `refusal`). */
export interface LookupStreamMessage<Lookup> {
  requestId: number;
  lookup?: Lookup | undefined;
  timeoutMs: number;
  traceparent: string;
  /** Set by a decoder that found the lookup invalid: it fails this message only. */
  refusal?: EmbpressError | undefined;
}

export function lookupStreamEnvelope<Lookup>(): Envelope<
  LookupStreamMessage<Lookup>,
  Lookup,
  store.LookupStreamResponse,
  store.BatchLookupResponse
> {
  return {
    service: 'embpress.store.v1.EmbeddingStoreService',
    method: 'LookupStream',
    requestId: (m) => m.requestId,
    payload: (m) => m.refusal ?? m.lookup ?? new InvalidArgumentError('lookup', 'is required'),
    timeoutMs: (m) => m.timeoutMs,
    traceparent: (m) => m.traceparent,
    response: (requestId, answer, lookup) => ({
      requestId,
      statusCode: answer.code,
      statusMessage: answer.details,
      lookup,
    }),
  };
}

/** LookupStream served by a BatchLookup handler: every message answered as BatchLookup would. */
export function lookupStreamServer<Lookup>(
  batchLookup: UnaryHandler<Lookup, store.BatchLookupResponse>,
  maxInFlightPerStream = 256,
): BidiHandler<LookupStreamMessage<Lookup>, store.LookupStreamResponse> {
  return multiplexedHandler(lookupStreamEnvelope<Lookup>(), { maxInFlightPerStream }, batchLookup);
}
