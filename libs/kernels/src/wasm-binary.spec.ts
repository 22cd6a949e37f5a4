// The committed src/kernels.wasm must be exactly what assembly/ compiles to with asconfig.json
// (ADR 0015): a change to the AssemblyScript source without `npm run kernels:build` fails here.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASM_PATH } from './wasm';

const root = join(__dirname, '..', '..', '..');

describe('kernels.wasm', () => {
  it('is byte-identical to a fresh build of assembly/ (npm run kernels:build)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernels-build-'));
    try {
      const fresh = join(dir, 'kernels.wasm');
      // The asc CLI in a child process: the compiler is an ES module, this test runs as CommonJS.
      execFileSync(
        process.execPath,
        [
          require.resolve('assemblyscript/bin/asc.js', { paths: [root] }),
          '--config',
          join(root, 'libs/kernels/asconfig.json'),
          '--outFile',
          fresh,
        ],
        { cwd: root, stdio: 'pipe' },
      );
      const committed = readFileSync(WASM_PATH);
      const built = readFileSync(fresh);
      // Compared as a boolean first: a failing toEqual on two Buffers prints every byte.
      expect({ sameBytes: built.equals(committed), built: built.length }).toEqual({
        sameBytes: true,
        built: committed.length,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
