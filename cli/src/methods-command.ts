// `embpress methods [--json]`: every registered compression method with its place in the
// paper's taxonomy.
import { isStagedMethod, registry, type StageSpec } from '@embpress/compression';

export interface MethodListing {
  id: string;
  kind: 'trainable' | 'codec';
  family: string;
  scope: string;
  subClass: string;
  title: string;
  paper: string;
  budgetDriven: boolean;
  /** Needs the training split's id counts. */
  usesFrequencies: boolean;
  /** The stages a multi-stage method declares with its default parameters (empty: one stage). */
  stages: StageSpec[];
}

export function listMethods(): MethodListing[] {
  return registry.list().map((m) => ({
    id: m.id,
    kind: m.kind,
    family: m.family,
    scope: m.taxonomy.scope,
    subClass: m.taxonomy.subClass,
    title: m.title,
    paper: m.paper,
    budgetDriven: m.paramsForBudget !== undefined,
    usesFrequencies: m.usesFrequencies === true,
    stages: isStagedMethod(m) ? [...m.stages(registry.resolve(m.id).params)] : [],
  }));
}

export function methodsCommand(json: boolean): void {
  const methods = listMethods();
  if (json) {
    process.stdout.write(`${JSON.stringify({ methods })}\n`);
    return;
  }
  const rows = methods.map((m) => [
    m.id,
    m.kind,
    m.family,
    `${m.scope} / ${m.subClass}`,
    m.stages.length > 0 ? `${m.title} [${m.stages.map((s) => s.name).join(' → ')}]` : m.title,
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  for (const r of rows)
    process.stdout.write(
      `${r.map((cell, c) => (c < 4 ? cell.padEnd(widths[c] as number) : cell)).join('  ')}\n`,
    );
}
