import {
  atLeastOption,
  integerOption,
  listOption,
  numberOption,
  optionalOption,
  oneOfOption,
  positiveOption,
  requiredOption,
  sizesOption,
} from './option-values';
import { UsageError } from './usage-error';

describe('option values', () => {
  it('accepts what they describe', () => {
    expect(numberOption('budget', '0.25', (v) => v > 0 && v <= 1, 'a fraction')).toBe(0.25);
    expect(integerOption('seed', '0', 0)).toBe(0);
    expect(integerOption('chunks', '7', 2, 100)).toBe(7);
    expect(positiveOption('lr', '1e-3')).toBe(0.001);
    expect(atLeastOption('warmup', '0', 0)).toBe(0);
    expect(optionalOption(undefined, Number)).toBeUndefined();
    expect(optionalOption('3', (r) => atLeastOption('k', r, 0))).toBe(3);
    expect(oneOfOption('model', 'fm', ['dlrm', 'fm'] as const)).toBe('fm');
    expect(requiredOption('data', 'x')).toBe('x');
    expect(listOption(' a, ,b ,')).toEqual(['a', 'b']);
    expect(sizesOption('bottom', '64,32')).toEqual([64, 32]);
  });

  it('refuses with a UsageError naming the option, the rule and the value', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => positiveOption('rate', 'fast'), '--rate must be a number > 0, got "fast"'],
      [() => positiveOption('rate', ' '), '--rate must be a number > 0, got " "'],
      [() => positiveOption('rate', 'Infinity'), '--rate must be a number > 0, got "Infinity"'],
      [() => integerOption('dim', '1.5', 1), '--dim must be an integer >= 1, got "1.5"'],
      [() => integerOption('k', '101', 2, 100), '--k must be an integer in [2, 100], got "101"'],
      [
        () => oneOfOption('preset', 'fast', ['auto', 'paper']),
        '--preset must be one of auto, paper, got "fast"',
      ],
      [
        () => atLeastOption('seconds', '0.05', 0.1),
        '--seconds must be a number >= 0.1, got "0.05"',
      ],
      [() => requiredOption('name', ''), '--name is required'],
      [() => sizesOption('top', '64,0'), '--top must be layer sizes like 64,32, got "64,0"'],
    ];
    for (const [parse, message] of cases) {
      expect(parse).toThrow(UsageError);
      expect(parse).toThrow(message);
    }
  });
});
