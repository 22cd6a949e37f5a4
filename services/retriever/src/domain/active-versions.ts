// The store's active version of each corpus, asked with DescribeTables and reused for `ttlMs`.
// A text query needs the version BEFORE searching (its encoder belongs to that version), and the
// Search is then pinned to it, so passages, encoder and scores always come from one version.
import { NotFoundError } from '@embpress/service-kit';

export type DescribeActive = (corpus: string, deadline: number) => Promise<string[]>;

export class ActiveVersions {
  private readonly known = new Map<string, { version: string; until: number }>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly ttlMs: number,
    private readonly describe: DescribeActive,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(corpus: string, deadline: number): Promise<string> {
    const cached = this.known.get(corpus);
    if (cached !== undefined && cached.until > this.now()) return cached.version;
    let pending = this.inFlight.get(corpus);
    if (pending === undefined) {
      pending = this.ask(corpus, deadline).finally(() => this.inFlight.delete(corpus));
      this.inFlight.set(corpus, pending);
    }
    return pending;
  }

  forget(corpus: string): void {
    this.known.delete(corpus);
  }

  private async ask(corpus: string, deadline: number): Promise<string> {
    const versions = [...new Set(await this.describe(corpus, deadline))];
    const version = versions[0];
    if (version === undefined)
      throw new NotFoundError(`corpus "${corpus}" has no active version in the store`);
    // Shards that disagree are mid-activation: not cached; the pinned Search settles it.
    this.known.set(corpus, { version, until: versions.length === 1 ? this.now() + this.ttlMs : 0 });
    return version;
  }
}
