// The context of one call of ServiceHost (server.ts): what a handler knows besides the request.
//
// Both contexts are classes, not object literals with getters, and this matters for latency: V8
// allocates an object's own getter/setter pair in the old generation, so a literal whose
// `get signal()` closes over the call puts an old object in front of every call's young ones.
// Until the next full collection each dead pair keeps its call (request, decoded columns,
// response) alive through every minor GC, and through the objects calls share, the calls after
// it: in the ranker nearly everything a minor GC saw survived it (3-4 MB a time, 12 ms pauses at
// 100 Ranks/s; docs/benchmarks.md, "seventh round"). A class's getters live on its prototype.
import type { Metadata, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { deadlineMs } from './deadline';
import type { CallContext } from './handler-types';
import type { Logger } from './logger';

/** The longest delay a timer can carry (setTimeout's limit, ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A unary or server-streaming call's context. Its logger and abort signal are made on first use:
 * most calls (a store lookup) use neither, and a pino child, an AbortController, a 'cancelled'
 * listener and a deadline timer per call were ~15% of the store's CPU per lookup.
 */
export class UnaryCallContext implements CallContext {
  readonly deadline: number | undefined;
  readonly metadata: Metadata;
  private heldBytes: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private childLogger: Logger | undefined;
  private disposed = false;

  constructor(
    readonly path: string,
    private readonly call:
      | ServerUnaryCall<unknown, unknown>
      | ServerWritableStream<unknown, unknown>,
    requestBytes: number,
    private readonly parentLogger: Logger,
    private readonly reserve: (bytes: number) => void,
  ) {
    this.deadline = deadlineMs(call.getDeadline());
    this.metadata = call.metadata;
    this.heldBytes = requestBytes;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      const { deadline } = this;
      if (this.call.cancelled || (deadline !== undefined && Date.now() >= deadline)) this.abort();
      else if (!this.disposed) {
        this.call.on('cancelled', this.abort);
        if (deadline !== undefined)
          this.timer = setTimeout(
            () => this.controller?.abort(new Error('deadline exceeded')),
            deadline - Date.now(),
          );
      }
    }
    return this.controller.signal;
  }

  get logger(): Logger {
    this.childLogger ??= this.parentLogger.child({ rpc: this.path });
    return this.childLogger;
  }

  reserveBytes(bytes: number): void {
    this.reserve(bytes);
    this.heldBytes += bytes;
  }

  /** Ends the context (no more aborts); returns the bytes the call held, to release. */
  dispose(): number {
    this.disposed = true;
    if (this.controller !== undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.call.removeListener('cancelled', this.abort);
    }
    return this.heldBytes;
  }

  // grpc-js also reports a passed deadline as 'cancelled': name the deadline when it has passed.
  // A property, not a method: the same function is added and removed as the listener.
  private readonly abort = (): void => {
    const { deadline } = this;
    this.controller?.abort(
      new Error(
        deadline !== undefined && Date.now() >= deadline
          ? 'deadline exceeded'
          : 'cancelled by the caller',
      ),
    );
  };
}

/**
 * The context of one message of a bidirectional stream (StreamContext.startMessage): its own
 * deadline, the stream's metadata and logger, and its reserved bytes counted by the host.
 */
export class StreamMessageContext implements CallContext {
  constructor(
    readonly path: string,
    readonly deadline: number | undefined,
    readonly metadata: Metadata,
    readonly logger: Logger,
    private readonly reserve: (bytes: number) => void,
  ) {}

  /** Aborted when the message's deadline passes (the stream's end is the handler's to watch). */
  get signal(): AbortSignal {
    const left = this.deadline === undefined ? MAX_TIMER_MS : this.deadline - Date.now();
    return AbortSignal.timeout(Math.min(MAX_TIMER_MS, Math.max(0, left)));
  }

  reserveBytes(bytes: number): void {
    this.reserve(bytes);
  }
}
