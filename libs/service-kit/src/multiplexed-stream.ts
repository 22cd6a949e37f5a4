// Unary calls multiplexed over one long-lived bidirectional stream (docs/adr/0013; the store's
// LookupStream). Each message is served by the same handler as the unary RPC (same validation,
// same metrics, same span attributes) and answered with its request id and its own status: a
// failed message fails alone, never the stream. What grpc-js gives a unary call per call (a
// deadline, a span, admission against the byte bound) each message gets here, from its envelope
// and the host (StreamContext). The envelope's field names are the caller's (`Envelope`).
import { status } from '@grpc/grpc-js';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
} from '@opentelemetry/api';
import type { EmbpressError } from './errors';
import type { BidiHandler, StreamStatus, UnaryHandler } from './server';

const tracer = trace.getTracer('embpress-service-kit');

/** How to read a request envelope and write a response one. */
export interface Envelope<In, Req, Out, Res> {
  /** `/package.Service/Method` of the unary RPC the messages stand for (span names, metrics). */
  service: string;
  method: string;
  requestId(message: In): number;
  /** The unary request, or why the message carries none that can be served. */
  payload(message: In): Req | EmbpressError;
  /** Milliseconds from arrival the message may take (0: no deadline of its own). */
  timeoutMs(message: In): number;
  /** W3C traceparent of the client's span for this message ('' untraced). */
  traceparent(message: In): string;
  /** Span attributes of one message's request, beside those every message gets. */
  attributes?(request: Req): Attributes;
  response(requestId: number, answer: StreamStatus, payload: Res | undefined): Out;
}

export interface MultiplexLimits {
  /** Messages of one stream received and not yet flushed to the transport (backpressure). */
  maxInFlightPerStream: number;
}

function parentOf(traceparent: string): Context {
  if (traceparent === '') return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

export function multiplexedHandler<In, Req, Out, Res>(
  envelope: Envelope<In, Req, Out, Res>,
  limits: MultiplexLimits,
  unary: UnaryHandler<Req, Res>,
): BidiHandler<In, Out> {
  const spanName = `${envelope.service}/${envelope.method}`;
  return (call, stream) => {
    let inFlight = 0;
    let draining = false;
    let halfClosed = false;
    let closed = false;
    const closeWhenAnswered = () => {
      if (!closed && (draining || halfClosed) && inFlight === 0) {
        closed = true;
        stream.close();
      }
    };
    const respond = (requestId: number, answer: StreamStatus, payload?: Res) => {
      if (closed || call.cancelled) return;
      call.write(envelope.response(requestId, answer, payload), () => {
        inFlight -= 1;
        closeWhenAnswered();
      });
    };

    call.on('data', (data: unknown) => {
      const { message, refusal, bytes } = stream.unwrap(data);
      const requestId = message === undefined ? 0 : envelope.requestId(message);
      inFlight += 1;
      if (message === undefined) {
        respond(requestId, {
          code: refusal?.code ?? status.INVALID_ARGUMENT,
          details: refusal?.message ?? 'request: not a message of this stream',
        });
        return;
      }
      if (draining) {
        respond(requestId, { code: status.UNAVAILABLE, details: 'server is shutting down' });
        return;
      }
      if (inFlight > limits.maxInFlightPerStream) {
        respond(requestId, {
          code: status.RESOURCE_EXHAUSTED,
          details: `${stream.path}: ${inFlight - 1} messages of this stream in flight (limit ${limits.maxInFlightPerStream}); wait for their answers`,
        });
        return;
      }
      const payload = envelope.payload(message);
      if (payload instanceof Error) {
        respond(requestId, { code: payload.code, details: payload.message });
        return;
      }
      const timeoutMs = envelope.timeoutMs(message);
      const started = stream.startMessage(
        bytes,
        timeoutMs > 0 ? Date.now() + timeoutMs : undefined,
      );
      if (!('ctx' in started)) {
        respond(requestId, started);
        return;
      }
      const parent = parentOf(envelope.traceparent(message));
      const span = tracer.startSpan(
        spanName,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'rpc.system': 'grpc',
            'rpc.service': envelope.service,
            'rpc.method': envelope.method,
            'embpress.request_id': requestId,
            ...envelope.attributes?.(payload),
          },
        },
        parent,
      );
      context
        .with(trace.setSpan(parent, span), () => unary(payload, started.ctx))
        .then(
          (response) => {
            started.done(null);
            span.end();
            respond(requestId, { code: status.OK, details: '' }, response);
          },
          (err: unknown) => {
            const answer = started.done(err);
            span.setAttribute('rpc.grpc.status_code', answer.code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: answer.details });
            span.end();
            respond(requestId, answer);
          },
        );
    });
    call.on('end', () => {
      halfClosed = true;
      closeWhenAnswered();
    });
    call.on('error', () => undefined); // a reset stream: the host's 'cancelled' ends the call
    stream.onDrain(() => {
      draining = true;
      closeWhenAnswered();
    });
  };
}
