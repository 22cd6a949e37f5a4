// manifest.json of a model version (docs/adr/0006): what the trainer exported and the store
// serves. Validated with zod on every read; unknown top-level fields are kept for the models that
// need more (feature mapping, dense weights: trainer issue #4).
import { z } from 'zod';

export const MANIFEST_FORMAT = 'embpress.model/v1';
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const name = (what: string) =>
  z
    .string()
    .regex(
      NAME,
      `${what} must be 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit`,
    );

export const tableEntrySchema = z
  .object({
    name: name('table name'),
    /** Path of the artifact, relative to the version directory, inside it. */
    file: z
      .string()
      .regex(
        /^tables\/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.emb$/,
        'table file must be tables/<name>.emb',
      ),
    method: z.string().min(1),
    spec: z.string().min(1),
    rows: z.number().int().positive(),
    dim: z.number().int().positive(),
    /** memoryBytes() of the table once loaded. */
    memoryBytes: z.number().int().nonnegative(),
    /** Size and SHA-256 of the artifact file. */
    fileBytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

/**
 * Every other file of the version (dense weights, vocabulary...): its size and SHA-256, verified
 * before anything serves it. Absent in manifests written before 2026-12-06 (their extra files
 * were not hashed; they still load).
 */
export const fileEntrySchema = z
  .object({
    /** Relative to the version directory, inside it. */
    file: z
      .string()
      .regex(
        /^(?!\.)[A-Za-z0-9_.-]+(\/(?!\.)[A-Za-z0-9_.-]+)*$/,
        'file must be a relative path inside the version',
      ),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    model: name('model name'),
    version: name('version'),
    createdAt: z.string().datetime(),
    tables: z.array(tableEntrySchema).min(1),
    files: z.array(fileEntrySchema).optional(),
  })
  .passthrough()
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.tables.forEach((t, i) => {
      if (seen.has(t.name))
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'name'],
          message: `table "${t.name}" appears twice`,
        });
      seen.add(t.name);
      if (t.file !== `tables/${t.name}.emb`)
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'file'],
          message: `must be tables/${t.name}.emb`,
        });
    });
  });

export type TableEntry = z.infer<typeof tableEntrySchema>;
export type FileEntry = z.infer<typeof fileEntrySchema>;
export type Manifest = z.infer<typeof manifestSchema>;
