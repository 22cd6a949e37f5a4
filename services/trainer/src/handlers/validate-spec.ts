// Validation of a TrainingSpec (the same knobs as `embpress train`); defaults for proto3 zeros.
import type { trainer } from '@embpress/proto';
import { InvalidArgumentError, requireIntInRange, requireName } from '@embpress/service-kit';

export const DATA_KINDS = ['criteo', 'avazu', 'csv', 'synth'] as const;
export const MODELS = ['dlrm', 'wdl', 'dcn', 'deepfm'] as const;
export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;

function requireDataRef(field: string, value: string): void {
  const match = /^([a-z]+):(.+)$/.exec(value);
  if (match === null)
    throw new InvalidArgumentError(
      field,
      `must be KIND:PATH with KIND one of ${DATA_KINDS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  if (!(DATA_KINDS as readonly string[]).includes(match[1] ?? '')) {
    throw new InvalidArgumentError(
      field,
      `unknown data kind "${match[1]}" (one of ${DATA_KINDS.join(', ')})`,
    );
  }
}

function requireOneOf(field: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value))
    throw new InvalidArgumentError(
      field,
      `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
}

/** Validates `spec` and returns it with defaults filled in for fields left at zero/empty. */
export function validateTrainingSpec(spec: trainer.TrainingSpec | undefined): trainer.TrainingSpec {
  if (spec === undefined) throw new InvalidArgumentError('spec', 'is required');
  requireDataRef('spec.data', spec.data);
  if (spec.testData !== '') requireDataRef('spec.test_data', spec.testData);
  const model = spec.model === '' ? 'dlrm' : spec.model;
  requireOneOf('spec.model', model, MODELS);
  if (spec.method.trim() === '')
    throw new InvalidArgumentError(
      'spec.method',
      'is required (a method spec such as "full" or "qr(collisions=4)")',
    );
  const budget = spec.budget === 0 ? 1 : spec.budget;
  if (!(budget > 0 && budget <= 1))
    throw new InvalidArgumentError('spec.budget', `must be in (0, 1], got ${spec.budget}`);
  const epochs = spec.epochs === 0 ? 1 : requireIntInRange('spec.epochs', spec.epochs, 1, 1000);
  const batchSize =
    spec.batchSize === 0 ? 1024 : requireIntInRange('spec.batch_size', spec.batchSize, 1, 1 << 16);
  const learningRate = spec.learningRate === 0 ? 0.001 : spec.learningRate;
  if (!(Number.isFinite(learningRate) && learningRate > 0 && learningRate <= 10)) {
    throw new InvalidArgumentError(
      'spec.learning_rate',
      `must be in (0, 10], got ${spec.learningRate}`,
    );
  }
  requireName('spec.output_name', spec.outputName);
  const backend = spec.backend === '' ? 'auto' : spec.backend;
  requireOneOf('spec.backend', backend, BACKENDS);
  return { ...spec, model, budget, epochs, batchSize, learningRate, backend };
}
