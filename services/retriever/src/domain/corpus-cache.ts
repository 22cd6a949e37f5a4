// Corpus versions (passages + encoder) in memory, least recently used evicted first. Versions are
// immutable, so a cached one never goes stale; concurrent first requests share one read.
import type { CorpusVersion } from '@embpress/corpus';

export class CorpusCache {
  private readonly entries = new Map<string, CorpusVersion>();

  constructor(
    private readonly capacity: number,
    private readonly read: (corpus: string, version: string) => CorpusVersion,
  ) {}

  get(corpus: string, version: string): CorpusVersion {
    const key = `${corpus}/${version}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const loaded = this.read(corpus, version);
    this.entries.set(key, loaded);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return loaded;
  }

  clear(): void {
    this.entries.clear();
  }
}
