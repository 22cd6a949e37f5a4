// Golden artifacts: files written once by an earlier build must load forever, serving the same
// rows. To add a method: add an entry below and run once with EMBPRESS_WRITE_GOLDEN=1 (it writes
// only MISSING files; an existing golden file is never rewritten), then commit the files.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SparseOptimizer } from './core/optim';
import { Rng } from './core/rng';
import type { TableShape } from './core/shape';
import { registry } from './methods';

interface Golden {
  name: string;
  spec: string;
  shape: TableShape;
}

const SHAPE: TableShape = { fields: [40, 9, 300], dim: 8 };
const SPECS: Array<[string, string]> = [
  ['full-v1', 'full'],
  ['hash-v1', 'hash(rows=100)'],
  ['qr-v1', 'qr(collisions=4)'],
  ['robe-v1', 'robe(size=500)'],
  ['tt-v1', 'tt(rank=3)'],
  ['dhe-v1', 'dhe(hidden=8,hashes=16,buckets=1000)'],
  ['mde-v1', 'mde(alpha=0.3)'],
  ['int8-v1', 'int8'],
  ['int16-v1', 'int16'],
  ['alpt-v1', 'alpt(bits=8)'],
  ['fp16-v1', 'fp16'],
  ['rowwise-int8-v1', 'rowwise-int8'],
  ['rowwise-int4-v1', 'rowwise-int4'],
  ['pq-v1', 'pq(subvectors=4,bits=4)'],
  ['prune-v1', 'prune(density=0.3)'],
  ['prune-rowwise-int8-v1', 'prune(density=0.3)|rowwise-int8'],
  ['svd-v1', 'svd(rank=3)'],
  ['ivf-v1', 'ivf(nlist=8,nprobe=2)|rowwise-int8'],
];
export const GOLDEN: Golden[] = SPECS.map(([name, spec]) => ({ name, spec, shape: SHAPE }));

const dir = join(__dirname, '__golden__');
const PROBE = Uint32Array.of(0, 1, 39, 40, 48, 49, 200, 348);

function buildTable(g: Golden) {
  const { method, params } = registry.resolve(g.spec);
  if (method.kind === 'trainable') {
    const t = method.createTrainable(g.shape, params, {
      seed: 7,
      optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.01 }),
    });
    const rng = new Rng(3);
    for (let step = 0; step < 3; step += 1) {
      const ids = Uint32Array.from({ length: 16 }, () => rng.int(0, 349));
      t.backward(
        ids,
        new Float32Array(ids.length * g.shape.dim).map(() => rng.normal()),
      );
    }
    return t.toTable();
  }
  const rng = new Rng(5);
  const data = new Float32Array(349 * g.shape.dim).map(() => 0.01 * rng.normal());
  return method.compress(data, g.shape, params, { seed: 7 });
}

/**
 * Golden tables whose rows are computed with f32 sums (libs/kernels' matmul) since issue #13,
 * where the golden files were written by float64 loops: max |row − golden| allowed, relative to
 * the probe rows' largest |value| (the per-method bound of docs/methods/tt.md and dhe.md).
 */
const F32_KERNEL_ROWS: Record<string, number> = { 'tt-v1': 1e-5, 'dhe-v1': 1e-5 };

describe('golden artifacts', () => {
  for (const g of GOLDEN) {
    it(`${g.name} (${g.spec}) still loads and serves the same rows`, () => {
      const file = join(dir, `${g.name}.emb`);
      const expectedFile = join(dir, `${g.name}.json`);
      if (!existsSync(file)) {
        if (process.env.EMBPRESS_WRITE_GOLDEN !== '1')
          throw new Error(`missing golden file ${file}: run once with EMBPRESS_WRITE_GOLDEN=1`);
        const table = buildTable(g);
        const rows = new Float32Array(PROBE.length * g.shape.dim);
        table.lookup(PROBE, rows);
        writeFileSync(file, table.encode());
        writeFileSync(
          expectedFile,
          `${JSON.stringify({ spec: table.spec, probe: Array.from(PROBE), rows: Array.from(rows) })}\n`,
        );
      }
      const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as {
        spec: string;
        probe: number[];
        rows: number[];
      };
      const table = registry.load(new Uint8Array(readFileSync(file)));
      expect(table.spec).toBe(expected.spec);
      const rows = new Float32Array(expected.probe.length * table.dim);
      table.lookup(Uint32Array.from(expected.probe), rows);
      const tolerance = F32_KERNEL_ROWS[g.name];
      if (tolerance === undefined) {
        expect(Array.from(rows)).toEqual(expected.rows);
        return;
      }
      // Rows computed by the kernels' f32 matmul since issue #13, written by float64 loops
      // before: the same rows up to f32 rounding of the sums (docs/methods/<method>.md).
      const scale = Math.max(...expected.rows.map(Math.abs));
      rows.forEach((v, i) =>
        expect(Math.abs(v - (expected.rows[i] as number))).toBeLessThanOrEqual(tolerance * scale),
      );
    });
  }
});
