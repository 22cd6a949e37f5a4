// Method spec strings: `id` or `id(key=value,...)`, hybrids joined by `|` (the right side encodes
// the values the left side stores, e.g. `prune(density=0.2)|rowwise-int8`). The canonical form
// lists every resolved parameter in schema order, so format(parse(s)) is stable.
import { SpecError } from './errors';

export type SpecValue = number | string | boolean;

export interface ParsedSpec {
  id: string;
  params: Record<string, SpecValue>;
}

const ID = /^[a-z][a-z0-9-]*$/;
const KEY = /^[a-zA-Z][a-zA-Z0-9_]*$/;
const TOKEN = /^[A-Za-z0-9_.+-]+$/;

function parseValue(raw: string, where: string): SpecValue {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return Number(raw);
  if (!TOKEN.test(raw))
    throw new SpecError(
      `${where}: value ${JSON.stringify(raw)} must be a number, true/false or a word of [A-Za-z0-9_.+-]`,
    );
  return raw;
}

/** Parses one spec (no `|`). */
export function parseOne(text: string): ParsedSpec {
  const spec = text.trim();
  const open = spec.indexOf('(');
  const id = open < 0 ? spec : spec.slice(0, open);
  if (!ID.test(id)) throw new SpecError(`method id ${JSON.stringify(id)} must match ${ID.source}`);
  const params: Record<string, SpecValue> = {};
  if (open >= 0) {
    if (!spec.endsWith(')')) throw new SpecError(`${JSON.stringify(spec)}: missing ")"`);
    const body = spec.slice(open + 1, -1).trim();
    if (body !== '') {
      for (const part of body.split(',')) {
        const eq = part.indexOf('=');
        if (eq < 0)
          throw new SpecError(`${id}: parameter ${JSON.stringify(part.trim())} needs key=value`);
        const key = part.slice(0, eq).trim();
        if (!KEY.test(key)) throw new SpecError(`${id}: bad parameter name ${JSON.stringify(key)}`);
        if (key in params) throw new SpecError(`${id}: parameter "${key}" given twice`);
        params[key] = parseValue(part.slice(eq + 1).trim(), `${id}.${key}`);
      }
    }
  }
  return { id, params };
}

/** Parses a spec, hybrids included: `a(x=1)|b` → [{id:a,...}, {id:b,...}]. */
export function parseSpec(text: string): ParsedSpec[] {
  if (text.trim() === '') throw new SpecError('empty method spec');
  return text.split('|').map(parseOne);
}

export function formatOne(id: string, params: Record<string, unknown>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length === 0 ? id : `${id}(${parts.join(',')})`;
}
