// ServiceHost: one grpc-js server with health, reflection, typed async handlers, load shedding,
// RPC duration metrics and graceful shutdown. Services only write `(request, ctx) => response`.
import type { Histogram } from '@opentelemetry/api';
import {
  Server,
  status,
  type ChannelOptions,
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type UntypedHandleCall,
} from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { health, reflectionPackageDefinition } from '@embpress/proto';
import { ResourceExhaustedError, serviceError, toStatus } from './errors';
import { HealthRegistry } from './health';
import { rpcServerDuration } from './telemetry/instruments';
import type { Logger } from './logger';
import type { ServerConfig } from './config';
import { serverCredentials } from './tls';
import type {
  BidiHandler,
  Handlers,
  ServerStreamHandler,
  StreamContext,
  UnaryHandler,
} from './handler-types';
import { Received, run, runStream, tolerantDeserializer } from './received';
import { StreamMessageContext, UnaryCallContext } from './call-context';
import { http2ServersOf, setInitialWindowSize } from './grpc-internals';

export type {
  BidiHandler,
  CallContext,
  Handlers,
  ServerStreamHandler,
  StreamContext,
  StreamMessage,
  StreamStatus,
  UnaryHandler,
} from './handler-types';
import { flagInvalidTimeouts, strictRequests } from './strict-requests';

/** A started service, as a composition root hands it to the process that runs it. */
export interface RunningService {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Graceful stop (see ServiceHost.shutdown). */
  stop(): Promise<void>;
  /** Health NOT_SERVING at once, e.g. on a fatal error just before the process exits. */
  notServing(): void;
}

export interface ServiceHostOptions {
  /** Short name for logs (e.g. "store"). */
  name: string;
  config: ServerConfig;
  logger: Logger;
  /** Extra grpc-js server options (message sizes, keepalive...). */
  channelOptions?: ChannelOptions;
  /**
   * Largest request message in bytes (grpc-js refuses a larger one from its length prefix,
   * before buffering it, with RESOURCE_EXHAUSTED). Default 4 MiB, grpc's own default.
   */
  maxReceiveBytes?: number;
  /**
   * HTTP/2 receive window of each connection and each stream, in bytes (default: Node's 64 KiB).
   * grpc-js has no server option for it (`grpc-node.flow_control_window` is client-only in 1.14);
   * a service receiving large requests from many concurrent calls on one connection (the store at
   * 4,096 ids per call) needs more, or request streams stall waiting for WINDOW_UPDATEs.
   */
  flowControlWindowBytes?: number;
}

/** The grpc-js Server internals that flowControlWindowBytes needs (grpc-js 1.14). */
/** grpc's own default largest request; services that need more (or less) say so. */
const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;
/** Default bound on request + reserved bytes of the calls in flight (ServerConfig). */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024;

export class ServiceHost {
  readonly health = new HealthRegistry();
  private readonly server: Server;
  private readonly serviceNames: string[] = [];
  private readonly rpcDuration: Histogram;
  private inFlight = 0;
  /** Request bytes and reserved bytes of the calls in flight (config.maxInFlightBytes). */
  private inFlightBytes = 0;
  private draining = false;
  private boundPort: number | undefined;
  private stopping: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Open bidirectional streams' drain listeners (called once when shutdown starts). */
  private readonly drainListeners = new Set<() => void>();
  /** `reserveBytes` for call contexts (one closure per host, not per call). */
  private readonly reserve = (bytes: number): void => this.reserveBytes(bytes);

  constructor(private readonly options: ServiceHostOptions) {
    this.server = new Server({
      'grpc.max_receive_message_length': options.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      // No channelz service is exposed: its per-call and per-stream bookkeeping (~2% of the
      // store's CPU per lookup) would be read by nobody.
      'grpc.enable_channelz': 0,
      ...options.channelOptions,
      interceptors: [strictRequests],
    });
    this.server.addService(health.HealthService, this.health.implementation);
    if (options.flowControlWindowBytes !== undefined) {
      // Stream windows: the SETTINGS every new connection starts with.
      setInitialWindowSize(this.server, options.flowControlWindowBytes);
    }
    // Recorded here, not by the OTel grpc instrumentation (which gives spans only).
    this.rpcDuration = rpcServerDuration();
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error(`${this.options.name}: not started`);
    return this.boundPort;
  }

  get address(): string {
    return `${this.options.config.host}:${this.port}`;
  }

  /** Adds a service from its ts-proto definition; every method must have a handler. */
  addService<S>(definition: ServiceDefinition, handlers: Handlers<S>): void {
    const byName = handlers as unknown as Record<
      string,
      | UnaryHandler<unknown, unknown>
      | ServerStreamHandler<unknown, unknown>
      | BidiHandler<unknown, unknown>
    >;
    const implementation: Record<string, UntypedHandleCall> = {};
    const tolerant: Record<string, ServiceDefinition[string]> = {};
    let serviceName: string | undefined;
    for (const [method, spec] of Object.entries(definition)) {
      tolerant[method] = {
        ...spec,
        requestDeserialize: tolerantDeserializer(spec.requestDeserialize),
      };
      const handler = byName[method];
      if (handler === undefined) throw new Error(`${spec.path}: no handler`);
      serviceName ??= spec.path.split('/')[1];
      if (spec.requestStream && spec.responseStream)
        implementation[method] = this.wrapBidi(spec.path, handler as BidiHandler<unknown, unknown>);
      else if (spec.requestStream)
        throw new Error(`${spec.path}: client streaming is not supported by ServiceHost`);
      else
        implementation[method] = spec.responseStream
          ? this.wrapServerStream(spec.path, handler as ServerStreamHandler<unknown, unknown>)
          : this.wrapUnary(spec.path, handler as UnaryHandler<unknown, unknown>);
    }
    if (serviceName === undefined) throw new Error('service definition has no methods');
    this.server.addService(tolerant as ServiceDefinition, implementation);
    this.serviceNames.push(serviceName);
    this.health.register(serviceName);
  }

  /** Binds (port 0 = any free port) and serves; health stays NOT_SERVING until `markServing`. */
  async start(): Promise<number> {
    new ReflectionService(reflectionPackageDefinition(), {
      services: [...this.serviceNames, 'grpc.health.v1.Health'],
    }).addToServer(this.server);
    const { host, port, tls } = this.options.config;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, serverCredentials(tls), (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
    this.widenConnectionWindows();
    this.checkTimeoutHeaders();
    this.options.logger.info(
      {
        address: this.address,
        services: this.serviceNames,
        tls: tls.certFile !== undefined,
        mtls: tls.clientCaFile !== undefined,
      },
      `${this.options.name} listening`,
    );
    return this.boundPort;
  }

  /** The connection-level window (not a SETTINGS value): set on each session as it opens. */
  private widenConnectionWindows(): void {
    const bytes = this.options.flowControlWindowBytes;
    if (bytes === undefined) return;
    for (const http2Server of http2ServersOf(this.server, 'flowControlWindowBytes'))
      http2Server.on('session', (session) => session.setLocalWindowSize(bytes));
  }

  /** strict-requests.ts: a malformed grpc-timeout is refused as INVALID_ARGUMENT. */
  private checkTimeoutHeaders(): void {
    for (const http2Server of http2ServersOf(this.server, 'strict requests'))
      flagInvalidTimeouts(http2Server);
  }

  /** Reports SERVING on health and returns the handle the process runner needs. */
  markServing(): RunningService {
    this.health.setAll(true);
    this.options.logger.info({ address: this.address }, `${this.options.name} SERVING`);
    return {
      name: this.options.name,
      address: this.address,
      port: this.port,
      stop: () => this.shutdown(),
      notServing: () => this.health.setAll(false),
    };
  }

  /**
   * Graceful shutdown: NOT_SERVING → refuse new calls → wait for in-flight calls up to the
   * grace period → close (cancelling what is left). Idempotent.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  private async drainAndClose(): Promise<void> {
    const { logger, config } = this.options;
    this.health.setAll(false);
    this.health.closeWatchers();
    this.draining = true;
    for (const drain of [...this.drainListeners]) drain();
    logger.info(
      { inFlight: this.inFlight, graceMs: config.shutdownGraceMs },
      `${this.options.name} draining`,
    );
    const drained = await this.waitIdle(config.shutdownGraceMs);
    if (!drained)
      logger.warn(
        { inFlight: this.inFlight },
        `${this.options.name}: grace period over, cancelling calls`,
      );
    await new Promise<void>((resolve) => {
      if (!drained) {
        this.server.forceShutdown();
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    logger.info(`${this.options.name} stopped`);
  }

  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Admission control shared by every call: refuse while draining, over the in-flight call limit,
   * or when the request's bytes would take the process over its in-flight byte bound.
   */
  private admit(path: string, requestBytes: number): ServiceError | undefined {
    if (this.draining) return serviceError(status.UNAVAILABLE, 'server is shutting down');
    if (this.inFlight >= this.options.config.maxInFlight) {
      return serviceError(
        status.RESOURCE_EXHAUSTED,
        `${path}: too many calls in flight (${this.inFlight}); retry with backoff`,
      );
    }
    const overBytes = this.overByteBound(requestBytes);
    if (overBytes !== undefined)
      return serviceError(status.RESOURCE_EXHAUSTED, `${path}: ${overBytes}`);
    this.inFlight += 1;
    this.inFlightBytes += requestBytes;
    return undefined;
  }

  /** Counts `bytes` in flight, or throws RESOURCE_EXHAUSTED when they would pass the bound. */
  private reserveBytes(bytes: number): void {
    const over = this.overByteBound(bytes);
    if (over !== undefined) throw new ResourceExhaustedError(over);
    this.inFlightBytes += bytes;
  }

  /** Why `bytes` more would pass the in-flight byte bound, or undefined when they fit. */
  private overByteBound(bytes: number): string | undefined {
    const bound = this.options.config.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
    if (this.inFlightBytes + bytes <= bound) return undefined;
    return bytes > bound
      ? `needs ${bytes} bytes, more than this server's bound of ${bound} bytes in flight; send smaller requests`
      : `${this.inFlightBytes} bytes in flight, ${bytes} more would pass this server's bound of ${bound}; retry with backoff`;
  }

  private release(heldBytes: number): void {
    this.inFlight -= 1;
    this.inFlightBytes -= heldBytes;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private finish(path: string, started: number, err: unknown, logger: Logger): ServiceError | null {
    const mapped = err === null ? null : toStatus(err);
    const code = mapped === null ? status.OK : mapped.code;
    const [, service = '', method = ''] = path.split('/');
    this.rpcDuration.record(performance.now() - started, {
      'rpc.system': 'grpc',
      'rpc.service': service,
      'rpc.method': method,
      'rpc.grpc.status_code': code,
    });
    if (mapped?.internal !== undefined) logger.error({ err: mapped.internal }, 'internal error');
    return mapped === null ? null : serviceError(mapped.code, mapped.details);
  }

  private wrapUnary(
    path: string,
    handler: UnaryHandler<unknown, unknown>,
  ): handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const started = performance.now();
      const received = call.request as Received;
      const refused = this.admit(path, received.bytes);
      if (refused !== undefined) {
        callback(refused);
        return;
      }
      const ctx = new UnaryCallContext(
        path,
        call,
        received.bytes,
        this.options.logger,
        this.reserve,
      );
      run(handler, received, ctx).then(
        (response) => {
          const held = ctx.dispose();
          this.finish(path, started, null, ctx.logger);
          callback(null, response);
          this.release(held);
        },
        (err: unknown) => {
          const held = ctx.dispose();
          callback(this.finish(path, started, err, ctx.logger));
          this.release(held);
        },
      );
    };
  }

  private wrapServerStream(
    path: string,
    handler: ServerStreamHandler<unknown, unknown>,
  ): handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      const started = performance.now();
      const received = call.request as Received;
      const refused = this.admit(path, received.bytes);
      if (refused !== undefined) {
        call.emit('error', refused);
        return;
      }
      const ctx = new UnaryCallContext(
        path,
        call,
        received.bytes,
        this.options.logger,
        this.reserve,
      );
      runStream(handler, received, ctx, (response) => call.write(response)).then(
        () => {
          const held = ctx.dispose();
          this.finish(path, started, null, ctx.logger);
          call.end();
          this.release(held);
        },
        (err: unknown) => {
          const held = ctx.dispose();
          call.emit('error', this.finish(path, started, err, ctx.logger));
          this.release(held);
        },
      );
    };
  }
  /**
   * A bidirectional stream is one call for admission and shutdown (it holds an in-flight slot for
   * its life); each of its messages is admitted against the byte bound, timed and mapped to a
   * status on its own (StreamContext.startMessage).
   */
  private wrapBidi(
    path: string,
    handler: BidiHandler<unknown, unknown>,
  ): handleBidiStreamingCall<unknown, unknown> {
    return (call) => {
      const refused = this.admit(path, 0);
      if (refused !== undefined) {
        call.emit('error', refused);
        return;
      }
      const logger = this.options.logger;
      let closed = false;
      let drainListener: (() => void) | undefined;
      /** Releases the stream's slot once; false when it was released already. */
      const end = () => {
        if (closed) return false;
        closed = true;
        if (drainListener !== undefined) this.drainListeners.delete(drainListener);
        this.release(0);
        return true;
      };
      // The stream's own end records no duration: the RPC histogram counts its messages (one
      // per lookup, like a unary call), which startMessage/done record.
      call.on('cancelled', () => end());
      const stream: StreamContext<unknown> = {
        path,
        logger,
        unwrap: (data) => {
          const received = data as Received;
          return { message: received.message, refusal: received.refusal, bytes: received.bytes };
        },
        startMessage: (bytes, deadline) => {
          const over = this.overByteBound(bytes);
          if (over !== undefined)
            return { code: status.RESOURCE_EXHAUSTED, details: `${path}: ${over}` };
          this.inFlightBytes += bytes;
          let held = bytes;
          const messageStarted = performance.now();
          const ctx = new StreamMessageContext(path, deadline, call.metadata, logger, (more) => {
            this.reserveBytes(more);
            held += more;
          });
          return {
            ctx,
            done: (err) => {
              this.inFlightBytes -= held;
              held = 0;
              const failed = this.finish(path, messageStarted, err ?? null, logger);
              return failed === null
                ? { code: status.OK, details: '' }
                : { code: failed.code as status, details: failed.details };
            },
          };
        },
        onDrain: (listener) => {
          drainListener = listener;
          if (this.draining) listener();
          else this.drainListeners.add(listener);
        },
        close: (err) => {
          if (!end()) return;
          if (err === undefined || err === null) {
            call.end();
            return;
          }
          const mapped = toStatus(err);
          if (mapped.internal !== undefined)
            logger.error({ err: mapped.internal }, 'internal error');
          call.emit('error', serviceError(mapped.code, mapped.details));
        },
      };
      handler(call, stream);
    };
  }
}
