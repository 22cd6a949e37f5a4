// OptEmbed's evolutionary search over per-field dimension candidates (docs/methods/optembed.md,
// "Search"). A candidate κ ∈ {0..D−1}^F keeps the first κ_f + 1 columns of field f. Each
// generation scores every candidate (one validation pass each), sorts them by score, and breeds
// the next population: the top `keep` as they are, `mutations` mutated copies of the best, and
// `crossovers` children of ordered parent pairs cut at a FIELD position.
//
// Two fixes of the reference, each tested in optembed.spec.ts:
//  - children are built from COPIES: the reference mutates parent arrays in place, so the best
//    candidate it recorded, and the parents of later crossovers, could change after being scored;
//  - the crossover cut is drawn from [1, F) (κ has F entries); the reference draws it from [1, D).
import type { Rng } from '../core/rng';

/** Parents of the crossovers: the best PARENT_POOL candidates of a generation (the reference's 10). */
export const PARENT_POOL = 10;

export interface EvolutionSettings {
  fields: number;
  dim: number;
  /** Candidates carried over unchanged (reference keep_num 0). */
  keep: number;
  /** Mutated copies of the i-th best (reference mutation_num 10). */
  mutations: number;
  /** Children of crossovers (reference crossover_num 10). */
  crossovers: number;
  /** Per-field probability that a mutation redraws the entry (reference m_prob 0.1). */
  mutationProb: number;
  /** Generations, each scoring its whole population (reference nepoch_search 30). */
  generations: number;
}

export interface EvolutionResult {
  best: Uint32Array;
  score: number;
  /** Calls of `score` (identical candidates are scored once). */
  evaluations: number;
}

/** κ with every entry UniformInt[0, D). */
export function randomCandidate(fields: number, dim: number, rng: Rng): Uint32Array {
  return Uint32Array.from({ length: fields }, () => rng.int(0, dim));
}

/** A copy of `parent` whose entries are each redrawn from UniformInt[0, D) with probability `prob`. */
export function mutate(parent: Uint32Array, dim: number, prob: number, rng: Rng): Uint32Array {
  const child = parent.slice();
  for (let f = 0; f < child.length; f += 1) if (rng.next() < prob) child[f] = rng.int(0, dim);
  return child;
}

/**
 * A new κ: the first `cut` fields of x, the rest of y, cut ~ UniformInt[1, F). With one field
 * there is no cut point: a copy of x.
 */
export function crossover(x: Uint32Array, y: Uint32Array, rng: Rng): Uint32Array {
  const F = x.length;
  if (F < 2) return x.slice();
  const cut = rng.int(1, F);
  const child = y.slice();
  child.set(x.subarray(0, cut), 0);
  return child;
}

/**
 * `count` distinct ordered pairs (x, y), x ≠ y, of indices in [0, pool), in random order (a
 * shuffle of all pairs: the same law as drawing not-yet-used pairs). More children than pairs:
 * the pairs repeat; a pool of one: (0, 0), whose child is a copy.
 */
export function crossoverPairs(pool: number, count: number, rng: Rng): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (let x = 0; x < pool; x += 1)
    for (let y = 0; y < pool; y += 1) if (x !== y) pairs.push([x, y]);
  for (let i = pairs.length - 1; i > 0; i -= 1) {
    const j = rng.int(0, i + 1);
    [pairs[i], pairs[j]] = [pairs[j] as [number, number], pairs[i] as [number, number]];
  }
  if (pairs.length === 0) pairs.push([0, 0]);
  return Array.from({ length: count }, (_, i) => pairs[i % pairs.length] as [number, number]);
}

/**
 * Runs the search. `score` must be deterministic for a κ (a validation pass of a fixed model):
 * a candidate met again is not scored again. Highest score wins; ties keep the earlier one.
 */
export async function evolve(
  s: EvolutionSettings,
  rng: Rng,
  score: (kappa: Uint32Array) => Promise<number>,
  log: (line: string) => void = () => undefined,
): Promise<EvolutionResult> {
  const size = s.keep + s.mutations + s.crossovers;
  let population = Array.from({ length: size }, () => randomCandidate(s.fields, s.dim, rng));
  const seen = new Map<string, number>();
  let best = (population[0] as Uint32Array).slice();
  let bestScore = -Infinity;
  let evaluations = 0;
  for (let generation = 0; generation < s.generations; generation += 1) {
    const scores: number[] = [];
    for (const kappa of population) {
      const key = kappa.join(',');
      let value = seen.get(key);
      if (value === undefined) {
        value = await score(kappa);
        evaluations += 1;
        seen.set(key, value);
      }
      scores.push(value);
    }
    const order = population
      .map((_, i) => i)
      .sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
    const sorted = order.map((i) => population[i] as Uint32Array);
    const top = scores[order[0] as number] as number;
    if (top > bestScore) {
      bestScore = top;
      best = (sorted[0] as Uint32Array).slice();
    }
    log(
      `optembed search: generation ${generation + 1}/${s.generations}: best ${top.toFixed(5)}, overall ${bestScore.toFixed(5)} (κ ${best.join(',')})`,
    );
    if (generation === s.generations - 1) break;
    const pool = sorted.slice(0, Math.min(PARENT_POOL, sorted.length));
    const next: Uint32Array[] = [];
    for (let i = 0; i < s.keep; i += 1)
      next.push((sorted[i % sorted.length] as Uint32Array).slice());
    for (let i = 0; i < s.mutations; i += 1)
      next.push(mutate(sorted[i % sorted.length] as Uint32Array, s.dim, s.mutationProb, rng));
    for (const [x, y] of crossoverPairs(pool.length, s.crossovers, rng))
      next.push(crossover(pool[x] as Uint32Array, pool[y] as Uint32Array, rng));
    population = next;
  }
  return { best, score: bestScore, evaluations };
}
