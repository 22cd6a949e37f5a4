// The store side of `embpress bench store`: the seeded rows, their versions published to a
// temporary registry, and the store as a real `embpress serve store` child process on it (with a
// preload that lets the bench collect its garbage before reading its RSS).
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registry, SparseOptimizer, type CompressedTable } from '@embpress/compression';
import { tableToWrite, type ModelRegistryDir } from '@embpress/model-registry';
import { serve } from './serve-child';

export const VERSION = 'v1';

/**
 * Preloaded into the store process (with --expose-gc; written to the run's temp directory):
 * answers a `bench-gc` message on the IPC channel with a full collection, so that the store's
 * RSS can be read without garbage, and stops the store (SIGTERM, its graceful stop) when the
 * benchmark process goes away, even killed. The channel is unref'd again so that it never keeps
 * the store alive. The serving code is untouched.
 */
const STORE_PRELOAD = `'use strict';
process.on('message', (m) => {
  if (m && m.type === 'bench-gc') {
    globalThis.gc();
    process.send({ type: 'bench-gc-done' });
  }
});
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
process.channel?.unref();
`;

export interface RunningStore {
  child: ChildProcess;
  port: number;
  /** Full garbage collection in the store (see STORE_PRELOAD). */
  collectGarbage(): Promise<void>;
}

/**
 * `embpress serve store` as a child process (serve-child.ts: 127.0.0.1:0, the user's store
 * settings cleared), with its registry (`models`), span file and log in `dir`; resolves once it
 * reports SERVING over IPC.
 */
export async function startStore(
  dir: string,
  execArgv: string[],
  children: ChildProcess[],
): Promise<RunningStore> {
  const preload = join(dir, 'store-preload.cjs');
  writeFileSync(preload, STORE_PRELOAD);
  const { child, port } = await serve(
    'store',
    {
      EMBPRESS_STORE_REGISTRY_ROOT: join(dir, 'models'),
      EMBPRESS_SPANS_FILE: join(dir, 'spans.jsonl'),
      EMBPRESS_LOG_LEVEL: 'warn',
    },
    [...execArgv, '--expose-gc', '--require', preload],
    children,
    join(dir, 'store.log'),
  );
  const collectGarbage = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('store did not answer a GC request')),
        30_000,
      );
      const onMessage = (message: { type?: string }) => {
        if (message.type !== 'bench-gc-done') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ type: 'bench-gc' });
    });
  return { child, port, collectGarbage };
}

/** The seeded rows: the initial table of a `full` trainable (uniform ±1/√rows). */
export function seededRows(rows: number, dim: number, seed: number): CompressedTable {
  const { method, params } = registry.resolve('full');
  if (method.kind !== 'trainable') throw new Error('full is expected to be trainable');
  return method
    .createTrainable({ fields: [rows], dim }, params, {
      seed,
      optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.01 }),
    })
    .toTable();
}

/** Writes `table` as the only table of `<model>/v1` in the registry; returns its file's bytes. */
export function publish(
  root: ModelRegistryDir,
  model: string,
  name: string,
  table: CompressedTable,
): number {
  const manifest = root.writeVersion({
    model,
    version: VERSION,
    tables: [tableToWrite(name, table)],
  });
  return manifest.tables.reduce((sum, t) => sum + t.fileBytes, 0);
}
