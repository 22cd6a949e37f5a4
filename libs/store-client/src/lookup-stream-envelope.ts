// The LookupStream envelope as a server reads and writes it (docs/adr/0013): the store serves
// each message with its BatchLookup handler, or its Search handler for a search message, through
// service-kit's multiplexedHandler; test fakes of the store do the same with their own handlers,
// so clients meet one protocol everywhere.
import type { store } from '@embpress/proto';
import {
  InvalidArgumentError,
  multiplexedHandler,
  UnimplementedError,
  type BidiHandler,
  type EmbpressError,
  type Envelope,
  type UnaryHandler,
} from '@embpress/service-kit';

/** A LookupStreamRequest as decoded (ts-proto's, or a hand decoder's with a `refusal`). */
export interface LookupStreamMessage<Lookup> {
  requestId: number;
  lookup?: Lookup | undefined;
  search?: store.SearchRequest | undefined;
  timeoutMs: number;
  traceparent: string;
  /** Set by a decoder that found the message invalid: it fails this message only. */
  refusal?: EmbpressError | undefined;
}

/** What one message asks: a lookup or a search. */
export type StreamCall<Lookup> =
  | { kind: 'lookup'; lookup: Lookup }
  | { kind: 'search'; search: store.SearchRequest };

/** Its answer, in the response field of its kind. */
export type StreamAnswer =
  | { lookup: store.BatchLookupResponse; search?: undefined }
  | { search: store.SearchResponse; lookup?: undefined };

export function lookupStreamEnvelope<Lookup>(): Envelope<
  LookupStreamMessage<Lookup>,
  StreamCall<Lookup>,
  store.LookupStreamResponse,
  StreamAnswer
> {
  return {
    service: 'embpress.store.v1.EmbeddingStoreService',
    method: 'LookupStream',
    requestId: (m) => m.requestId,
    payload: (m) => {
      if (m.refusal !== undefined) return m.refusal;
      if (m.search !== undefined) {
        if (m.lookup !== undefined)
          return new InvalidArgumentError(
            'search',
            'a message carries a lookup or a search, not both',
          );
        return { kind: 'search', search: m.search };
      }
      if (m.lookup !== undefined) return { kind: 'lookup', lookup: m.lookup };
      return new InvalidArgumentError('lookup', 'is required (or search)');
    },
    timeoutMs: (m) => m.timeoutMs,
    traceparent: (m) => m.traceparent,
    attributes: (call) => ({
      'embpress.stream_call': call.kind === 'search' ? 'Search' : 'BatchLookup',
    }),
    response: (requestId, answer, payload) => ({
      requestId,
      statusCode: answer.code,
      statusMessage: answer.details,
      lookup: payload?.lookup,
      search: payload?.search,
    }),
  };
}

/**
 * LookupStream served by a BatchLookup handler (and a Search handler, when given): every message
 * answered as the unary RPC of its kind would. Without `search`, a search message fails alone
 * with UNIMPLEMENTED.
 */
export function lookupStreamServer<Lookup>(
  batchLookup: UnaryHandler<Lookup, store.BatchLookupResponse>,
  maxInFlightPerStream = 256,
  search?: UnaryHandler<store.SearchRequest, store.SearchResponse>,
): BidiHandler<LookupStreamMessage<Lookup>, store.LookupStreamResponse> {
  const serve: UnaryHandler<StreamCall<Lookup>, StreamAnswer> = async (call, ctx) => {
    if (call.kind === 'lookup') return { lookup: await batchLookup(call.lookup, ctx) };
    if (search === undefined) throw new UnimplementedError('this LookupStream serves no Search');
    return { search: await search(call.search, ctx) };
  };
  return multiplexedHandler(lookupStreamEnvelope<Lookup>(), { maxInFlightPerStream }, serve);
}
