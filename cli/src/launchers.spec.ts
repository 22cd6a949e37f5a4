// The launchers that start node for a user set the services' heap flags (docs/adr/0020); the
// list lives in libs/service-kit/src/node-flags.ts, and these files repeat it in their own syntax.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@embpress/service-kit/node-flags';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The node command line's arguments before the script (`--require tsx/cjs` included). */
function nodeOptionsOf(command: string): string[] {
  const words = command.trim().split(/\s+/);
  expect(words[0]).toBe('node');
  const script = words.findIndex((w) => w.replace(/"/g, '').endsWith('main.ts'));
  expect(script).toBeGreaterThan(0);
  return words.slice(1, script);
}

describe('launchers', () => {
  it('bin/embpress starts node with the service flags', () => {
    const exec = read('cli/bin/embpress')
      .split('\n')
      .find((line) => line.startsWith('exec node'));
    expect(exec).toBeDefined();
    const options = nodeOptionsOf((exec as string).slice('exec '.length));
    for (const flag of SERVICE_NODE_FLAGS) expect(options).toContain(flag);
  });

  it("package.json's start and embpress scripts start node with them", () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const name of ['start', 'embpress']) {
      const options = nodeOptionsOf(scripts[name] as string);
      for (const flag of SERVICE_NODE_FLAGS) expect(options).toContain(flag);
    }
  });

  it("the image's entrypoint starts node with them", () => {
    const line = read('deploy/Dockerfile')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT'));
    expect(line).toBeDefined();
    const command = JSON.parse((line as string).slice('ENTRYPOINT'.length)) as string[];
    const options = nodeOptionsOf(command.join(' '));
    for (const flag of SERVICE_NODE_FLAGS) expect(options).toContain(flag);
  });
});
