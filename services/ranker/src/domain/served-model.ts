// One model version as the ranker serves it: the dense network (tfjs, from dense.weights) and the
// feature mapping (vocabulary.json + the manifest's dense field names), read from the version's
// directory in the registry root. The embedding table is NOT read: the store owns and serves it;
// only its name, method and shape are taken from the manifest.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vocabulary } from '@embpress/data';
import {
  CTR_MODEL_FILES,
  manifestSchema,
  ModelRegistryDir,
  ModelVersionError,
  type Manifest,
  type TableEntry,
} from '@embpress/model-registry';
import { loadModel, type CtrModel } from '@embpress/models';
import { DataLossError, NotFoundError } from '@embpress/service-kit';
import { FeatureMapping } from './feature-mapping';

export interface ServedModel {
  model: string;
  version: string;
  /** The one table the mapping's ids address (the trainer's `sparse`). */
  table: TableEntry;
  mapping: FeatureMapping;
  net: CtrModel;
}

function corrupt(where: string, what: string): DataLossError {
  return new DataLossError(`${where}: ${what}`);
}

/** A version file verified against the manifest's size and SHA-256 (DATA_LOSS when it differs). */
function verifiedFile(registry: ModelRegistryDir, manifest: Manifest, file: string): Uint8Array {
  try {
    return registry.readVersionFile(manifest.model, manifest.version, file, manifest);
  } catch (err) {
    if (err instanceof ModelVersionError) throw new DataLossError(err.message);
    throw err;
  }
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw corrupt(where, `${(err as Error).message}`);
  }
}

function readJson(file: string, where: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw corrupt(where, `${(err as Error).message}`);
  }
}

/** Reads and checks `<root>/<model>/<version>/`; NOT_FOUND when the version is not there. */
export function loadServedModel(root: string, model: string, version: string): ServedModel {
  const registry = new ModelRegistryDir(root);
  const dir = registry.path(model, version);
  const where = `model ${model}/${version}`;
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile))
    throw new NotFoundError(
      `${where}: not in the ranker's registry root (no ${model}/${version}/manifest.json)`,
    );
  const parsed = manifestSchema.safeParse(readJson(manifestFile, `${where} manifest.json`));
  if (!parsed.success)
    throw corrupt(
      `${where} manifest.json`,
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  const manifest = parsed.data as typeof parsed.data & {
    feature?: { dense?: unknown; fields?: unknown };
  };
  const dense = manifest.feature?.dense;
  if (!Array.isArray(dense) || !dense.every((d) => typeof d === 'string'))
    throw corrupt(
      `${where} manifest.json`,
      'feature.dense (the dense field names) is missing: not a ranking model',
    );
  const vocabulary = (() => {
    try {
      return Vocabulary.fromJSON(
        parseJson(
          verifiedFile(registry, manifest, CTR_MODEL_FILES.vocabulary),
          `${where} ${CTR_MODEL_FILES.vocabulary}`,
        ),
        `${where} vocabulary.json`,
      );
    } catch (err) {
      if (err instanceof DataLossError) throw err;
      throw corrupt(`${where} vocabulary.json`, (err as Error).message);
    }
  })();
  const table = manifest.tables.find((t) => t.rows === vocabulary.size);
  if (table === undefined)
    throw corrupt(
      where,
      `no table has the vocabulary's ${vocabulary.size} rows (tables: ${manifest.tables.map((t) => `${t.name} ${t.rows}`).join(', ')})`,
    );
  const mapping = new FeatureMapping(dense as string[], vocabulary);
  const weights = verifiedFile(registry, manifest, CTR_MODEL_FILES.denseWeights);
  let net: CtrModel;
  try {
    net = loadModel(weights);
  } catch (err) {
    throw corrupt(`${where} dense.weights`, (err as Error).message);
  }
  const config = net.config;
  const problem =
    config.dim !== table.dim
      ? `the network takes rows of dim ${config.dim}, table ${table.name} has ${table.dim}`
      : config.numFields !== vocabulary.fields.length
        ? `the network takes ${config.numFields} fields, the vocabulary has ${vocabulary.fields.length}`
        : config.numDense !== dense.length
          ? `the network takes ${config.numDense} dense features, the manifest names ${dense.length}`
          : undefined;
  if (problem !== undefined) {
    net.dispose();
    throw corrupt(where, problem);
  }
  return {
    model,
    version,
    table,
    mapping,
    net,
  };
}
