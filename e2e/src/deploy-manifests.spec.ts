// deploy/k8s against the code that reads its settings: every EMBPRESS_* / OTEL_* variable a
// manifest sets must be one the receiving process's config parser accepts (a misspelt name is
// otherwise silently ignored and the default used), with a value it accepts; the shard map
// ConfigMap must parse and name the headless Services that exist.
//
// No YAML dependency: the manifests are read as text, one `---` document at a time, with the
// simple shapes they are written in (`- name: X` followed by `value: ...` or `valueFrom:`).
// Each container is judged by the parsers its process runs: the service's config loader from
// the CLI's service registry (what `embpress serve <name>` calls), the telemetry settings and the
// log level.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { SERVICES } from '@embpress/cli/services';
import {
  ConfigError,
  logLevel,
  parseEnv,
  parseTelemetrySettings,
  type Env,
} from '@embpress/service-kit/config';
import { parseShardMap } from '@embpress/store-client/shard-map';

const repo = resolve(__dirname, '../..');
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

/** Every parser `command` runs on `env`: the problems they report and what they parsed. */
function parse(command: string, env: Env): { problems: string[]; json: string } {
  const parsers: Array<() => unknown> = [
    () => parseTelemetrySettings(env),
    () => parseEnv(z.object({ LOG_LEVEL: logLevel() }), env, 'EMBPRESS'),
  ];
  if (command.startsWith('serve ')) {
    const service = command.slice('serve '.length);
    if (!(service in SERVICES)) throw new Error(`unknown service in "${command}"`);
    parsers.push(() => SERVICES[service as keyof typeof SERVICES].loadConfig(env));
  }
  const problems: string[] = [];
  const results: unknown[] = [];
  for (const p of parsers) {
    try {
      results.push(p());
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  return { problems, json: JSON.stringify(results) };
}

const MARKER = 'zz-unused-marker-value-zz';

/**
 * A variable is recognized when a marker value shows up in what was parsed or is refused by
 * name; its manifest value must draw no problem (files that exist only in the pod aside).
 */
function judge(entries: EnvEntry[]): Verdict[] {
  return entries.map(({ command, name, value }) => {
    const marked = parse(command, { [name]: MARKER });
    const recognized =
      marked.json.includes(MARKER) || marked.problems.some((p) => p.startsWith(`${name}:`));
    const problems =
      value === undefined
        ? []
        : parse(command, { [name]: value }).problems.filter(
            (p) => p.startsWith(`${name}:`) && !/cannot read file/.test(p),
          );
    return { recognized, problems };
  });
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
