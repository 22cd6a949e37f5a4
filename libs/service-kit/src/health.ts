// grpc.health.v1: "" is the whole server, plus one entry per service. Everything starts
// NOT_SERVING and turns SERVING only when the composition root says the service is ready.
import { status, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { health } from '@embpress/proto';

const { HealthCheckResponse_ServingStatus: ServingStatus } = health;
type ServingStatus = health.HealthCheckResponse_ServingStatus;
type Watcher = ServerWritableStream<health.HealthCheckRequest, health.HealthCheckResponse>;

export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>([['', ServingStatus.NOT_SERVING]]);
  private readonly watchers = new Set<Watcher>();

  register(service: string): void {
    this.statuses.set(service, ServingStatus.NOT_SERVING);
    this.notify(service);
  }

  /** Sets every registered service (and the server as a whole) SERVING or NOT_SERVING. */
  setAll(serving: boolean): void {
    for (const service of this.statuses.keys()) {
      this.statuses.set(service, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      this.notify(service);
    }
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends open Watch streams so that a graceful shutdown does not wait on them. */
  closeWatchers(): void {
    for (const watcher of this.watchers) watcher.end();
    this.watchers.clear();
  }

  readonly implementation: health.HealthServer = {
    check: (call, callback) => {
      const current = this.statuses.get(call.request.service);
      if (current === undefined) {
        const err: Partial<ServiceError> = {
          code: status.NOT_FOUND,
          details: `unknown service "${call.request.service}"`,
        };
        callback(err as ServiceError);
        return;
      }
      callback(null, { status: current });
    },
    watch: (call) => {
      this.watchers.add(call);
      call.on('cancelled', () => this.watchers.delete(call));
      call.write({
        status: this.statuses.get(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN,
      });
    },
  };

  private notify(service: string): void {
    const current = this.statuses.get(service);
    if (current === undefined) return;
    for (const watcher of this.watchers) {
      if (watcher.request.service === service) watcher.write({ status: current });
    }
  }
}
