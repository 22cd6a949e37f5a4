// The store's active version of each model (or corpus), asked with DescribeTables and reused for
// `ttlMs`, so a call that reads one version costs one store round trip (its lookup or search,
// pinned to this version) rather than two. After an activation the caller follows within
// `ttlMs`; a version the store has unloaded in the meantime makes the caller forget it and ask
// again at once. Concurrent calls share one DescribeTables in flight. A call in the second half
// of the TTL starts that question in the background and goes on with the cached version, so under
// steady traffic no call waits for it (one call per TTL did: at 20 req/s that was 1 in 20, in the
// load tests' p99; docs/benchmarks.md). Shared by the ranker (models) and the retriever (corpora:
// a text query needs the version before searching, since its encoder belongs to that version).
import { NotFoundError } from '@embpress/service-kit';
import type { ShardedStoreClient } from './sharded-client';

/** The active version each shard reports for `name` (empty: none active). */
export type DescribeActive = (name: string, deadline: number) => Promise<string[]>;

interface Known {
  version: string;
  until: number;
}

export class ActiveVersions {
  private readonly known = new Map<string, Known>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly ttlMs: number,
    private readonly describe: DescribeActive,
    private readonly now: () => number = Date.now,
    /** What a name is, in error messages: "model" or "corpus". */
    private readonly noun = 'model',
  ) {}

  /** Active versions as the shards of `store` report them. */
  static of(store: ShardedStoreClient, ttlMs: number, noun = 'model'): ActiveVersions {
    return new ActiveVersions(
      ttlMs,
      async (name, deadline) => {
        const shards = await store.describeTables(name, { deadline });
        return shards.flatMap((s) =>
          s.tables.filter((t) => t.model === name && t.active).map((t) => t.version),
        );
      },
      Date.now,
      noun,
    );
  }

  async resolve(name: string, deadline: number): Promise<string> {
    const cached = this.known.get(name);
    const now = this.now();
    if (cached !== undefined && cached.until > now) {
      // Refresh ahead: its failure is not this call's (the next call past the TTL asks again).
      if (cached.until - now <= this.ttlMs / 2)
        this.question(name, deadline).catch(() => undefined);
      return cached.version;
    }
    return this.question(name, deadline);
  }

  /** The last version seen active, however old (degraded mode when the store is down). */
  lastKnown(name: string): string | undefined {
    return this.known.get(name)?.version;
  }

  forget(name: string): void {
    this.known.delete(name);
  }

  /** The DescribeTables in flight for `name`, or a new one. */
  private question(name: string, deadline: number): Promise<string> {
    let pending = this.inFlight.get(name);
    if (pending === undefined) {
      pending = this.ask(name, deadline).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, pending);
    }
    return pending;
  }

  private async ask(name: string, deadline: number): Promise<string> {
    const versions = [...new Set(await this.describe(name, deadline))];
    const version = versions[0];
    if (version === undefined)
      throw new NotFoundError(`store: ${this.noun} "${name}" has no active version`);
    // Shards that disagree are in the middle of an activation: not cached, so the next call asks
    // again (the pinned lookup or search fails on the shards without this version meanwhile).
    this.known.set(name, { version, until: versions.length === 1 ? this.now() + this.ttlMs : 0 });
    return version;
  }
}
