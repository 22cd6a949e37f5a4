// Strict parsers of single fields. `Number()` alone would accept " 5", "0x1f", "1e3" and "" (as
// 0): a dataset with such values is more likely broken than meant, so they are refused.

// Local aliases: global lookups are slow inside jest's vm sandbox, where tests parse many rows.
const toNumber = Number;
const NAN = Number.NaN;

/** Decimal integer with an optional sign; NaN when the text is anything else. */
export function parseStrictInteger(s: string): number {
  const n = s.length;
  if (n === 0 || n > 16) return n > 16 && /^[+-]?\d+$/.test(s) ? toNumber(s) : NAN;
  let i = 0;
  const c0 = s.charCodeAt(0);
  if (c0 === 45 /* - */ || c0 === 43 /* + */) {
    if (n === 1) return NAN;
    i = 1;
  }
  for (; i < n; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return NAN;
  }
  return toNumber(s);
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Decimal number (integer, fraction, exponent); NaN when the text is anything else. */
export function parseStrictNumber(s: string): number {
  const i = parseStrictInteger(s);
  if (i === i) return i; // not NaN
  return DECIMAL.test(s) ? toNumber(s) : NAN;
}

const U64_MAX = '18446744073709551615';

/** An unsigned 64-bit decimal integer (Avazu's `id`), checked as text: it exceeds 2^53. */
export function isUnsigned64(s: string): boolean {
  if (s.length === 0 || s.length > 20) return false;
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length < 20 || s <= U64_MAX;
}

/**
 * Splits one line of RFC 4180 CSV: fields may be double-quoted, `""` inside quotes is a quote.
 * With `trim`, spaces around a quoted field are allowed (files separated by ", "). Returns an
 * error text for an unterminated quote (a quoted field may not span lines) or text after a
 * closing quote.
 */
export function splitQuoted(
  line: string,
  delimiter: string,
  trim = false,
): string[] | { error: string } {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  const d = delimiter.charCodeAt(0);
  let i = 0;
  const n = line.length;
  const skipSpaces = (k: number) => {
    if (trim) while (k < n && line.charCodeAt(k) === 32) k += 1;
    return k;
  };
  for (;;) {
    const q0 = skipSpaces(i);
    if (line.charCodeAt(q0) === 34 /* " */) {
      i = q0;
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return { error: `unterminated quoted field starting at column ${i + 1}` };
        value += line.slice(j, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          j = q + 2;
          continue;
        }
        i = skipSpaces(q + 1);
        break;
      }
      out.push(value);
      if (i === n) return out;
      if (line.charCodeAt(i) !== d)
        return { error: `text after the closing quote at column ${i + 1}` };
      i += 1;
    } else {
      const next = line.indexOf(delimiter, i);
      if (next < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, next));
      i = next + 1;
    }
    if (i === n && line.charCodeAt(n - 1) === d) {
      out.push('');
      return out;
    }
  }
}
