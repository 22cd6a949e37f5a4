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

function requireFeatures(field: string, features: ranker.Feature[], max: number): void {
  requireCount(field, features.length, 0, max);
  const names = new Set<string>();
  features.forEach((feature, i) => {
    const at = `${field}[${i}]`;
    requireText(`${at}.name`, feature.name, 128);
    if (names.has(feature.name))
      throw new InvalidArgumentError(`${at}.name`, `"${feature.name}" appears twice`);
    names.add(feature.name);
    if (feature.value === undefined)
      throw new InvalidArgumentError(`${at}.value`, 'needs categorical or numeric');
    if (feature.value.$case === 'numeric') requireFinite(`${at}.numeric`, feature.value.value);
  });
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
