// The validation cursor of `validationStep` stages: full batches of the validation split in order,
// cycling, and a position a checkpoint can restore.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, type PreparedDataset } from '@embpress/data';
import { openDataset } from './dataset-input';
import { ValidationCursor } from './validation-cursor';

let dir: string;
let ds: PreparedDataset;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-cursor-'));
  const file = join(dir, 'train.txt');
  await generateSynthetic({ rows: 2000, seed: 3, out: file });
  ds = await openDataset({
    data: `criteo:${file}`,
    cacheRoot: join(dir, 'c'),
    log: () => undefined,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('cycles over the full validation batches and resumes at its position', async () => {
  const size = 32;
  const perPass = Math.floor(ds.split('validation').rows / size);
  expect(perPass).toBeGreaterThan(2);
  const reference: Uint32Array[] = [];
  for await (const b of ds.batches('validation', { batchSize: size, dropLast: true }))
    reference.push(b.sparse.slice());
  const cursor = new ValidationCursor(ds, size);
  const seen: Uint32Array[] = [];
  for (let i = 0; i < perPass + 2; i += 1)
    seen.push((await cursor.next())?.sparse.slice() ?? new Uint32Array(0));
  expect(cursor.position).toBe(perPass + 2);
  expect(seen.slice(0, perPass)).toEqual(reference);
  expect(seen[perPass]).toEqual(reference[0]);
  expect(seen[perPass + 1]).toEqual(reference[1]);
  await cursor.close();
  // A cursor restored at a position hands out what the first one did next.
  const resumed = new ValidationCursor(ds, size, perPass + 1);
  expect((await resumed.next())?.sparse).toEqual(reference[1]);
  await resumed.close();
});
