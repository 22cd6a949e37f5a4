// Test helper of the handler specs (lookup, batch-lookup, search, versions): the store over real
// gRPC on 127.0.0.1:0, over a registry holding two published `full` versions of model ctr (v1, v2;
// none loaded) with an admin token, and the helpers that call it expecting an error or a response.
// Each spec file starts its own store (useRpcStore) so its tests see the same state as before.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { store } from '@embpress/proto';
import { unaryCall, type RunningService, type UnaryMethod } from '@embpress/service-kit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompressedTable } from '@embpress/compression';
import { publishVersion } from '../__fixtures__/publish';
import { loadStoreConfig } from '../config';
import { startStore } from '../main';

/** Publishes a `full` table version of model ctr (as the trainer will) and returns the table. */
export const publish = (root: string, version: string, seed: number): CompressedTable =>
  publishVersion(root, 'ctr', version, seed);

export { rowsOf } from '../__fixtures__/publish';

export function admin(): Metadata {
  const md = new Metadata();
  md.set('authorization', 'Bearer s3cret');
  return md;
}

export const expectStatus = async (
  pending: Promise<ServiceError>,
  code: status,
  details: string | RegExp,
) => {
  const err = await pending;
  expect({ code: err.code, details: err.details }).toEqual({
    code,
    details: expect.stringMatching(details),
  });
};

/** A running store and a client of it; the fields are set once beforeAll has run. */
export interface RpcStore {
  running: RunningService;
  client: store.EmbeddingStoreServiceClient;
  root: string;
  v1: CompressedTable;
  v2: CompressedTable;
  /** Calls `method` of the client and resolves with the error it must answer. */
  call<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    metadata?: Metadata,
  ): Promise<ServiceError>;
  /** Calls `method` of the client (as admin by default) and resolves with its response. */
  succeed<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, metadata?: Metadata): Promise<Res>;
}

/**
 * Starts a store for the tests of the calling describe block (beforeAll) and stops it, removing
 * its registry, after them (afterAll).
 */
export function useRpcStore(): RpcStore {
  const rpc = {} as RpcStore;
  beforeAll(async () => {
    rpc.root = mkdtempSync(join(tmpdir(), 'embpress-store-rpc-'));
    rpc.v1 = publish(rpc.root, 'v1', 1);
    rpc.v2 = publish(rpc.root, 'v2', 2);
    const config = loadStoreConfig({
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '100',
      EMBPRESS_STORE_ADMIN_TOKEN: 's3cret',
      EMBPRESS_STORE_REGISTRY_ROOT: rpc.root,
    });
    rpc.running = await startStore(config, pino({ level: 'silent' }));
    rpc.client = new store.EmbeddingStoreServiceClient(
      rpc.running.address,
      credentials.createInsecure(),
    );
  });
  afterAll(async () => {
    rpc.client.close();
    await rpc.running.stop();
    rmSync(rpc.root, { recursive: true, force: true });
  });

  rpc.call = function call<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    metadata = new Metadata(),
  ): Promise<ServiceError> {
    return unaryCall(rpc.client, method, request, { timeoutMs: 5000, metadata }).then(
      () => Promise.reject(new Error('expected an error')),
      (err: ServiceError) => err,
    );
  };
  rpc.succeed = function succeed<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    metadata = admin(),
  ): Promise<Res> {
    return unaryCall(rpc.client, method, request, { timeoutMs: 5000, metadata });
  };
  return rpc;
}
