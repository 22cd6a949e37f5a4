// Turns a scenario into calls on the real gRPC clients: the store through @embpress/store-client,
// the ranker and the retriever through their generated clients (service-kit createClient). Every
// call has the scenario's deadline and no retries, so the load test sees each failure.
import type { Client } from '@grpc/grpc-js';
import { ranker, retriever, type store } from '@embpress/proto';
import {
  createClient,
  NotFoundError,
  unaryCall,
  UnavailableError,
  type ClientConfig,
} from '@embpress/service-kit';
import { StoreClient } from '@embpress/store-client';
import { rankRequests, retrieveRequests, storeLookupRequests, type TableShape } from './requests';
import type { RankerScenario, RetrieverScenario, Scenario, StoreScenario } from './scenario';

export interface ScenarioCalls {
  /** Sends request i and resolves when its response arrived and has the expected shape. */
  call: (i: number) => Promise<void>;
  /** What the calls read, for the report (e.g. the tables of a store scenario). */
  detail: Record<string, unknown>;
  close: () => void;
}

/** Thrown (and counted as ERROR) when a response does not answer the request it was sent for. */
export class UnexpectedResponseError extends Error {
  override readonly name = 'UnexpectedResponseError';
}

function clientConfig(scenario: Scenario): ClientConfig {
  return { address: scenario.target, tls: {}, timeoutMs: scenario.timeoutMs };
}

/** The tables a store scenario reads: its list, or every active table of its model. */
export async function storeTables(
  client: StoreClient,
  scenario: StoreScenario,
): Promise<TableShape[]> {
  const { model, tables } = scenario.request;
  const described = await client.describeTables({ model });
  const active = described.tables.filter((t) => t.model === model && t.active);
  const chosen = tables.length === 0 ? active : active.filter((t) => tables.includes(t.table));
  const missing = tables.filter((name) => !active.some((t) => t.table === name));
  if (missing.length > 0) {
    throw new NotFoundError(`model "${model}" has no active table ${missing.join(', ')}`);
  }
  if (chosen.length === 0) throw new NotFoundError(`model "${model}" has no active tables`);
  return chosen.map((t) => ({ table: t.table, rows: t.rows }));
}

async function storeCalls(scenario: StoreScenario): Promise<ScenarioCalls> {
  const client = new StoreClient(clientConfig(scenario), {
    attempts: 1,
    baseDelayMs: 0,
    maxDelayMs: 0,
  });
  try {
    const tables = await storeTables(client, scenario);
    const next = storeLookupRequests(scenario, tables);
    const call = async (i: number): Promise<void> => {
      const request = next(i);
      const response = await client.batchLookup(request);
      checkLookup(request, response);
    };
    return { call, detail: { tables }, close: () => client.close() };
  } catch (err) {
    client.close();
    throw err;
  }
}

function checkLookup(request: store.BatchLookupRequest, response: store.BatchLookupResponse): void {
  if (response.tables.length !== request.tables.length) {
    throw new UnexpectedResponseError(
      `asked ${request.tables.length} tables, got ${response.tables.length}`,
    );
  }
  response.tables.forEach((t, k) => {
    const asked = request.tables[k]?.ids.length ?? 0;
    if (t.rows?.count !== asked) {
      throw new UnexpectedResponseError(
        `table ${t.table}: asked ${asked} rows, got ${t.rows?.count}`,
      );
    }
  });
}

/** Waits until the channel connects, so an unreachable target fails once, clearly. */
function waitForReady(client: Client, scenario: Scenario): Promise<void> {
  const deadline = Date.now() + Math.max(scenario.timeoutMs, 5000);
  return new Promise((resolve, reject) =>
    client.waitForReady(deadline, (err) =>
      err
        ? reject(
            new UnavailableError(
              `cannot reach the ${scenario.service} at ${scenario.target}: ${err.message}`,
            ),
          )
        : resolve(),
    ),
  );
}

/** The candidates of a Rank request, as rows or as columns: one score is due for each. */
export function rankedCandidates(request: ranker.RankRequest): number {
  return request.candidateIds.length > 0 ? request.candidateIds.length : request.candidates.length;
}

async function rankerCalls(scenario: RankerScenario): Promise<ScenarioCalls> {
  const client = createClient(ranker.RankerServiceClient, clientConfig(scenario));
  await waitForReady(client, scenario).catch((err: unknown) => {
    client.close();
    throw err;
  });
  const next = rankRequests(scenario);
  const call = async (i: number): Promise<void> => {
    const request = next(i);
    const response = await unaryCall(client, client.rank, request, {
      timeoutMs: scenario.timeoutMs,
    });
    const sent = rankedCandidates(request);
    if (response.ranked.length !== sent) {
      throw new UnexpectedResponseError(
        `sent ${sent} candidates, got ${response.ranked.length} scores`,
      );
    }
  };
  return {
    call,
    detail: {
      model: scenario.request.model,
      candidates: scenario.request.candidates,
      requestForm: scenario.request.requestForm,
    },
    close: () => client.close(),
  };
}

async function retrieverCalls(scenario: RetrieverScenario): Promise<ScenarioCalls> {
  const client = createClient(retriever.RetrieverServiceClient, clientConfig(scenario));
  await waitForReady(client, scenario).catch((err: unknown) => {
    client.close();
    throw err;
  });
  const next = retrieveRequests(scenario);
  const call = async (i: number): Promise<void> => {
    const response = await unaryCall(client, client.retrieve, next(i), {
      timeoutMs: scenario.timeoutMs,
    });
    if (response.passages.length > scenario.request.k) {
      throw new UnexpectedResponseError(
        `asked k=${scenario.request.k}, got ${response.passages.length} passages`,
      );
    }
  };
  return {
    call,
    detail: {
      corpus: scenario.request.corpus,
      table: scenario.request.table,
      k: scenario.request.k,
      query: scenario.request.query.kind,
    },
    close: () => client.close(),
  };
}

/** Connects to the scenario's target and returns its calls (store: after DescribeTables). */
export async function connectScenario(scenario: Scenario): Promise<ScenarioCalls> {
  switch (scenario.service) {
    case 'store':
      return storeCalls(scenario);
    case 'ranker':
      return rankerCalls(scenario);
    case 'retriever':
      return retrieverCalls(scenario);
  }
}
