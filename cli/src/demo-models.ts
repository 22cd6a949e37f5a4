// The embedded default of `npm start` (= `embpress serve all --demo`) and of `embpress bench
// ranker`: a DLRM trained on synthetic Criteo-shaped data, published as model `demo`, and the
// @sap-ux/fiori-docs-embeddings documentation chunks (their text, encoded by the in-project
// TF-IDF + SVD encoder) published as corpus `docs`. These are the names the load-test scenarios
// target (loadtest/scenarios), so a fresh clone can serve, trace and load-test with nothing else.
import { join } from 'node:path';
import { ModelRegistryDir } from '@embpress/model-registry';
import { lazyRequire } from '@embpress/service-kit/config';

type Trainer = typeof import('@embpress/training');
type Corpus = typeof import('@embpress/corpus');

/** Model and corpus names of the embedded default (the load-test scenarios' defaults). */
export const DEMO_MODEL = 'demo';
export const DEMO_CORPUS = 'docs';

/**
 * Publishes the embedded defaults into `registryRoot` unless they already have an active version
 * there (a second `npm start` reuses them; delete the directories to rebuild). The corpus needs
 * the devDependency @sap-ux/fiori-docs-embeddings; without it the corpus is skipped with a note.
 */
export async function ensureDemoModels(
  registryRoot: string,
  workDir: string,
  log: (line: string) => void,
): Promise<void> {
  const dir = new ModelRegistryDir(registryRoot);
  // A start interrupted between export and activation left a complete v1: verify and activate it.
  for (const name of [DEMO_MODEL, DEMO_CORPUS])
    if (dir.activeVersion(name) === undefined && dir.versions(name).includes('v1')) {
      dir.readVersion(name, 'v1');
      dir.setActiveVersion(name, 'v1');
      log(`${name}: activated the existing version v1`);
    }
  const activeModel = dir.activeVersion(DEMO_MODEL);
  if (activeModel === undefined) {
    await lazyRequire<Trainer>('@embpress/training').trainDemoRanker({
      rows: 50_000,
      seed: 1,
      method: 'rowwise-int8',
      arch: 'small',
      registryRoot,
      workDir: join(workDir, 'ranker'),
      model: DEMO_MODEL,
      version: 'v1',
      log,
    });
  } else log(`${DEMO_MODEL}: active version ${activeModel} kept`);

  const activeCorpus = dir.activeVersion(DEMO_CORPUS);
  if (activeCorpus === undefined) {
    const r = lazyRequire<Corpus>('@embpress/corpus');
    let passages;
    try {
      passages = r.readMiniLmCorpus().passages;
    } catch (err) {
      log(`${DEMO_CORPUS}: skipped (${(err as Error).message})`);
      return;
    }
    const result = r.ingestCorpus({
      registryRoot,
      corpus: DEMO_CORPUS,
      version: 'v1',
      passages,
      vectors: { kind: 'lsa', dim: 256, seed: 42 },
      codec: 'rowwise-int8',
      keepFp32: true,
      seed: 42,
    });
    dir.setActiveVersion(DEMO_CORPUS, result.version);
    log(
      `ingested ${DEMO_CORPUS}/${result.version}: ${result.rows} passages × ${result.dim} (TF-IDF + SVD), ${result.spec}`,
    );
  } else log(`${DEMO_CORPUS}: active version ${activeCorpus} kept`);
}
