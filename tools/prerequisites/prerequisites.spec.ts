// The decision of tools/ensure-install.cjs, on made-up machines: `which` is injected.
import { PREREQUISITES, plan, which } from './prerequisites.cjs';

type Machine = Parameters<typeof plan>[0];

const ALL = ['openssl', 'redis-server', 'chromium'];

const debianRoot = (present: string[], task: 'test' | 'start' = 'test'): Machine => ({
  task,
  which: (command) => (present.includes(command) ? `/usr/bin/${command}` : undefined),
  nodeVersion: '20.19.0',
  isRoot: true,
  hasApt: true,
  isMac: false,
});

describe('plan', () => {
  it('does nothing when every program is there', () => {
    expect(plan(debianRoot(ALL))).toEqual({ action: 'ok' });
  });

  it('needs nothing but Node for npm start', () => {
    expect(PREREQUISITES.start).toEqual([]);
    expect(plan(debianRoot([], 'start'))).toEqual({ action: 'ok' });
  });

  it('installs what is missing with apt-get when root on Debian', () => {
    expect(plan(debianRoot(['openssl', 'chromium']))).toEqual({
      action: 'install',
      packages: ['redis-server'],
      command: 'apt-get update && apt-get install -y redis-server',
    });
    expect(plan(debianRoot([]))).toMatchObject({
      packages: ['openssl', 'redis-server', 'chromium'],
    });
    expect(plan(debianRoot(['openssl', 'redis-server']))).toMatchObject({
      packages: ['chromium'],
      command: 'apt-get update && apt-get install -y chromium',
    });
  });

  it('stops naming the sudo apt-get command when not root on Debian', () => {
    const decision = plan({ ...debianRoot(['openssl', 'chromium']), isRoot: false });
    expect(decision.action).toBe('stop');
    const message = decision.action === 'stop' ? decision.message : '';
    expect(message).toContain('redis-server: the peer of the store-vs-Redis benchmark test');
    expect(message).toContain('Run: sudo apt-get update && sudo apt-get install redis-server');
    expect(message).not.toContain('openssl');
  });

  it('names brew on macOS and the Debian command elsewhere', () => {
    const mac = plan({ ...debianRoot([]), hasApt: false, isRoot: false, isMac: true });
    expect(mac).toMatchObject({ action: 'stop' });
    expect(mac.action === 'stop' && mac.message).toContain(
      'Run: brew install openssl redis chromium',
    );
    const other = plan({ ...debianRoot([]), hasApt: false, isRoot: true });
    expect(other.action === 'stop' && other.message).toContain(
      'install openssl and redis-server and chromium with your package manager (Debian/Ubuntu: apt-get update && apt-get install openssl redis-server chromium)',
    );
  });

  it('stops on a Node older than package.json allows', () => {
    const old = plan({ ...debianRoot(ALL), nodeVersion: '20.9.0' });
    expect(old.action === 'stop' && old.message).toContain('Node 20.10 or newer is needed');
    expect(plan({ ...debianRoot(ALL), nodeVersion: '22.1.0' })).toEqual({
      action: 'ok',
    });
  });
});

describe('which', () => {
  it('finds an executable on PATH and nothing on an empty PATH', () => {
    expect(which('node', process.env.PATH)).toMatch(/node$/);
    expect(which('node', '')).toBeUndefined();
    expect(which('surely-not-a-program-embpress', process.env.PATH)).toBeUndefined();
  });
});
