// The method registry: resolves spec strings to (method, validated params) and back, and loads
// artifacts. Methods register themselves in src/methods.ts (one line each).
import { readArtifact, type ArtifactContent } from './artifact';
import { ArtifactError, SpecError } from './errors';
import type { CompressedTable, Method } from './method';
import { formatOne, parseSpec } from './spec';

/** Parameter of codecs that encode their stored values with another codec (hybrids: `a|b`). */
export const INNER_PARAM = 'values';

export interface Resolved {
  method: Method;
  params: Record<string, unknown>;
  /** Canonical spec string (every parameter, schema order). */
  spec: string;
}

export class Registry {
  private readonly byId = new Map<string, Method>();

  constructor(methods: readonly Method[]) {
    for (const method of methods) {
      if (this.byId.has(method.id)) throw new Error(`method "${method.id}" registered twice`);
      this.byId.set(method.id, method);
    }
  }

  list(): Method[] {
    return [...this.byId.values()];
  }

  get(id: string): Method {
    const method = this.byId.get(id);
    if (method === undefined)
      throw new SpecError(`unknown method "${id}"; known: ${[...this.byId.keys()].join(', ')}`);
    return method;
  }

  /** `qr(collisions=4)` → the qr method with validated, defaulted params and its canonical spec. */
  resolve(spec: string): Resolved {
    const parts = parseSpec(spec);
    const [head, ...rest] = parts;
    if (head === undefined) throw new SpecError('empty method spec');
    const method = this.get(head.id);
    const raw: Record<string, unknown> = { ...head.params };
    if (rest.length > 0) {
      if (INNER_PARAM in raw)
        throw new SpecError(
          `${head.id}: give the value codec either as ${INNER_PARAM}= or after "|", not both`,
        );
      raw[INNER_PARAM] = this.resolve(rest.map((p) => formatOne(p.id, p.params)).join('|')).spec;
    }
    const parsed = method.params.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map(
        (i) => `${i.path.join('.') || 'params'}: ${i.message}`,
      );
      throw new SpecError(`${head.id}: ${problems.join('; ')}`);
    }
    const params = parsed.data as Record<string, unknown>;
    return { method, params, spec: this.format(method.id, params) };
  }

  format(id: string, params: Record<string, unknown>): string {
    const { [INNER_PARAM]: inner, ...own } = params;
    const head = formatOne(id, own);
    return typeof inner === 'string' && inner !== '' ? `${head}|${inner}` : head;
  }

  /** Verifies and loads an artifact (bytes of `CompressedTable.encode()`). */
  load(bytes: Uint8Array): CompressedTable {
    return this.loadContent(readArtifact(bytes));
  }

  loadContent(content: ArtifactContent): CompressedTable {
    const method = this.byId.get(content.method);
    if (method === undefined)
      throw new ArtifactError(
        'unknown-method',
        `method "${content.method}" is not known to this build`,
      );
    return method.loadTable(content);
  }
}
