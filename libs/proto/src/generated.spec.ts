import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { reflectionPackageDefinition } from './descriptor';

const workspace = join(__dirname, '..', '..', '..');
const committed = join(workspace, 'libs', 'proto', 'src', 'gen');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

describe('generated contracts', () => {
  it('are up to date with proto/ (run `npm run proto:generate` when this fails)', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'embpress-proto-check-'));
    try {
      execFileSync(
        process.execPath,
        [join(workspace, 'tools', 'proto-generate.cjs'), '--root', scratch],
        {
          cwd: workspace,
          stdio: 'pipe',
        },
      );
      const fresh = join(scratch, 'libs', 'proto', 'src', 'gen');
      const freshFiles = listFiles(fresh)
        .map((f) => relative(fresh, f))
        .sort();
      const committedFiles = listFiles(committed)
        .map((f) => relative(committed, f))
        .sort();
      expect(committedFiles).toEqual(freshFiles);
      for (const file of freshFiles) {
        const same = readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)));
        if (!same)
          throw new Error(`libs/proto/src/gen/${file} is stale: run npm run proto:generate`);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('describe every service for reflection', () => {
    const services = Object.keys(reflectionPackageDefinition()).filter(
      (name) => name.endsWith('Service') || name === 'grpc.health.v1.Health',
    );
    expect(services.sort()).toEqual([
      'embpress.ranker.v1.RankerService',
      'embpress.retriever.v1.RetrieverService',
      'embpress.store.v1.EmbeddingStoreService',
      'embpress.trainer.v1.TrainerService',
      'grpc.health.v1.Health',
    ]);
  });
});
