import { z } from 'zod';
import { flag, parseEnv } from './env';

describe('flag', () => {
  const parse = (value: string | undefined, fallback = false) =>
    parseEnv(z.object({ WATCH: flag(fallback) }), { X_WATCH: value }, 'X').WATCH;

  it('reads true/1 and false/0 in any case, unset or empty as the fallback', () => {
    expect(parse('true')).toBe(true);
    expect(parse(' 1 ')).toBe(true);
    expect(parse('TRUE')).toBe(true);
    expect(parse('false', true)).toBe(false);
    expect(parse('0', true)).toBe(false);
    expect(parse(undefined, true)).toBe(true);
    expect(parse('', false)).toBe(false);
  });

  it('names the variable and the value it refuses', () => {
    expect(() => parse('yes')).toThrow('X_WATCH: expected true or false, got "yes"');
  });
});
