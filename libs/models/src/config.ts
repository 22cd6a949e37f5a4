// Model configurations (docs/models.md). Layer sizes default to the reference's; tests and small
// experiments pass smaller ones. Parsed with zod so a bad value names its field.
import { z } from 'zod';
import { ModelConfigError } from './errors';

export const MODEL_KINDS = ['dlrm', 'wdl', 'dcn', 'deepfm', 'fm'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

const size = z.number().int().positive();
const layers = z.array(size);

const common = {
  /** Dense (numeric) features per sample: Criteo 13, Avazu 0. */
  numDense: z.number().int().nonnegative(),
  /** Sparse fields F: Criteo 26, Avazu 22. */
  numFields: z.number().int().positive(),
  /** Embedding dimension D (reference default 16). */
  dim: size,
};

export const dlrmConfigSchema = z
  .object({
    kind: z.literal('dlrm'),
    ...common,
    /** Bottom MLP hidden sizes; a last layer to D is added. Reference: 13-512-256-64-D. */
    bottom: layers.default([512, 256, 64]),
    /** Top MLP hidden sizes; a last layer to 1 is added. Reference: 512-256-1. */
    top: layers.default([512, 256]),
  })
  .strict();

export const wdlConfigSchema = z
  .object({
    kind: z.literal('wdl'),
    ...common,
    /** Deep part hidden sizes; a last layer to 1 is added. Reference: 256-256-1. */
    deep: layers.default([256, 256]),
  })
  .strict();

export const dcnConfigSchema = z
  .object({
    kind: z.literal('dcn'),
    ...common,
    /** Cross layers (reference: 3). */
    crossLayers: z.number().int().nonnegative().default(3),
    /** Deep part sizes, ReLU on all but the last. Reference: 256-256-256. */
    deep: layers.min(1).default([256, 256, 256]),
  })
  .strict();

export const deepfmConfigSchema = z
  .object({
    kind: z.literal('deepfm'),
    ...common,
    /** DNN hidden sizes over the latent parts; a last layer to 1 is added. Reference: 256-256-1. */
    deep: layers.default([256, 256]),
  })
  .strict()
  .refine((c) => c.dim >= 2, {
    message:
      'DeepFM needs dim >= 2 (coordinate 0 is the first-order weight, the rest the FM latent vector)',
    path: ['dim'],
  });

export const fmConfigSchema = z
  .object({
    kind: z.literal('fm'),
    ...common,
  })
  .strict()
  .refine((c) => c.dim >= 2, {
    message:
      'FM needs dim >= 2 (coordinate 0 is the first-order weight, the rest the latent vector)',
    path: ['dim'],
  });

export const modelConfigSchema = z.union([
  dlrmConfigSchema,
  wdlConfigSchema,
  dcnConfigSchema,
  deepfmConfigSchema,
  fmConfigSchema,
]);

export type DlrmConfig = z.output<typeof dlrmConfigSchema>;
export type WdlConfig = z.output<typeof wdlConfigSchema>;
export type DcnConfig = z.output<typeof dcnConfigSchema>;
export type DeepFmConfig = z.output<typeof deepfmConfigSchema>;
export type FmModelConfig = z.output<typeof fmConfigSchema>;
/** A configuration with every default filled in. */
export type ModelConfig = DlrmConfig | WdlConfig | DcnConfig | DeepFmConfig | FmModelConfig;
/** What callers write: layer sizes optional. */
export type ModelConfigInput = z.input<typeof modelConfigSchema>;

/** Validates a configuration and fills in the reference defaults. */
export function parseModelConfig(input: unknown): ModelConfig {
  const kind = (input as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !(MODEL_KINDS as readonly string[]).includes(kind))
    throw new ModelConfigError(
      `model config: kind must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(kind)}`,
    );
  const schema = {
    dlrm: dlrmConfigSchema,
    wdl: wdlConfigSchema,
    dcn: dcnConfigSchema,
    deepfm: deepfmConfigSchema,
    fm: fmConfigSchema,
  }[kind as ModelKind];
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join('.') || '(config)'}: ${i.message}`,
    );
    throw new ModelConfigError(`model config (${kind}): ${problems.join('; ')}`);
  }
  return parsed.data;
}
