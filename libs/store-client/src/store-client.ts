// The typed client of the embedding store, used by the ranker, the retriever and load tests.
// Promise API, a deadline on every call, and retries of UNAVAILABLE with jittered exponential
// backoff (every store RPC used here is a read, so retrying is safe).
import { Metadata, status } from '@grpc/grpc-js';
import { store } from '@embpress/proto';
import {
  createClient,
  isServiceError,
  unaryCall,
  type ClientConfig,
  type UnaryMethod,
} from '@embpress/service-kit';
import { LookupStreamPool } from './lookup-stream';

export interface CallSettings {
  /** Absolute deadline (ms since epoch) to propagate; default now + the configured timeout. */
  deadline?: number;
  metadata?: Metadata;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 25, maxDelayMs: 500 };

/** BatchLookups and Searches over this many LookupStream streams per store (0: unary calls). */
export const DEFAULT_LOOKUP_STREAMS = 2;

export class StoreClient {
  private readonly client: store.EmbeddingStoreServiceClient;
  private readonly streams: LookupStreamPool | undefined;

  constructor(
    private readonly config: ClientConfig,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.client = createClient(store.EmbeddingStoreServiceClient, config, {
      // Each client owns its connection (grpc-js otherwise shares one per address between all
      // channels of a process), so that several clients to one store use several HTTP/2
      // connections: on one, Node's client and server take turns processing whole bursts of
      // calls; on two, their work overlaps (+20% rows/s at batch 512, 16 calls in flight, on 2
      // cores; docs/benchmarks.md).
      'grpc.use_local_subchannel_pool': 1,
      // This client retries UNAVAILABLE itself (jittered backoff, under the call's deadline), so
      // grpc-js's own retry layer (which keeps a copy of every request for a transparent retry)
      // is pure overhead per call.
      'grpc.enable_retries': 0,
    });
    const streams = config.streams ?? DEFAULT_LOOKUP_STREAMS;
    this.streams =
      streams === 0
        ? undefined
        : new LookupStreamPool(
            config.address,
            () => this.client.lookupStream(new Metadata()),
            {
              batchLookup: (request, deadline) =>
                unaryCall(this.client, this.client.batchLookup, request, { deadline }),
              search: (request, deadline) =>
                unaryCall(this.client, this.client.search, request, { deadline }),
            },
            { streams },
          );
  }

  /** Whether BatchLookup and Search go over LookupStream (false: unary, by config or fallback). */
  get streaming(): boolean {
    return this.streams !== undefined && !this.streams.usesUnary;
  }

  lookup(request: store.LookupRequest, settings: CallSettings = {}): Promise<store.LookupResponse> {
    return this.call(this.client.lookup, request, settings);
  }

  batchLookup(
    request: store.BatchLookupRequest,
    settings: CallSettings = {},
  ): Promise<store.BatchLookupResponse> {
    const streams = this.streams;
    // A stream message carries no metadata of its own: a call that sends some goes unary.
    if (streams === undefined || settings.metadata !== undefined)
      return this.call(this.client.batchLookup, request, settings);
    return this.withRetries(settings, (deadline) => streams.batchLookup(request, deadline));
  }

  search(request: store.SearchRequest, settings: CallSettings = {}): Promise<store.SearchResponse> {
    const streams = this.streams;
    if (streams === undefined || settings.metadata !== undefined)
      return this.call(this.client.search, request, settings);
    return this.withRetries(settings, (deadline) => streams.search(request, deadline));
  }

  describeTables(
    request: store.DescribeTablesRequest,
    settings: CallSettings = {},
  ): Promise<store.DescribeTablesResponse> {
    return this.call(this.client.describeTables, request, settings);
  }

  /** Admin: loads (and verifies) a version; pass the admin token in `settings.metadata`. */
  loadVersion(
    request: store.LoadVersionRequest,
    settings: CallSettings = {},
  ): Promise<store.LoadVersionResponse> {
    return this.call(this.client.loadVersion, request, settings);
  }

  /** Admin: makes a loaded version the one served for its model. */
  activateVersion(
    request: store.ActivateVersionRequest,
    settings: CallSettings = {},
  ): Promise<store.ActivateVersionResponse> {
    return this.call(this.client.activateVersion, request, settings);
  }

  /**
   * Admin: LoadVersion then ActivateVersion (what publishing a new version to a running store
   * is), with the admin token as a bearer token when one is given; resolves to the version it
   * replaced ('' when none). Loading verifies every file, so it gets `loadTimeoutMs`.
   */
  async publishVersion(
    model: string,
    version: string,
    { adminToken, loadTimeoutMs = 120_000 }: { adminToken?: string; loadTimeoutMs?: number } = {},
  ): Promise<string> {
    const metadata = new Metadata();
    if (adminToken !== undefined) metadata.set('authorization', `Bearer ${adminToken}`);
    await this.loadVersion({ model, version }, { metadata, deadline: Date.now() + loadTimeoutMs });
    return (await this.activateVersion({ model, version }, { metadata })).previousVersion;
  }

  close(): void {
    this.streams?.close();
    this.client.close();
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, settings: CallSettings) {
    return this.withRetries(settings, (deadline) =>
      unaryCall(this.client, method, request, { deadline, metadata: settings.metadata }),
    );
  }

  /** Retries UNAVAILABLE with jittered backoff while the deadline allows (RetryPolicy). */
  private async withRetries<Res>(
    settings: CallSettings,
    attemptOnce: (deadline: number) => Promise<Res>,
  ): Promise<Res> {
    const deadline = settings.deadline ?? Date.now() + this.config.timeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await attemptOnce(deadline);
      } catch (err) {
        const delay = backoffMs(this.retry, attempt);
        const retryable =
          isServiceError(err) && err.code === status.UNAVAILABLE && attempt < this.retry.attempts;
        if (!retryable || Date.now() + delay >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** "Full jitter" backoff: uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  return random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}
