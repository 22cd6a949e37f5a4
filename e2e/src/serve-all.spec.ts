// `embpress serve all`: four real services as child processes; Ctrl-C (SIGINT to the whole
// process group, as a terminal sends it) stops them all cleanly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { healthStatus } from '@embpress/service-kit/testing';
import { isAlive, runCli, waitForOutput } from '@embpress/cli/testing';

interface Line {
  msg?: string;
  services?: Record<string, { address: string; pid: number }>;
}

describe('embpress serve all', () => {
  it('starts the four services, all SERVING, and stops them all on Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-all-'));
    const ports = {
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_TRAINER_PORT: '0',
      EMBPRESS_RANKER_PORT: '0',
      EMBPRESS_RETRIEVER_PORT: '0',
    };
    const cli = runCli(
      ['serve', 'all'],
      { ...ports, EMBPRESS_SPANS_FILE: join(dir, 'spans.jsonl') },
      { detached: true },
    );
    try {
      await waitForOutput(cli, (out) => out.includes('all services SERVING'), 60_000);
      const summary = cli
        .stdout()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Line)
        .find((line) => line.msg === 'all services SERVING');
      const services = summary?.services ?? {};
      expect(Object.keys(services).sort()).toEqual(['ranker', 'retriever', 'store', 'trainer']);
      for (const { address } of Object.values(services))
        expect(await healthStatus(address)).toBe('SERVING');

      process.kill(-(cli.child.pid as number), 'SIGINT'); // the terminal's Ctrl-C
      const { code } = await cli.exit;
      expect(code).toBe(0);
      expect(cli.stdout()).toContain('all services stopped');
      for (const { pid } of Object.values(services)) expect(isAlive(pid)).toBe(false);
    } finally {
      if (cli.child.exitCode === null) process.kill(-(cli.child.pid as number), 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
