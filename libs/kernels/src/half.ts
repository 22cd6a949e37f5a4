// IEEE binary16 → f32 for every one of the 65,536 bit patterns (exact: every half is an f32).
// The one table of the repository: libs/compression's fromHalf reads it too.
export const HALF_TO_F32: Float32Array = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h += 1) {
    const sign = (h & 0x8000) !== 0 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
})();
