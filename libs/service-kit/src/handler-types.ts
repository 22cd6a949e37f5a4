// The handler contracts of ServiceHost (server.ts): what a service writes, `(request, ctx) =>
// response` for unary calls, a sender for server streams, and the stream context of a
// bidirectional call.
import type {
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerDuplexStream,
  status,
} from '@grpc/grpc-js';
import type { EmbpressError } from './errors';
import type { Logger } from './logger';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Absolute deadline in ms since epoch, if the caller set one. */
  readonly deadline: number | undefined;
  readonly metadata: Metadata;
  /** Aborted when the caller cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** Logger of this call (carries trace ids). */
  readonly logger: Logger;
  /**
   * Counts `bytes` the call is about to hold (e.g. its response) against the process's
   * in-flight byte bound until the call ends; over the bound it throws RESOURCE_EXHAUSTED.
   */
  reserveBytes(bytes: number): void;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  ctx: CallContext,
  send: (response: Res) => void,
) => Promise<void>;

/**
 * One message of a bidirectional stream as the host hands it over: the decoded message, or why
 * its bytes are not one (the stream goes on: a bad message fails that message only).
 */
export interface StreamMessage<Req> {
  message: Req | undefined;
  refusal: EmbpressError | undefined;
  /** Size on the wire, counted against the in-flight byte bound while the message is served. */
  bytes: number;
}

/** What a bidirectional handler gets from the host besides the grpc-js duplex stream. */
export interface StreamContext<Req> {
  readonly path: string;
  readonly logger: Logger;
  /** The stream's own messages (the host's deserializer wraps each). */
  unwrap(data: unknown): StreamMessage<Req>;
  /**
   * Starts serving one message: a CallContext whose reserveBytes counts against the host's
   * in-flight byte bound (the message's own bytes are counted now), and `done` to call once it is
   * answered (records its duration, releases its bytes, maps an error to its status). Returns a
   * refusal instead when the message's bytes do not fit.
   */
  startMessage(
    bytes: number,
    deadline: number | undefined,
  ): { ctx: CallContext; done: (err: unknown) => StreamStatus } | StreamStatus;
  /** Called once when the server starts draining: answer what is in flight, then `close()`. */
  onDrain(listener: () => void): void;
  /** Ends the stream: OK, or the error's status. Idempotent. */
  close(err?: unknown): void;
}

/** A per-message status on a stream (OK is code 0). */
export interface StreamStatus {
  code: status;
  details: string;
}

export type BidiHandler<Req, Res> = (
  call: ServerDuplexStream<StreamMessage<Req>, Res>,
  stream: StreamContext<Req>,
) => void;

/** The async handlers of a ts-proto `...Server` interface (its string index signature dropped). */
export type Handlers<S> = {
  [K in keyof S as string extends K ? never : K]: S[K] extends handleBidiStreamingCall<
    infer Q,
    infer R
  >
    ? BidiHandler<Q, R>
    : S[K] extends handleUnaryCall<infer Q, infer R>
      ? UnaryHandler<Q, R>
      : S[K] extends handleServerStreamingCall<infer Q, infer R>
        ? ServerStreamHandler<Q, R>
        : never;
};
