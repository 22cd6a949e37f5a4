// BatchLookups and Searches over the store's LookupStream (docs/adr/0013): a few long-lived
// bidirectional streams per store address, each message tagged with a request id and matched to
// its answer.
// One unary grpc-js call costs ~360 µs of CPU (client + server) whatever its size; a message on
// an open stream a fraction of that, which is what lets the store beat a Redis MGET at batch 512.
//
// Failure model, so that callers above (the sharded client's replica retries) see what a unary
// call would have given them:
// - a message's own failure (unknown table, id out of range...) rejects that message only, with
//   the status and text BatchLookup gives;
// - a broken stream (store killed, connection reset) rejects its messages in flight with
//   UNAVAILABLE; the stream is reopened on the next call, after a jittered backoff when it broke
//   without ever answering, and calls during the backoff fail fast with UNAVAILABLE;
// - a stream the server ended (drain on shutdown) is reopened by the next call at once;
// - a store without LookupStream (UNIMPLEMENTED, an older build) switches this pool to unary
//   BatchLookup / Search for good, re-sending the messages in flight that way;
// - each message has its own deadline: DEADLINE_EXCEEDED when no answer came in time.
import { status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { store } from '@embpress/proto';
import { serviceError } from '@embpress/service-kit';

const tracer = trace.getTracer('embpress-store-client');
const SERVICE = 'embpress.store.v1.EmbeddingStoreService';

export interface StreamPoolOptions {
  /** Streams per store address (messages go to the one with the fewest in flight). */
  streams: number;
  /** Backoff before reopening a stream that failed: base, doubled per failure, capped. */
  reopenBaseMs?: number;
  reopenMaxMs?: number;
}

/** What one message asks, and the unary RPC that asks the same. */
export type StreamRequest =
  | { kind: 'lookup'; lookup: store.BatchLookupRequest }
  | { kind: 'search'; search: store.SearchRequest };

/** The unary calls a pool falls back to: one per kind of message. */
export interface UnaryCalls {
  batchLookup(
    request: store.BatchLookupRequest,
    deadline: number,
  ): Promise<store.BatchLookupResponse>;
  search(request: store.SearchRequest, deadline: number): Promise<store.SearchResponse>;
}

/** An answer of the message's kind (the field of LookupStreamResponse it came in). */
type StreamAnswer = store.BatchLookupResponse | store.SearchResponse;

function unaryAnswer(unary: UnaryCalls, request: StreamRequest, deadline: number) {
  return request.kind === 'lookup'
    ? unary.batchLookup(request.lookup, deadline)
    : unary.search(request.search, deadline);
}

interface Pending {
  request: StreamRequest;
  deadline: number;
  resolve: (response: StreamAnswer) => void;
  reject: (err: ServiceError) => void;
  timer: NodeJS.Timeout;
  span: Span;
}

/** One bidirectional stream and the messages in flight on it. */
class Channel {
  private stream:
    | ClientDuplexStream<store.LookupStreamRequest, store.LookupStreamResponse>
    | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failures = 0;
  private reopenAt = 0;
  /** Whether the current stream has answered anything (a stream that never did backs off). */
  private answered = false;

  constructor(
    private readonly pool: LookupStreamPool,
    private readonly open: () => ClientDuplexStream<
      store.LookupStreamRequest,
      store.LookupStreamResponse
    >,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  send(request: StreamRequest, deadline: number): Promise<StreamAnswer> {
    const now = Date.now();
    // As grpc-js does for a unary call: a deadline already past is not sent at all.
    if (deadline <= now)
      return Promise.reject(
        serviceError(
          status.DEADLINE_EXCEEDED,
          `${this.pool.address}: deadline exceeded before sending`,
        ),
      );
    if (this.stream === undefined && now < this.reopenAt)
      return Promise.reject(
        serviceError(
          status.UNAVAILABLE,
          `${this.pool.address}: lookup stream reopening in ${this.reopenAt - now} ms after ${this.failures} failure(s)`,
        ),
      );
    const stream = this.stream ?? this.start();
    const requestId = this.takeId();
    const span = tracer.startSpan(`grpc.${SERVICE}/LookupStream`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': SERVICE,
        'rpc.method': 'LookupStream',
        'embpress.request_id': requestId,
        'embpress.stream_call': request.kind === 'search' ? 'Search' : 'BatchLookup',
        'net.peer.name': this.pool.address,
      },
    });
    const carrier: { traceparent?: string } = {};
    propagation.inject(trace.setSpan(context.active(), span), carrier);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          if (!this.pending.delete(requestId)) return;
          finishSpan(span, status.DEADLINE_EXCEEDED, 'deadline exceeded');
          reject(serviceError(status.DEADLINE_EXCEEDED, `${this.pool.address}: deadline exceeded`));
        },
        Math.max(0, deadline - now),
      );
      this.pending.set(requestId, { request, deadline, resolve, reject, timer, span });
      stream.write({
        requestId,
        lookup: request.kind === 'lookup' ? request.lookup : undefined,
        search: request.kind === 'search' ? request.search : undefined,
        timeoutMs: Math.max(1, deadline - now),
        traceparent: carrier.traceparent ?? '',
      });
    });
  }

  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.failAll(status.CANCELLED, 'client closed');
  }

  /** The next id not in flight (ids wrap at 2^32; far fewer than that are ever in flight). */
  private takeId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  private start() {
    // The stream itself is not traced (it lives for hours): each message has its own span.
    const stream = context.with(suppressTracing(context.active()), () => this.open());
    this.stream = stream;
    this.answered = false;
    stream.on('data', (response: store.LookupStreamResponse) => this.answer(response));
    stream.on('error', (err: ServiceError) => this.broken(stream, err));
    stream.on('end', () => this.ended(stream));
    return stream;
  }

  private answer(response: store.LookupStreamResponse): void {
    this.answered = true;
    this.failures = 0;
    const entry = this.pending.get(response.requestId);
    if (entry === undefined) return; // its deadline passed: the caller has its answer already
    this.pending.delete(response.requestId);
    clearTimeout(entry.timer);
    finishSpan(entry.span, response.statusCode, response.statusMessage);
    const answer = entry.request.kind === 'lookup' ? response.lookup : response.search;
    if (response.statusCode === status.OK && answer !== undefined) entry.resolve(answer);
    else
      entry.reject(
        serviceError(
          response.statusCode === status.OK ? status.INTERNAL : response.statusCode,
          response.statusCode === status.OK
            ? `answer without a ${entry.request.kind}`
            : response.statusMessage,
        ),
      );
  }

  private broken(stream: unknown, err: ServiceError): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    if (err.code === status.UNIMPLEMENTED) {
      const waiting = [...this.pending.values()];
      this.pending.clear();
      this.pool.fallBackToUnary(waiting);
      return;
    }
    if (!this.answered) {
      this.failures += 1;
      this.reopenAt = Date.now() + this.pool.backoffMs(this.failures);
    }
    this.failAll(
      status.UNAVAILABLE,
      `${this.pool.address}: lookup stream broke (${status[err.code] ?? err.code}: ${err.details})`,
    );
  }

  private ended(stream: unknown): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    this.failAll(status.UNAVAILABLE, `${this.pool.address}: the store ended the lookup stream`);
  }

  private failAll(code: status, details: string): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const entry of waiting) {
      clearTimeout(entry.timer);
      finishSpan(entry.span, code, details);
      entry.reject(serviceError(code, details));
    }
  }
}

function finishSpan(span: Span, code: number, message: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}

/** The streams of one StoreClient; see the top of this file. */
export class LookupStreamPool {
  private readonly channels: Channel[];
  private unaryOnly = false;

  constructor(
    readonly address: string,
    open: () => ClientDuplexStream<store.LookupStreamRequest, store.LookupStreamResponse>,
    private readonly unary: UnaryCalls,
    private readonly options: StreamPoolOptions,
    private readonly random: () => number = Math.random,
  ) {
    this.channels = Array.from(
      { length: Math.max(1, options.streams) },
      () => new Channel(this, open),
    );
  }

  /** True once the store answered UNIMPLEMENTED: every call goes unary from then on. */
  get usesUnary(): boolean {
    return this.unaryOnly;
  }

  batchLookup(
    request: store.BatchLookupRequest,
    deadline: number,
  ): Promise<store.BatchLookupResponse> {
    return this.send(
      { kind: 'lookup', lookup: request },
      deadline,
    ) as Promise<store.BatchLookupResponse>;
  }

  search(request: store.SearchRequest, deadline: number): Promise<store.SearchResponse> {
    return this.send(
      { kind: 'search', search: request },
      deadline,
    ) as Promise<store.SearchResponse>;
  }

  private send(request: StreamRequest, deadline: number): Promise<StreamAnswer> {
    if (this.unaryOnly) return unaryAnswer(this.unary, request, deadline);
    let best = this.channels[0] as Channel;
    for (const channel of this.channels) if (channel.inFlight < best.inFlight) best = channel;
    return best.send(request, deadline);
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }

  /** Jittered exponential backoff ("full jitter") before reopening a failed stream. */
  backoffMs(failures: number): number {
    const base = this.options.reopenBaseMs ?? 50;
    const max = this.options.reopenMaxMs ?? 2000;
    return this.random() * Math.min(max, base * 2 ** (failures - 1));
  }

  fallBackToUnary(waiting: Pending[]): void {
    this.unaryOnly = true;
    for (const entry of waiting) {
      clearTimeout(entry.timer);
      entry.span.setAttribute('embpress.fallback', 'unary');
      entry.span.end();
      unaryAnswer(this.unary, entry.request, entry.deadline).then(entry.resolve, entry.reject);
    }
  }
}
