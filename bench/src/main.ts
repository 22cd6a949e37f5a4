// `node --require tsx/cjs bench/src/main.ts <what> [...]`: the benchmarks without the rest of the
// CLI (what `embpress bench <what>` runs; this project's specs run it as a process).
import { benchCommand } from './bench-command';

benchCommand(process.argv.slice(2));
