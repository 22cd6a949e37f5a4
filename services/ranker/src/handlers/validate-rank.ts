import type { ranker } from '@embpress/proto';
import {
  InvalidArgumentError,
  optionalName,
  requireCount,
  requireFinite,
  requireName,
  requireText,
} from '@embpress/service-kit';
import type { RankerConfig } from '../config';
import type { FeatureColumnIn, RankRequestIn } from '../wire/rank-request-decoder';

// Runs for every feature of every candidate (thousands per request): the field path of an error
// message is built only once a check fails.
function requireFeatures(field: string, features: ranker.Feature[], max: number): void {
  requireCount(field, features.length, 0, max);
  const names = new Set<string>();
  for (let i = 0; i < features.length; i += 1) {
    const feature = features[i] as ranker.Feature;
    const name = feature.name;
    if (name.length > 128 || name.trim() === '') requireText(`${field}[${i}].name`, name, 128);
    if (names.has(name))
      throw new InvalidArgumentError(`${field}[${i}].name`, `"${name}" appears twice`);
    names.add(name);
    const value = feature.value;
    if (value === undefined)
      throw new InvalidArgumentError(`${field}[${i}].value`, 'needs categorical or numeric');
    if (value.$case === 'numeric' && !Number.isFinite(value.value))
      requireFinite(`${field}[${i}].numeric`, value.value);
  }
}

/** Candidate ids: 1-256 characters, each once. */
function requireCandidateIds(field: string, ids: readonly string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as string;
    if (id.length > 256 || id.trim() === '') requireText(`${field}[${i}]`, id, 256);
    if (seen.has(id)) throw new InvalidArgumentError(`${field}[${i}]`, `"${id}" appears twice`);
    seen.add(id);
  }
}

/** The columnar form: names once each, exactly one list per column, no infinite number. */
function requireColumns(columns: readonly FeatureColumnIn[], max: number): void {
  requireCount('columns', columns.length, 0, max);
  const names = new Set<string>();
  columns.forEach((column, k) => {
    const name = column.name;
    if (name.length > 128 || name.trim() === '') requireText(`columns[${k}].name`, name, 128);
    if (names.has(name))
      throw new InvalidArgumentError(`columns[${k}].name`, `"${name}" appears twice`);
    names.add(name);
    if (column.numeric.length > 0 === column.categorical.length > 0)
      throw new InvalidArgumentError(
        `columns[${k}]`,
        'needs either numeric or categorical values (one per candidate), not both or neither',
      );
    const numeric = column.numeric;
    for (let c = 0; c < numeric.length; c += 1) {
      const v = numeric[c] as number;
      // NaN marks a missing value; an infinity is an error.
      if (v === Infinity || v === -Infinity) requireFinite(`columns[${k}].numeric[${c}]`, v);
    }
  });
}

export function validateRankRequest(request: RankRequestIn, config: RankerConfig): void {
  requireName('model', request.model);
  optionalName('version', request.version);
  requireFeatures('context', request.context, config.maxFeaturesPerCandidate);
  const columnar = request.candidateIds.length > 0 || request.columns.length > 0;
  if (columnar) {
    if (request.candidates.length > 0)
      throw new InvalidArgumentError(
        'candidates',
        'give the candidates as rows (candidates) or as columns (candidate_ids and columns), not both',
      );
    requireCount('candidate_ids', request.candidateIds.length, 1, config.maxCandidates);
    requireCandidateIds('candidate_ids', request.candidateIds);
    requireColumns(request.columns, config.maxFeaturesPerCandidate);
    return;
  }
  requireCount('candidates', request.candidates.length, 1, config.maxCandidates);
  const ids = new Set<string>();
  request.candidates.forEach((candidate, i) => {
    requireText(`candidates[${i}].id`, candidate.id, 256);
    if (ids.has(candidate.id))
      throw new InvalidArgumentError(`candidates[${i}].id`, `"${candidate.id}" appears twice`);
    ids.add(candidate.id);
    requireFeatures(
      `candidates[${i}].features`,
      candidate.features,
      config.maxFeaturesPerCandidate,
    );
  });
}
