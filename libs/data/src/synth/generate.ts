// `embpress data synth`: writes Criteo-format TSV (or Avazu-format CSV) rows whose labels come from
// a known model (model.ts), and reports the Bayes-optimal AUC and logloss of the test split, i.e.
// of the true probabilities of the rows the trainer will test on (the paper's split of the
// profile's format: Criteo's 7 chunks, Avazu's last day). Deterministic from the seed; the first
// rows do not depend on --rows (Criteo profile; Avazu's hour follows the row position).
// The file is written to a temp name, fsynced and renamed. A `.gz` name writes gzip.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fsyncDir, tempPathBeside, writeAll } from '../atomic';
import { DataError } from '../errors';
import { logLoss, rocAuc } from '../metrics';
import { Prng } from '../prng';
import { planChunkSplit, planTail, rangeRows, type SplitPlan } from '../splits';
import { combine } from './hash';
import { RowSampler, SyntheticModel, type SynthModelOptions } from './model';
import type { SynthProfileName } from './profiles';

export interface SynthOptions extends Partial<Omit<SynthModelOptions, 'profile' | 'seed'>> {
  rows: number;
  seed: number;
  out: string;
  profile?: SynthProfileName;
  log?: (line: string) => void;
}

export interface SynthReport {
  rows: number;
  out: string;
  profile: SynthProfileName;
  seed: number;
  /** Number of categorical fields. */
  fields: number;
  dense: number;
  /** Value space of each categorical field (the scaled profile; fewer may occur). */
  cardinalities: number[];
  scale: number;
  zipfExponent: number;
  rank: number;
  /** Share of rows labelled 1. */
  positiveRate: number;
  split: { train: number; validation: number; test: number };
  /** ROC-AUC of the true probabilities on the test split: no model can expect more. */
  bayesAuc: number;
  /** Logloss of the true probabilities on the test split. */
  bayesLogloss: number;
  bayesValidationAuc: number;
  bayesValidationLogloss: number;
  bytes: number;
  seconds: number;
}

/** The split the trainer applies to a file of this profile and size. */
export function synthSplit(profile: SynthProfileName, rows: number): SplitPlan {
  return profile === 'criteo'
    ? planChunkSplit(rows, 7)
    : planTail(rows, rows - avazuLastDayStart(rows));
}

const AVAZU_HOURS = 240; // 10 days, like the real data

function avazuHourIndex(i: number, rows: number): number {
  return floor((i * AVAZU_HOURS) / rows);
}

/** First row whose hour falls on the last of the 10 days. */
function avazuLastDayStart(rows: number): number {
  let i = ceil((216 * rows) / AVAZU_HOURS);
  while (i > 0 && avazuHourIndex(i - 1, rows) >= 216) i -= 1;
  while (i < rows && avazuHourIndex(i, rows) < 216) i += 1;
  return i;
}

/** YYMMDDHH from 14102100 (as Avazu's data, 2014-10-21 .. 2014-10-30). */
function avazuHour(i: number, rows: number): string {
  const h = avazuHourIndex(i, rows);
  return `1410${21 + floor(h / 24)}${String(h % 24).padStart(2, '0')}`;
}

const FLUSH_CHARS = 1 << 20;

// Local aliases: global lookups are slow inside jest's vm sandbox, where tests generate many rows.
const { floor, ceil } = Math;
const big = BigInt;

export async function generateSynthetic(options: SynthOptions): Promise<SynthReport> {
  const t0 = performance.now();
  const { rows, seed, out } = options;
  const profileName = options.profile ?? 'criteo';
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new DataError('bad-argument', `rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new DataError('bad-argument', `seed must be an integer in [0, 2^32), got ${seed}`);
  const { log, rows: _r, out: _o, seed: _s, profile: _p, ...modelOptions } = options;
  let model: SyntheticModel;
  try {
    model = SyntheticModel.create({ ...modelOptions, profile: profileName, seed });
  } catch (err) {
    throw new DataError('bad-argument', (err as Error).message);
  }
  const profile = model.profile;
  const rng = new Prng(combine(seed, 0x5eed));
  const sampler = new RowSampler(
    profile,
    model.cardinalities,
    model.options.zipfExponent,
    seed,
    rng,
  );
  const plan = synthSplit(profileName, rows);
  const test = plan.test ?? { start: 0, end: 0 };
  const val = plan.validation;
  const testP = new Float64Array(rangeRows(test));
  const testY = new Float64Array(testP.length);
  const valP = new Float64Array(rangeRows(val));
  const valY = new Float64Array(valP.length);

  const nd = profile.dense.length;
  const nc = profile.categorical.length;
  const dense = new Float64Array(nd);
  const cats = new Array<string>(nc).fill('');
  const gzip = out.endsWith('.gz');
  const tmp = tempPathBeside(out);
  // The output's directory is made as needed (README: `--out var/data/train.txt` on a fresh clone).
  mkdirSync(dirname(out), { recursive: true });
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  let positives = 0;
  try {
    let parts: string[] = [];
    let chars = 0;
    const flush = () => {
      if (parts.length === 0) return;
      const text = Buffer.from(parts.join(''), 'utf8');
      const chunk = gzip ? gzipSync(text) : text; // gzip members concatenate into one valid stream
      writeAll(fd, chunk);
      bytes += chunk.length;
      parts = [];
      chars = 0;
    };
    if (profileName === 'avazu') {
      parts.push(`id,click,${profile.categorical.map((c) => c.name).join(',')}\n`);
    }
    for (let i = 0; i < rows; i += 1) {
      sampler.sample(dense, cats);
      if (profileName === 'avazu') cats[0] = avazuHour(i, rows);
      const p = model.probability(dense, 0, cats, 0);
      const y = rng.next() < p ? 1 : 0;
      positives += y;
      if (i >= test.start && i < test.end) {
        testP[i - test.start] = p;
        testY[i - test.start] = y;
      } else if (i >= val.start && i < val.end) {
        valP[i - val.start] = p;
        valY[i - val.start] = y;
      }
      let line: string;
      if (profileName === 'avazu') {
        // A 64-bit unsigned id, as Avazu's (above 2^53: built from two 32-bit halves).
        const id = (big(rng.nextU32()) << 32n) | big(rng.nextU32());
        line = `${id},${y},${cats.join(',')}\n`;
      } else {
        line = y === 1 ? '1' : '0';
        for (let j = 0; j < nd; j += 1) {
          const v = dense[j] as number;
          line += v !== v ? '\t' : `\t${v}`; // v !== v: NaN (missing); no global lookup
        }
        line += `\t${cats.join('\t')}\n`;
      }
      parts.push(line);
      chars += line.length;
      if (chars >= FLUSH_CHARS) {
        flush();
        // Let timers and signals run during a long generation.
        await new Promise((r) => setImmediate(r));
      }
    }
    flush();
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, out);
    fsyncDir(dirname(out));
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  const report: SynthReport = {
    rows,
    out,
    profile: profileName,
    seed,
    fields: nc,
    dense: nd,
    cardinalities: [...model.cardinalities],
    scale: model.options.scale,
    zipfExponent: model.options.zipfExponent,
    rank: model.options.rank,
    positiveRate: positives / rows,
    split: { train: rangeRows(plan.train), validation: rangeRows(val), test: rangeRows(test) },
    bayesAuc: rocAuc(testP, testY),
    bayesLogloss: logLoss(testP, testY),
    bayesValidationAuc: rocAuc(valP, valY),
    bayesValidationLogloss: logLoss(valP, valY),
    bytes,
    seconds: (performance.now() - t0) / 1000,
  };
  log?.(
    `wrote ${rows} ${profileName} rows to ${out}: positive rate ${report.positiveRate.toFixed(4)}, Bayes test AUC ${report.bayesAuc.toFixed(4)}, logloss ${report.bayesLogloss.toFixed(4)} (${report.seconds.toFixed(1)} s)`,
  );
  return report;
}
