// The Redis side of `embpress bench store --vs redis`: finding redis-server (the Debian package;
// never installed by us), starting it on 127.0.0.1 on a free port without persistence, reading its
// INFO, and loading the seeded rows into it as one key per row holding the float32 blob.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import Redis from 'ioredis';
import { BenchSetupError } from './bench-setup-error';
import { stopChild } from './store-proc';

export const REDIS_PREFIX = 'emb:';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The redis-server executable: `explicit`, else on PATH, else /usr/bin/redis-server. */
export function findRedisServer(explicit?: string, path = process.env.PATH ?? ''): string {
  const candidates =
    explicit !== undefined
      ? [explicit]
      : [
          ...path
            .split(delimiter)
            .filter((d) => d !== '')
            .map((d) => join(d, 'redis-server')),
          '/usr/bin/redis-server',
        ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  throw new BenchSetupError(
    `redis-server not found: apt-get install redis-server (looked for ${candidates.join(', ')})`,
  );
}

/** A port that was free a moment ago (redis-server cannot report the port it bound). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningRedis {
  child: ChildProcess;
  port: number;
  client: Redis;
  version: string;
}

export async function startRedis(
  executable: string,
  children: ChildProcess[],
  log: (line: string) => void,
): Promise<RunningRedis> {
  // The port is picked before redis binds it and could be taken in between: a failed start is
  // retried on a fresh port.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      executable,
      [
        ...['--bind', '127.0.0.1', '--port', String(port), '--protected-mode', 'yes'],
        ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        ...['--logfile', '', '--loglevel', 'warning'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Refused connections while redis starts are expected: the ping loop below retries.
    client.on('error', () => undefined);
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${output.trim()}`);
        try {
          if (client.status !== 'ready') await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          client.disconnect();
          return false;
        }
      }, 10_000);
      const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
      log(`redis-server ${version} on 127.0.0.1:${port} (pid ${child.pid})`);
      return { child, port, client, version };
    } catch (err) {
      client.disconnect();
      await stopChild(child, 'SIGTERM');
      if (attempt >= 3) throw err;
    }
  }
}

export function infoNumber(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (match === null) throw new Error(`redis INFO has no ${field}`);
  return Number(match[1]);
}

/** One key per row holding its float32 blob: MSET in chunks, a few chunks in flight. */
export async function loadRedis(client: Redis, rows: Float32Array, count: number, dim: number) {
  const chunk = 10_000;
  const inFlight: Array<Promise<unknown>> = [];
  for (let start = 0; start < count; start += chunk) {
    const args: Array<string | Buffer> = [];
    for (let r = start; r < Math.min(count, start + chunk); r += 1)
      args.push(
        `${REDIS_PREFIX}${r}`,
        Buffer.from(rows.buffer, rows.byteOffset + r * dim * 4, dim * 4),
      );
    inFlight.push(client.mset(args));
    if (inFlight.length >= 8) await inFlight.shift();
  }
  await Promise.all(inFlight);
}
