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

export function validateRankRequest(request: ranker.RankRequest, config: RankerConfig): void {
  requireName('model', request.model);
  optionalName('version', request.version);
  requireFeatures('context', request.context, config.maxFeaturesPerCandidate);
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
