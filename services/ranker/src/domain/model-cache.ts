// Loaded model versions, at most `capacity`, least recently used evicted. A version in use by a
// request (leased) is disposed only once its last lease is released, so eviction never pulls the
// network from under a request that is waiting for the store.
import type { ServedModel } from './served-model';

export interface ModelLease {
  served: ServedModel;
  release(): void;
}

interface Entry {
  served: ServedModel;
  leases: number;
  evicted: boolean;
}

export class ModelCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly capacity: number,
    private readonly load: (model: string, version: string) => ServedModel,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`model cache capacity must be an integer >= 1, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  acquire(model: string, version: string): ModelLease {
    const key = `${model}/${version}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { served: this.load(model, version), leases: 0, evicted: false };
      this.entries.set(key, entry);
      this.evict();
    } else {
      // Map order is the recency order: move to the end.
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    const held = entry;
    held.leases += 1;
    let released = false;
    return {
      served: held.served,
      release: () => {
        if (released) return;
        released = true;
        held.leases -= 1;
        if (held.evicted && held.leases === 0) held.served.net.dispose();
      },
    };
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity) return;
      this.entries.delete(key);
      entry.evicted = true;
      if (entry.leases === 0) entry.served.net.dispose();
    }
  }

  /** Disposes every version (at shutdown, once no request runs). */
  clear(): void {
    for (const entry of this.entries.values()) entry.served.net.dispose();
    this.entries.clear();
  }
}
