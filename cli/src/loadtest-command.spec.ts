// `embpress loadtest store-lookup` against a real `embpress serve store` process holding a model
// of two tables: the open-loop runner sends every scheduled request and all of them succeed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry, Rng, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { readyPort, runCli, type CliProcess } from './testing/cli-process';

const DIM = 8;

function int8Table(rows: number, seed: number): CompressedTable {
  const data = new Rng(seed).fillUniform(new Float32Array(rows * DIM), -1, 1);
  const { method, params } = registry.resolve('rowwise-int8');
  if (method.kind !== 'codec') throw new Error('rowwise-int8 is a codec');
  return method.compress(data, { fields: [rows], dim: DIM }, params, { seed: 1 });
}

async function stop(cli: CliProcess): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGTERM');
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 3000);
  await cli.exit;
  clearTimeout(timer);
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}

describe('embpress loadtest', () => {
  let dir: string;
  let store: CliProcess;
  let target: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-loadtest-'));
    const root = join(dir, 'registry');
    const models = new ModelRegistryDir(root);
    models.writeVersion({
      model: 'ctr',
      version: 'v1',
      tables: [tableToWrite('C1', int8Table(1000, 1)), tableToWrite('C2', int8Table(40, 2))],
    });
    models.setActiveVersion('ctr', 'v1');
    store = runCli(['serve', 'store'], {
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_REGISTRY_ROOT: root,
      EMBPRESS_STORE_SHUTDOWN_GRACE_MS: '2000',
      EMBPRESS_SPANS_FILE: join(dir, 'spans.jsonl'),
      EMBPRESS_LOG_LEVEL: 'warn',
    });
    target = `127.0.0.1:${await readyPort(store)}`;
  }, 60_000);

  afterAll(async () => {
    if (store !== undefined) await stop(store);
    rmSync(dir, { recursive: true, force: true });
  });

  it('drives the store at a constant rate: every scheduled request sent and answered', async () => {
    const cli = runCli([
      'loadtest',
      'store-lookup',
      '--target',
      target,
      '--model',
      'ctr',
      '--rate',
      '50',
      '--duration',
      '2',
      '--warmup',
      '0.5',
      '--json',
    ]);
    const { code } = await cli.exit;
    expect({ code, stderr: code === 0 ? '' : cli.stderr() }).toEqual({ code: 0, stderr: '' });
    const report = lastJson(cli.stdout());
    expect(report).toMatchObject({
      scenario: 'store-lookup',
      service: 'store',
      target,
      ratePerSec: 50,
      durationSec: 2,
      errors: 0,
      errorCodes: {},
      detail: {
        tables: [
          { table: 'C1', rows: 1000 },
          { table: 'C2', rows: 40 },
        ],
      },
    });
    // 2 s at 50/s: 100 measured arrivals, each either sent or (if 1000 were outstanding) dropped.
    expect((report.sent as number) + (report.dropped as number)).toBe(100);
    expect(report.completed).toBe(report.sent);
    expect(report.completed as number).toBeGreaterThan(0);
    expect(report.p50Ms as number).toBeGreaterThan(0);
    expect(report.p50Ms as number).toBeLessThanOrEqual(report.p99Ms as number);
    expect(report.p99Ms as number).toBeLessThanOrEqual(report.maxMs as number);
  }, 60_000);

  it('names a model the store does not serve, and exits 1', async () => {
    const cli = runCli(['loadtest', 'store-lookup', '--target', target, '--model', 'nope']);
    expect((await cli.exit).code).toBe(1);
    expect(cli.stderr()).toMatch(/NOT_FOUND.*model "nope"|model "nope" has no active tables/);
  }, 30_000);

  it('rejects bad options with exit 2 and the usage', async () => {
    const cli = runCli(['loadtest', 'store-lookup', '--rate', 'fast', '--json']);
    expect((await cli.exit).code).toBe(2);
    expect(cli.stderr()).toContain('--rate must be a number > 0, got "fast"');
    const unknown = runCli(['loadtest', 'no-such-scenario']);
    expect((await unknown.exit).code).toBe(2);
    expect(unknown.stderr()).toContain('no scenario "no-such-scenario"');
  }, 30_000);
});
