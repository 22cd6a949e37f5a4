// `serve ranker` with EMBPRESS_RANKER_WORKERS=2: two ranker processes share one port (Node
// cluster), each SERVING on its own connections; SIGTERM stops both cleanly (exit 0); a worker
// killed with SIGKILL makes the primary stop the other and exit 1, naming it.
import { execFileSync } from 'node:child_process';
import { grpcFrame, rawGrpc } from '@embpress/service-kit/testing';
import { readyPort, runCli } from '@embpress/cli/testing';

const workersOf = (pid: number) =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((p) => p > 0);

const healthy = async (port: number) =>
  (
    await rawGrpc(`127.0.0.1:${port}`, {
      path: '/grpc.health.v1.Health/Check',
      body: grpcFrame(Buffer.alloc(0)),
    })
  ).grpcStatus;

const env = {
  EMBPRESS_RANKER_PORT: '0',
  EMBPRESS_RANKER_WORKERS: '2',
  EMBPRESS_LOG_FORMAT: 'json',
};

describe('serve ranker with workers', () => {
  it('serves from two processes on one port and stops them both on SIGTERM', async () => {
    const cli = runCli(['serve', 'ranker'], env);
    try {
      const port = await readyPort(cli, 60_000);
      expect(workersOf(cli.child.pid as number)).toHaveLength(2);
      // Each connection is handed to a worker in turn: several fresh ones reach both.
      for (let i = 0; i < 4; i += 1) expect(await healthy(port)).toBe(0);
      expect(cli.stdout()).toContain('ranker SERVING with 2 workers');
      cli.child.kill('SIGTERM');
      expect((await cli.exit).code).toBe(0);
      expect(cli.stdout()).toContain('ranker workers stopped');
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  }, 90_000);

  it('exits 1 naming a worker killed with SIGKILL, the other stopped', async () => {
    const cli = runCli(['serve', 'ranker'], env);
    try {
      await readyPort(cli, 60_000);
      const [victim, other] = workersOf(cli.child.pid as number) as [number, number];
      process.kill(victim, 'SIGKILL');
      const { code } = await cli.exit;
      expect(code).toBe(1);
      expect(cli.stdout()).toMatch(/ranker worker \d+ exited on its own \(signal SIGKILL\)/);
      expect(() => process.kill(other, 0)).toThrow();
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  }, 90_000);
});
