// The trainer's record of trainings: what exists, its state, and who is watching it.
// No RPC types beyond the proto messages it stores.
import type { trainer } from '@embpress/proto';

type Listener = (training: trainer.Training) => void;

export class Trainings {
  private readonly byId = new Map<string, trainer.Training>();
  private readonly listeners = new Map<string, Set<Listener>>();

  get(id: string): trainer.Training | undefined {
    return this.byId.get(id);
  }

  /** Newest first. */
  list(): trainer.Training[] {
    return [...this.byId.values()].sort((a, b) => b.createdAtUnixMs - a.createdAtUnixMs);
  }

  put(training: trainer.Training): void {
    this.byId.set(training.id, training);
    for (const listener of this.listeners.get(training.id) ?? []) listener(training);
  }

  /** Calls `listener` on every update of `id` until the returned function is called. */
  watch(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }
}
