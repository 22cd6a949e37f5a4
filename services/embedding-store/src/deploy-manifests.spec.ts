// deploy/k8s against the code that reads its settings: every EMBPRESS_* / OTEL_* variable a
// manifest sets must be one the receiving process's config parser accepts (a misspelt name is
// otherwise silently ignored and the default used), with a value it accepts; the shard map
// ConfigMap must parse and name the headless Services that exist.
//
// No YAML dependency: the manifests are read as text, one `---` document at a time, with the
// simple shapes they are written in (`- name: X` followed by `value: ...` or `valueFrom:`).
// The ranker's and retriever's parsers belong to other services (which this project may not
// import), so the checks run in one child process through the CLI's service registry, exactly
// as `embpress serve <name>` parses its environment.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseShardMap } from '@embpress/store-client/shard-map';

const repo = resolve(__dirname, '../../..');
const k8s = join(repo, 'deploy', 'k8s');

interface EnvEntry {
  file: string;
  /** `serve <service>` of the container, or the CLI command (e.g. `train`). */
  command: string;
  name: string;
  /** undefined: from a Secret or another valueFrom. */
  value: string | undefined;
}

function documents(): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const dir of ['base', 'loadtest'])
    for (const file of readdirSync(join(k8s, dir)).filter((f) => f.endsWith('.yaml')))
      for (const text of readFileSync(join(k8s, dir, file), 'utf8').split(/^---$/m))
        out.push({ file: `${dir}/${file}`, text });
  return out;
}

const unquote = (raw: string) =>
  raw
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .replace(/^'(.*)'$/, '$1');

function envEntries(): EnvEntry[] {
  const entries: EnvEntry[] = [];
  for (const { file, text } of documents()) {
    const serve = /args: \[serve, (\w+)\]/.exec(text);
    const listed = /args:\s*\n\s*- (\w+)/.exec(text);
    const command = serve ? `serve ${serve[1]}` : (listed?.[1] ?? '');
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const named = /^\s*- name: ((?:EMBPRESS|OTEL)_[A-Z0-9_]+)\s*$/.exec(line);
      if (named === null) return;
      const next = lines[i + 1] ?? '';
      const literal = /^\s*value: (.*)$/.exec(next);
      if (literal === null && !/^\s*valueFrom:/.test(next))
        throw new Error(`${file}: ${named[1]} has neither value nor valueFrom on the next line`);
      entries.push({
        file,
        command,
        name: named[1] as string,
        value: literal === null ? undefined : unquote(literal[1] as string),
      });
    });
  }
  return entries;
}

interface Verdict {
  recognized: boolean;
  /** Problems with the manifest's value (files that exist only in the pod are not problems). */
  problems: string[];
}

/** Runs every check in one child: the CLI's config loaders + telemetry + log level parsers. */
function judge(entries: EnvEntry[]): Verdict[] {
  const script = `
    const { SERVICES } = require('./cli/src/services');
    const kit = require('@embpress/service-kit/config');
    const { z } = require('zod');
    const MARKER = 'zz-unused-marker-value-zz';
    const parse = (command, env) => {
      const problems = [];
      const results = [];
      const service = command.startsWith('serve ') ? command.slice(6) : undefined;
      const parsers = [
        () => kit.parseTelemetrySettings(env),
        () => kit.parseEnv(z.object({ LOG_LEVEL: kit.logLevel() }), env, 'EMBPRESS'),
      ];
      if (service !== undefined) {
        if (!(service in SERVICES)) throw new Error('unknown service ' + service);
        parsers.push(() => SERVICES[service].loadConfig(env));
      }
      for (const p of parsers) {
        try { results.push(p()); }
        catch (err) { if (err instanceof kit.ConfigError) problems.push(...err.problems); else throw err; }
      }
      return { problems, json: JSON.stringify(results) };
    };
    const entries = JSON.parse(process.argv[1]);
    const verdicts = entries.map(({ command, name, value }) => {
      const marked = parse(command, { [name]: MARKER });
      const recognized = marked.json.includes(MARKER) ||
        marked.problems.some((p) => p.startsWith(name + ':'));
      const problems = value === undefined ? [] : parse(command, { [name]: value }).problems
        .filter((p) => p.startsWith(name + ':') && !/cannot read file/.test(p));
      return { recognized, problems };
    });
    process.stdout.write(JSON.stringify(verdicts));
  `;
  const out = execFileSync(
    process.execPath,
    ['--require', 'tsx/cjs', '-e', script, JSON.stringify(entries)],
    { cwd: repo, encoding: 'utf8', timeout: 60_000 },
  );
  return JSON.parse(out) as Verdict[];
}

describe('deploy/k8s manifests', () => {
  const entries = envEntries();

  it('set only variables their process parses, with values it accepts', () => {
    // The manifests configure all of these; an empty scan would make the check below vacuous.
    const commands = new Set(entries.map((e) => e.command));
    expect([...commands].sort()).toEqual([
      'serve ranker',
      'serve retriever',
      'serve store',
      'train',
    ]);
    expect(entries.length).toBeGreaterThan(30);
    const verdicts = judge(entries);
    const wrong = entries.flatMap((entry, i) => {
      const verdict = verdicts[i] as Verdict;
      const where = `${entry.file} (${entry.command}): ${entry.name}`;
      return [
        ...(verdict.recognized ? [] : [`${where} is not a variable this process reads`]),
        ...verdict.problems.map((p) => `${where}=${entry.value}: ${p}`),
      ];
    });
    expect(wrong).toEqual([]);
  });

  it('catches a misspelt variable (the check itself works)', () => {
    const [verdict] = judge([
      { file: 'x', command: 'serve store', name: 'EMBPRESS_STORE_REGISTY_ROOT', value: '/r' },
    ]);
    expect(verdict).toEqual({ recognized: false, problems: [] });
    const [bad] = judge([
      { file: 'x', command: 'serve store', name: 'EMBPRESS_STORE_WATCH', value: 'yes' },
    ]);
    expect(bad?.recognized).toBe(true);
    expect(bad?.problems).toEqual(['EMBPRESS_STORE_WATCH: expected true or false, got "yes"']);
  });

  it('the shard map parses, names headless Services that exist, and is mounted where the clients read it', () => {
    const text = readFileSync(join(k8s, 'base', 'shard-map.yaml'), 'utf8');
    const json = text.split('shard-map.json: |\n')[1] as string;
    const map = parseShardMap(json, 'shard-map.yaml');
    const headless = new Set(
      documents()
        .filter(({ text: t }) => /kind: Service\n/.test(t) && /clusterIP: None/.test(t))
        .map(({ text: t }) => /metadata:\n\s+name: ([\w-]+)/.exec(t)?.[1]),
    );
    for (const shard of map.shards)
      for (const address of shard.addresses) {
        const host = /^dns:\/\/\/([\w-]+):50051$/.exec(address)?.[1];
        expect(host !== undefined && headless.has(host)).toBe(true);
      }
    const shardMapVars = entries.filter((e) => e.name.endsWith('_STORE_SHARD_MAP'));
    expect(shardMapVars.map((e) => e.command).sort()).toEqual(['serve ranker', 'serve retriever']);
    for (const entry of shardMapVars) {
      const doc = readFileSync(join(k8s, entry.file), 'utf8');
      expect(doc).toContain(
        `mountPath: ${(entry.value as string).replace(/\/shard-map\.json$/, '')}`,
      );
      expect(doc).toContain('name: embpress-shard-map');
    }
  });
});
