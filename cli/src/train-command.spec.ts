// `embpress train` as a real CLI process on a tiny synthetic Criteo file: the --json summary,
// the version it writes, and a usage error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { runCli } from './testing/cli-process';

async function runTrain(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = runCli(['train', ...args]);
  const { code } = await cli.exit;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

describe('embpress train', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-train-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains DLRM on a Criteo file and prints the summary as the last stdout line', async () => {
    const data = join(dir, 'train.txt');
    await generateSynthetic({ rows: 3000, seed: 3, out: data });
    const out = join(dir, 'models');
    const r = await runTrain([
      '--data',
      `criteo:${data}`,
      '--model',
      'dlrm',
      '--method',
      'qr(collisions=4)',
      '--batch-size',
      '256',
      '--epochs',
      '1',
      '--lr',
      '0.01',
      '--parts',
      '2',
      '--backend',
      'wasm',
      '--out',
      out,
      '--name',
      'ctr',
      '--version',
      'v1',
      '--json',
    ]);
    expect(r.stderr).toMatch(/part 1\/2 .* rows\/s, loss [0-9.]+, .*val AUC [0-9.]+/);
    // The schedule line: the flags given, the rest chosen for the data (patience, optimizer).
    expect(r.stderr).toContain(
      'defaults for 2,572 train rows: batch 256 (flag), up to 1 epoch (flag), 2 parts/epoch (flag), early stop patience 3 parts, adam, lr 0.01 (flag) (10 steps/epoch)',
    );
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<
      string,
      unknown
    >;
    expect(Object.keys(summary).sort()).toEqual(
      [
        'method',
        'budget',
        'memoryBytes',
        'fullBytes',
        'valAuc',
        'testAuc',
        'testLogloss',
        'trainSeconds',
        'samplesPerSec',
        'peakRssBytes',
        'backend',
        'modelDir',
        'schedule',
      ].sort(),
    );
    expect(summary).toMatchObject({
      method: 'qr(collisions=4,aggregator=mul)',
      budget: null,
      backend: 'wasm',
      modelDir: join(out, 'ctr', 'v1'),
      schedule: {
        preset: 'auto',
        trainRows: 2572,
        batchSize: 256,
        epochs: 1,
        partsPerEpoch: 2,
        earlyStopParts: 3,
        optimizer: 'adam',
        lr: 0.01,
      },
    });
    expect(summary.memoryBytes as number).toBeLessThan(summary.fullBytes as number);
    // Learning itself is the engine's test (services/trainer); nine batches only show a number.
    expect(summary.valAuc as number).toBeGreaterThan(0);
    expect(summary.valAuc as number).toBeLessThan(1);
    expect(summary.samplesPerSec as number).toBeGreaterThan(0);
    expect(summary.peakRssBytes as number).toBeGreaterThan(10 * 2 ** 20);
    const manifest = new ModelRegistryDir(out).readVersion('ctr', 'v1').manifest as Record<
      string,
      unknown
    >;
    expect((manifest.metrics as Record<string, unknown>).testAuc).toBe(summary.testAuc);
  });

  it('passes --amsgrad, --dropout, --lr-schedule and --warmup-steps to the run', async () => {
    const data = join(dir, 'levers.txt');
    await generateSynthetic({ rows: 1500, seed: 5, out: data });
    const r = await runTrain([
      ...['--data', `criteo:${data}`, '--model', 'wdl', '--method', 'full', '--dim', '4'],
      ...['--batch-size', '256', '--epochs', '2', '--parts', '1', '--backend', 'wasm'],
      ...['--amsgrad', '--dropout', '0.2', '--lr-schedule', 'cosine', '--warmup-steps', '2'],
      ...['--out', join(dir, 'm-levers'), '--no-checkpoints', '--json'],
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'amsgrad true (flag), dropout 0.2 (flag), lr schedule cosine (flag), warmup 2 steps (flag)',
    );
    expect(r.stderr).toMatch(/lr schedule cosine over 10 steps, linear warmup 2 steps/);
    expect(r.stderr).toMatch(/part 2: lr factor 0\.\d+ at step 10 of 10/);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<
      string,
      unknown
    >;
    expect(summary.schedule).toMatchObject({
      amsgrad: true,
      dropout: 0.2,
      lrSchedule: 'cosine',
      warmupSteps: 2,
    });
  });

  it('rejects a bad flag value with a usage error', async () => {
    const r = await runTrain(['--data', 'criteo:x', '--method', 'full', '--lr', 'fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--lr must be a number > 0');
    const preset = await runTrain(['--data', 'criteo:x', '--method', 'full', '--preset', 'fast']);
    expect(preset.code).toBe(2);
    expect(preset.stderr).toContain('--preset must be one of auto, paper, got "fast"');
    const sizes = await runTrain(['--data', 'criteo:x', '--method', 'full', '--bottom', '8,x']);
    expect(sizes.code).toBe(2);
    expect(sizes.stderr).toContain('--bottom must be layer sizes like 64,32, got "8,x"');
    const drop = await runTrain(['--data', 'criteo:x', '--method', 'full', '--dropout', '1']);
    expect(drop.code).toBe(2);
    expect(drop.stderr).toContain('--dropout must be a rate in [0, 1), got "1"');
    const sched = await runTrain([
      '--data',
      'criteo:x',
      '--method',
      'full',
      '--lr-schedule',
      'step',
    ]);
    expect(sched.code).toBe(2);
    expect(sched.stderr).toContain('--lr-schedule must be one of constant, cosine, linear');
    const acc = await runTrain(['--data', 'criteo:x', '--method', 'qr', '--accounting', 'words']);
    expect(acc.code).toBe(2);
    expect(acc.stderr).toContain('--accounting must be one of bytes, paper, got "words"');
  });

  it('names a missing data file', async () => {
    const missing = join(dir, 'nope.txt');
    const r = await runTrain([
      '--data',
      `criteo:${missing}`,
      '--method',
      'full',
      '--backend',
      'wasm',
      '--out',
      join(dir, 'm2'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.txt');
  });
});
