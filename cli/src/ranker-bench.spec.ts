// `embpress bench ranker` refuses bad arguments before it generates, trains or starts anything.
import { benchRankerCommand } from './bench/ranker-bench';

describe('bench ranker arguments', () => {
  it('names the bad option', async () => {
    await expect(benchRankerCommand(['--candidates', '0'])).rejects.toThrow(
      'bench ranker: --candidates must be an integer >= 1, got "0"',
    );
    await expect(benchRankerCommand(['--rate', 'fast'])).rejects.toThrow(
      'bench ranker: --rate must be a number >= 0.001, got "fast"',
    );
    await expect(benchRankerCommand(['--arch', 'huge'])).rejects.toThrow(
      'bench ranker: --arch must be one of reference, small, got "huge"',
    );
    await expect(benchRankerCommand(['--nope'])).rejects.toThrow(/nope/);
  });
});
