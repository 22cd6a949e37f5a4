// The gRPC driver of the ranker and retriever scenarios against stand-in servers on 127.0.0.1:0
// (the real services have their own tests; this checks what the load test sends and counts).
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { ranker, retriever } from '@embpress/proto';
import { connectScenario } from './driver';
import { runOpenLoop } from './open-loop';
import {
  loadScenario,
  type RankerScenario,
  type RetrieverScenario,
  type Scenario,
} from './scenario';

async function listen(server: Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

// A short, slow run with generous deadlines: what is counted must not depend on machine speed.
const short = <S extends Scenario>(s: S, target: string): S => ({
  ...s,
  target,
  ratePerSec: 50,
  durationSec: 0.4,
  warmupSec: 0.1,
  timeoutMs: 20_000,
});

describe('connectScenario', () => {
  let server: Server;
  const rankRequests: ranker.RankRequest[] = [];
  const retrieveRequests: retriever.RetrieveRequest[] = [];
  let target: string;

  beforeAll(async () => {
    server = new Server();
    server.addService(ranker.RankerServiceService, {
      rank: (
        call: ServerUnaryCall<ranker.RankRequest, ranker.RankResponse>,
        done: sendUnaryData<ranker.RankResponse>,
      ) => {
        rankRequests.push(call.request);
        // The candidates in either form (columns: candidate_ids; rows: candidates).
        const ids =
          call.request.candidateIds.length > 0
            ? call.request.candidateIds
            : call.request.candidates.map((c) => c.id);
        // Every 10th request answers with one score too few: the driver must count it an error.
        const n = ids.length - (rankRequests.length % 10 === 0 ? 1 : 0);
        done(null, {
          model: call.request.model,
          version: 'v1',
          ranked: ids.slice(0, n).map((id) => ({ id, score: 0.5 })),
          degraded: false,
        });
      },
    });
    server.addService(retriever.RetrieverServiceService, {
      retrieve: (
        call: ServerUnaryCall<retriever.RetrieveRequest, retriever.RetrieveResponse>,
        done: sendUnaryData<retriever.RetrieveResponse>,
      ) => {
        retrieveRequests.push(call.request);
        if (call.request.corpus !== 'docs') {
          done({ code: status.NOT_FOUND, details: 'no such corpus' });
          return;
        }
        done(null, {
          corpus: 'docs',
          version: 'v1',
          passages: [{ id: 'p1', text: 't', score: 1 }],
        });
      },
    });
    target = await listen(server);
  });

  afterAll(() => server.forceShutdown());

  it('ranker: sends the generated Rank requests as columns and counts a short answer as an error', async () => {
    rankRequests.length = 0;
    const base = short(loadScenario('ranker-rank') as RankerScenario, target);
    // Small requests: they reach the server in the order sent (one HTTP/2 frame each).
    const scenario = { ...base, request: { ...base.request, candidates: 5 } };
    const calls = await connectScenario(scenario);
    try {
      expect(calls.detail).toMatchObject({ candidates: 5, requestForm: 'columns' });
      const result = await runOpenLoop(calls.call, scenario);
      // 5 warmup + 20 measured arrivals; the 10th and 20th answers (measured) are one score short.
      expect(rankRequests).toHaveLength(25);
      expect(result).toMatchObject({ sent: 20, completed: 18, errors: 2, dropped: 0 });
      expect(result.errorCodes).toEqual({ ERROR: 2 });
      const first = rankRequests[0] as ranker.RankRequest;
      expect(first.model).toBe('demo');
      expect(first.candidates).toEqual([]);
      expect(first.candidateIds).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
      expect(first.columns.map((c) => c.numeric.length + c.categorical.length)).toEqual(
        first.columns.map(() => 5),
      );
    } finally {
      calls.close();
    }
  });

  it('ranker: requestForm "rows" sends one Candidate per candidate, counted the same way', async () => {
    rankRequests.length = 0;
    const base = short(loadScenario('ranker-rank') as RankerScenario, target);
    const scenario = {
      ...base,
      request: { ...base.request, candidates: 5, requestForm: 'rows' as const },
    };
    const calls = await connectScenario(scenario);
    try {
      const result = await runOpenLoop(calls.call, scenario);
      expect(rankRequests).toHaveLength(25);
      expect(result).toMatchObject({ sent: 20, completed: 18, errors: 2, dropped: 0 });
      const first = rankRequests[0] as ranker.RankRequest;
      expect(first.candidateIds).toEqual([]);
      expect(first.columns).toEqual([]);
      expect(first.candidates).toHaveLength(5);
      expect(first.candidates[0]?.features[0]?.value?.$case).toBeDefined();
    } finally {
      calls.close();
    }
  });

  it('retriever: text queries, and errors counted by gRPC status name', async () => {
    const scenario = short(loadScenario('retriever-retrieve') as RetrieverScenario, target);
    const calls = await connectScenario(scenario);
    try {
      const result = await runOpenLoop(calls.call, scenario);
      expect(result).toMatchObject({ sent: 20, completed: 20, errors: 0 });
      expect(retrieveRequests[0]?.query?.$case).toBe('text');
      expect(retrieveRequests[0]?.k).toBe(10);
    } finally {
      calls.close();
    }
    const wrong = { ...scenario, request: { ...scenario.request, corpus: 'nope' } };
    const failing = await connectScenario(wrong);
    try {
      const result = await runOpenLoop(failing.call, wrong);
      expect(result).toMatchObject({ sent: 20, completed: 0, errors: 20 });
      expect(result.errorCodes).toEqual({ NOT_FOUND: 20 });
    } finally {
      failing.close();
    }
  });

  it('fails once, clearly, when the target cannot be reached', async () => {
    const closed = new Server();
    const address = await listen(closed);
    closed.forceShutdown();
    const scenario = {
      ...short(loadScenario('ranker-rank') as RankerScenario, address),
      timeoutMs: 200,
    };
    await expect(connectScenario(scenario)).rejects.toThrow(
      `cannot reach the ranker at ${address}`,
    );
  }, 20_000);
});
