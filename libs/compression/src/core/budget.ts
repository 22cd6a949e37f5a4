// The reference's bisection helper (docs/methods/reference.md#bisection): g(left) < 0 < g(right);
// halve until right − left ≤ eps. Stops when g(mid) is exactly 0 (the reference would loop
// forever).
import { BudgetError } from './errors';

export function bisect(
  left: number,
  right: number,
  g: (x: number) => number,
  eps = 0.5,
): { left: number; right: number } {
  const gl = g(left);
  const gr = g(right);
  if (!(gl < 0 && gr > 0))
    throw new BudgetError(`no solution in [${left}, ${right}]: g(left)=${gl}, g(right)=${gr}`);
  while (right - left > eps) {
    const mid = (left + right) / 2;
    const gm = g(mid);
    if (gm < 0) left = mid;
    else if (gm > 0) right = mid;
    else return { left: mid, right: mid };
  }
  return { left, right };
}

/** How a budget is counted: our real bytes, or the paper's 32-bit words (its test vectors). */
export type Accounting = 'bytes' | 'paper-words';

export function checkBudget(budget: number): void {
  if (!(budget > 0 && budget <= 1))
    throw new BudgetError(`budget must be in (0, 1], got ${budget}`);
}
