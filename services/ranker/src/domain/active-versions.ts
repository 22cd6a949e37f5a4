// The store's active version of each model, asked with DescribeTables and reused for `ttlMs`, so a
// Rank request costs one store round trip (its BatchLookup, pinned to this version) rather than
// two. After an activation the ranker follows within `ttlMs`; a version the store has unloaded in
// the meantime makes the handler forget it and ask again at once. Concurrent requests share one
// DescribeTables in flight.
import { NotFoundError } from '@embpress/service-kit';

export type DescribeActive = (model: string, deadline: number) => Promise<string[]>;

interface Known {
  version: string;
  until: number;
}

export class ActiveVersions {
  private readonly known = new Map<string, Known>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly ttlMs: number,
    /** The active version each shard reports for the model (empty: none active). */
    private readonly describe: DescribeActive,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(model: string, deadline: number): Promise<string> {
    const cached = this.known.get(model);
    if (cached !== undefined && cached.until > this.now()) return cached.version;
    let pending = this.inFlight.get(model);
    if (pending === undefined) {
      pending = this.ask(model, deadline).finally(() => this.inFlight.delete(model));
      this.inFlight.set(model, pending);
    }
    return pending;
  }

  /** The last version seen active, however old (degraded mode when the store is down). */
  lastKnown(model: string): string | undefined {
    return this.known.get(model)?.version;
  }

  forget(model: string): void {
    this.known.delete(model);
  }

  private async ask(model: string, deadline: number): Promise<string> {
    const versions = [...new Set(await this.describe(model, deadline))];
    const version = versions[0];
    if (version === undefined)
      throw new NotFoundError(`store: model "${model}" has no active version`);
    // Shards that disagree are in the middle of an activation: not cached, so the next request
    // asks again (the pinned BatchLookup fails on the shards without this version meanwhile).
    this.known.set(model, { version, until: versions.length === 1 ? this.now() + this.ttlMs : 0 });
    return version;
  }
}
