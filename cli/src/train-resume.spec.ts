// The crash test of issue #4: `embpress train` is killed with SIGKILL once its first checkpoint
// is on disk, `--resume` continues it, and the result equals an uninterrupted run's (same seed:
// the same bytes). Every part the killed run reported was checkpointed, so a kill loses at most
// the part in progress. Across stages (issue #14): a deeplight run killed at its stage boundary,
// and one killed inside its prune stage, resume to the uninterrupted run's table and dense bytes.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { runCli, type CliProcess } from './testing/cli-process';

let dir: string;
let data: string;
let out: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'embpress-train-resume-'));
  data = join(dir, 'train.txt');
  out = join(dir, 'models');
  await generateSynthetic({ rows: 4000, seed: 8, out: data });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A tiny DLRM in 8 parts (2 epochs of 4): fast, and many parts left after the first.
const args = (...extra: string[]) => [
  'train',
  '--data',
  `criteo:${data}`,
  '--method',
  'qr(collisions=4)',
  '--dim',
  '4',
  '--bottom',
  '8',
  '--top',
  '8',
  '--batch-size',
  '100',
  '--epochs',
  '2',
  '--parts',
  '4',
  '--early-stop',
  '10',
  '--lr',
  '0.01',
  '--backend',
  'wasm',
  '--out',
  out,
  '--json',
  ...extra,
];

const summaryOf = (cli: CliProcess) =>
  JSON.parse(cli.stdout().trim().split('\n').pop() as string) as Record<string, unknown>;

const partsReported = (stderr: string) =>
  [...stderr.matchAll(/^part (\d+)\/8 /gm)].map((m) => Number(m[1]));

/** The stage position of the newest complete checkpoint of `version`, if any. */
function newestCheckpoint(
  version: string,
): { part: number; stageIndex: number; stageOver: boolean } | undefined {
  const parts = checkpointsOf(version);
  if (parts.length === 0) return undefined;
  const part = Math.max(...parts);
  const name = `part-${String(part).padStart(6, '0')}`;
  try {
    const meta = JSON.parse(
      readFileSync(join(out, '.checkpoints', 'ctr', version, name, 'checkpoint.json'), 'utf8'),
    ) as { stageIndex: number; stageOver: boolean };
    return { part, stageIndex: meta.stageIndex, stageOver: meta.stageOver };
  } catch {
    return undefined; // rotated away between the listing and the read
  }
}

/** Starts `cliArgs` and kills it with SIGKILL once `when` holds of its newest checkpoint. */
async function killWhen(
  cliArgs: string[],
  version: string,
  when: (c: { part: number; stageIndex: number; stageOver: boolean }) => boolean,
): Promise<CliProcess> {
  const victim = runCli(cliArgs);
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      const c = newestCheckpoint(version);
      if (c !== undefined && when(c)) {
        clearInterval(poll);
        victim.child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    void victim.exit.then(() => {
      clearInterval(poll);
      reject(new Error(`exited before the kill point:\n${victim.stderr()}`));
    });
  });
  expect((await victim.exit).signal).toBe('SIGKILL');
  return victim;
}

function checkpointsOf(version: string): number[] {
  const run = join(out, '.checkpoints', 'ctr', version);
  if (!existsSync(run)) return [];
  return readdirSync(run)
    .filter((n) => /^part-\d{6}$/.test(n))
    .map((n) => Number(n.slice(5)));
}

it('resumes a run killed with SIGKILL to the uninterrupted result', async () => {
  const reference = runCli(args('--version', 'ref'));
  expect((await reference.exit).code).toBe(0);
  const expected = summaryOf(reference);

  const victim = runCli(args('--version', 'v1'));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (checkpointsOf('v1').length > 0) {
        clearInterval(poll);
        victim.child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    void victim.exit.then(() => {
      clearInterval(poll);
      reject(new Error(`exited before its first checkpoint:\n${victim.stderr()}`));
    });
  });
  expect((await victim.exit).signal).toBe('SIGKILL');
  const saved = Math.max(...checkpointsOf('v1'));
  const seen = partsReported(victim.stderr());
  // Checkpoints are written before a part is reported: nothing the user saw is lost.
  expect(saved).toBeGreaterThanOrEqual(Math.max(0, ...seen));
  expect(saved).toBeLessThan(8);

  const resumed = runCli(args('--resume'));
  const { code } = await resumed.exit;
  expect({ code, stderr: code === 0 ? '' : resumed.stderr() }).toEqual({ code: 0, stderr: '' });
  expect(resumed.stderr()).toContain(`resuming after part ${saved} from `);
  // Only the parts after the checkpoint are trained again.
  expect(partsReported(resumed.stderr())).toEqual(
    Array.from({ length: 8 - saved }, (_, i) => saved + 1 + i),
  );
  const got = summaryOf(resumed);
  for (const key of ['method', 'memoryBytes', 'fullBytes', 'valAuc', 'testAuc', 'testLogloss'])
    expect([key, got[key]]).toEqual([key, expected[key]]);
  expect(got.modelDir).toBe(join(out, 'ctr', 'v1'));
  const table = (v: string) => readFileSync(join(out, 'ctr', v, 'tables', 'sparse.emb'));
  expect(table('v1').equals(table('ref'))).toBe(true);
  expect(existsSync(join(out, '.checkpoints', 'ctr', 'v1'))).toBe(false);
}, 120_000);

it('refuses --resume when there is nothing to resume', async () => {
  const cli = runCli(args('--resume', '--name', 'other'));
  expect((await cli.exit).code).toBe(1);
  expect(cli.stderr()).toContain('nothing to resume: no checkpoint of other under');
}, 60_000);

describe('a multi-stage run (deeplight: warm-up 2 parts, prune 4 parts)', () => {
  const staged = (...extra: string[]) =>
    args(...extra).map((a) =>
      a === 'qr(collisions=4)' ? 'deeplight(warmupParts=2)' : a === '2' ? '1' : a,
    );
  const stagedArgs = (...extra: string[]) => [...staged(...extra), '--budget', '0.5'];
  const bytesOf = (v: string) => ({
    table: readFileSync(join(out, 'ctr', v, 'tables', 'sparse.emb')),
    dense: readFileSync(join(out, 'ctr', v, 'dense.weights')),
  });

  it('resumes after SIGKILL at the stage boundary and inside the prune stage to the same bytes', async () => {
    const reference = runCli(stagedArgs('--version', 'staged-ref'));
    expect((await reference.exit).code).toBe(0);
    expect(reference.stderr()).toMatch(/^stage 2\/2: prune$/m);
    expect(reference.stderr()).toMatch(/^part 4\/4 \(epoch 1, stage prune\): /m);
    const expected = bytesOf('staged-ref');

    // At the boundary: the warm-up's last checkpoint (its stage over) is the newest.
    await killWhen(stagedArgs('--version', 'boundary'), 'boundary', (c) => c.stageOver);
    // Inside the prune stage: after its first part's checkpoint.
    await killWhen(stagedArgs('--version', 'inside'), 'inside', (c) => c.stageIndex === 1);
    const inside = newestCheckpoint('inside');
    expect(inside?.stageIndex).toBe(1);
    expect(inside?.part).toBeLessThan(6);

    for (const version of ['boundary', 'inside']) {
      const resumed = runCli(stagedArgs('--resume', '--version', version));
      const { code } = await resumed.exit;
      expect({ version, code, stderr: code === 0 ? '' : resumed.stderr() }).toEqual({
        version,
        code: 0,
        stderr: '',
      });
      expect(resumed.stderr()).toMatch(
        /^resuming after part \d+ from .*\(stage (warmup|prune), part \d+\)$/m,
      );
      const got = bytesOf(version);
      expect(got.table.equals(expected.table)).toBe(true);
      expect(got.dense.equals(expected.dense)).toBe(true);
    }
  }, 240_000);
});
