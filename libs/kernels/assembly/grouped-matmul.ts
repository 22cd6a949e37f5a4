// groupedMatmul: many small products over rows gathered from a table, each group's matrix copied
// out of a (pinned, cold) table first, then run by matmul's `product` (matmul.ts), so every element
// has matmul's bits.
import { product } from './matmul';

/**
 * Many small products, rows gathered: `groups` holds ngroups [matrix, count] i32 pairs; in order,
 * each group's next `count` rows of C are A[rows[i]]·B[matrix], where A is a table of k-float rows
 * and B a table of k × n matrices. `rows` holds one i32 row index per row of C. Each group runs as
 * matmul over its gathered rows (the same blocks), so every element has matmul's bits.
 *
 * Each group's matrix is first copied to `scratch` (k·n floats): B is typically a large pinned
 * table read in place (TT cores), cold in cache, and the blocks walk it down its columns, n·4
 * bytes a step, which the hardware prefetchers serve badly (2.5× slower per row on the dev
 * machine than copying it sequentially first, even for a group of 2 rows).
 */
export function groupedMatmul(
  a: usize,
  rows: usize,
  b: usize,
  groups: usize,
  ngroups: i32,
  bias: usize,
  c: usize,
  k: i32,
  n: i32,
  relu: i32,
  scratch: usize,
): void {
  const matB = <usize>k * ((<usize>n) << 2);
  let r = rows;
  let cp = c;
  for (let g = 0; g < ngroups; g++) {
    const count = load<i32>(groups + ((<usize>g) << 3), 4);
    if (count == 0) continue;
    memory.copy(scratch, b + <usize>load<u32>(groups + ((<usize>g) << 3)) * matB, matB);
    product(a, r, count, scratch, bias, cp, k, n, relu);
    r += (<usize>count) << 2;
    cp += <usize>count * ((<usize>n) << 2);
  }
}
