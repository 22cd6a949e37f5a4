// Checkpoints and resume of the training engine on a small synthetic Criteo file.
// A crash is simulated by a progress listener that throws after a part's checkpoint is written
// (the engine writes it before it reports the part); the resumed run must end exactly where an
// uninterrupted run ends.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { CheckpointRun } from './checkpoint';
import { train, type TrainOptions, type TrainProgress, type TrainResult } from './train';

const TINY = { dim: 4, bottom: [8], top: [8] };

let dir: string;
let file: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-resume-'));
  file = join(dir, 'train.txt');
  await generateSynthetic({ rows: 3000, seed: 4, out: file });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(overrides: Partial<TrainOptions>): TrainOptions {
  return {
    data: `criteo:${file}`,
    model: 'dlrm',
    modelOverrides: TINY,
    method: 'qr(collisions=4)',
    epochs: 2,
    batchSize: 100,
    lr: 0.01,
    optimizer: 'adam',
    partsPerEpoch: 3,
    earlyStopParts: 10,
    seed: 9,
    backend: 'wasm',
    registryRoot: join(dir, 'models'),
    modelName: 'ctr',
    ...overrides,
  };
}

class Crash extends Error {}

/** Runs until part `after` is reported, then throws (the checkpoint of that part exists). */
async function crashAfter(after: number, overrides: Partial<TrainOptions>): Promise<void> {
  await expect(
    train(
      options({
        ...overrides,
        onProgress: (e) => {
          if (e.kind === 'part' && e.part === after) throw new Crash(`crash after part ${after}`);
        },
      }),
    ),
  ).rejects.toBeInstanceOf(Crash);
}

function tableBytes(version: string): Buffer {
  const v = new ModelRegistryDir(join(dir, 'models')).readVersion('ctr', version);
  return Buffer.from(v.tables.get('sparse') as Uint8Array);
}

describe('checkpoints and --resume', () => {
  let reference: TrainResult;

  beforeAll(async () => {
    reference = await train(options({ version: 'ref' }));
  });

  it('resumes after a crash to exactly the uninterrupted result', async () => {
    await crashAfter(2, { version: 'r1' });
    const run = CheckpointRun.of(join(dir, 'models'), 'ctr', 'r1');
    expect(run.parts()).toEqual(['part-000002', 'part-000001']);
    expect(readdirSync(run.dir).filter((n) => n.startsWith('.tmp'))).toEqual([]);

    const events: TrainProgress[] = [];
    // No version given: the newest run of the model is resumed (and keeps its version).
    const resumed = await train(options({ resume: true, onProgress: (e) => events.push(e) }));
    expect(resumed.resumedFromPart).toBe(2);
    expect(resumed.modelDir).toBe(join(dir, 'models', 'ctr', 'r1'));
    expect(
      events.filter((e) => e.kind === 'part').map((e) => (e.kind === 'part' ? e.part : 0)),
    ).toEqual([3, 4, 5, 6]);
    expect(resumed.metrics).toEqual(reference.metrics);
    expect(resumed.bestPart).toBe(reference.bestPart);
    expect(resumed.samplesTrained).toBe(reference.samplesTrained);
    expect(tableBytes('r1').equals(tableBytes('ref'))).toBe(true);
    expect(Array.from(resumed.test.predictions)).toEqual(Array.from(reference.test.predictions));
    // The run's checkpoints go once its version is exported.
    expect(existsSync(run.dir)).toBe(false);
  });

  it('resumes a run with a cosine schedule, warmup, amsgrad and dropout to exactly the uninterrupted result', async () => {
    // The learning rates are a function of the global step (the dense optimizer's, restored from
    // the checkpoint), the dropout masks of (seed, step), amsgrad's maximum is a checkpointed slot.
    const levers = {
      lrSchedule: 'cosine',
      warmupSteps: 7,
      amsgrad: true,
      dropout: 0.2,
    } as const satisfies Partial<TrainOptions>;
    const logs: string[] = [];
    const ref = await train(
      options({
        ...levers,
        version: 'lev-ref',
        checkpoints: false,
        onProgress: (e) => e.kind === 'log' && logs.push(e.message),
      }),
    );
    expect(ref.manifest).toMatchObject({
      training: { lrSchedule: 'cosine', warmupSteps: 7, amsgrad: true, dropout: 0.2 },
    });
    // The log names the schedule.
    expect(logs.join('\n')).toMatch(/lr schedule cosine over \d+ steps, linear warmup 7 steps/);
    expect(ref.metrics).not.toEqual(reference.metrics);
    await crashAfter(3, { ...levers, version: 'lev' });
    await expect(train(options({ resume: true, version: 'lev' }))).rejects.toThrow(/other options/);
    const resumed = await train(options({ ...levers, resume: true, version: 'lev' }));
    expect(resumed.resumedFromPart).toBe(3);
    expect(resumed.metrics).toEqual(ref.metrics);
    expect(tableBytes('lev').equals(tableBytes('lev-ref'))).toBe(true);
  });

  it('resumes a run killed after its last part straight to test and export', async () => {
    await crashAfter(6, { version: 'r5' });
    const parts: TrainProgress[] = [];
    const resumed = await train(
      options({
        resume: true,
        version: 'r5',
        onProgress: (e) => e.kind === 'part' && parts.push(e),
      }),
    );
    expect(resumed.resumedFromPart).toBe(6);
    expect(parts).toEqual([]);
    expect(resumed.metrics).toEqual(reference.metrics);
    expect(tableBytes('r5').equals(tableBytes('ref'))).toBe(true);
  });

  it("starts a version afresh without --resume, dropping an earlier run's checkpoints", async () => {
    await crashAfter(3, { version: 'r6' });
    await crashAfter(1, { version: 'r6' });
    const run = CheckpointRun.of(join(dir, 'models'), 'ctr', 'r6');
    expect(run.parts()).toEqual(['part-000001']);
    expect((await train(options({ resume: true, version: 'r6' }))).resumedFromPart).toBe(1);
  });

  it('refuses to resume with other options, naming what differs', async () => {
    await crashAfter(1, { version: 'r2' });
    await expect(train(options({ resume: true, version: 'r2', lr: 0.02 }))).rejects.toThrow(
      /other options \(lr: 0\.01 \(checkpoint\) vs 0\.02 \(now\)\)/,
    );
    await expect(train(options({ resume: true, version: 'nope' }))).rejects.toThrow(
      /nothing to resume: no checkpoint of ctr\/nope/,
    );
  });

  it('falls back to the previous checkpoint when the newest is damaged', async () => {
    await crashAfter(3, { version: 'r3' });
    const run = CheckpointRun.of(join(dir, 'models'), 'ctr', 'r3');
    const damaged = join(run.dir, 'part-000003', 'table.state');
    const bytes = readFileSync(damaged);
    writeFileSync(damaged, bytes.subarray(0, bytes.length - 7));
    const logs: string[] = [];
    const resumed = await train(
      options({
        resume: true,
        version: 'r3',
        onProgress: (e) => e.kind === 'log' && logs.push(e.message),
      }),
    );
    expect(logs.join('\n')).toContain(`checkpoint file ${damaged} has`);
    expect(resumed.resumedFromPart).toBe(2);
    expect(resumed.metrics).toEqual(reference.metrics);
  });

  it('names the damaged file when no checkpoint is usable', async () => {
    await crashAfter(1, { version: 'r4' });
    const meta = join(
      CheckpointRun.of(join(dir, 'models'), 'ctr', 'r4').dir,
      'part-000001',
      'checkpoint.json',
    );
    writeFileSync(meta, '{"format": "embpress-train-');
    await expect(train(options({ resume: true, version: 'r4' }))).rejects.toThrow(
      `checkpoint ${meta} is unreadable`,
    );
  });
});
