// Times the ranker's RankRequest decoder and the bytes it allocates, beside ts-proto's decode (what
// the ranker would use without it), on a Criteo-shaped columnar request: 13 numeric and 26
// categorical columns of --candidates values each. Not a test: a measurement to quote.
//   node --require tsx/cjs services/ranker/src/wire/bench-decode.ts [--candidates 100]
//        [--decodes 5000] [--rounds 2]
// Bytes come from V8's sampling heap profiler with the objects that scavenges freed included, so
// they count what a decode allocates, not what it keeps.
import { Session } from 'node:inspector';
import { parseArgs } from 'node:util';
import { ranker } from '@embpress/proto';
import { decodeRankRequest } from './rank-request-decoder';

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

function request(candidates: number): Uint8Array {
  const columns = [
    ...Array.from({ length: 13 }, (_, k) => ({
      name: `I${k + 1}`,
      numeric: Array.from({ length: candidates }, (_, i) => ((i * 7 + k) % 50) + 0.5),
      categorical: [],
    })),
    ...Array.from({ length: 26 }, (_, k) => ({
      name: `C${k + 1}`,
      numeric: [],
      categorical: Array.from({ length: candidates }, (_, i) =>
        ((Math.imul(i + 1, 2654435761) + k) >>> 0).toString(16).padStart(8, '0'),
      ),
    })),
  ];
  return ranker.RankRequest.encode({
    model: 'demo',
    version: '',
    context: [],
    candidates: [],
    candidateIds: Array.from({ length: candidates }, (_, i) => String(i)),
    columns,
  }).finish();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      candidates: { type: 'string', default: '100' },
      decodes: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const bytes = request(Number(values.candidates));
  const decodes = Number(values.decodes);
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))),
    );
  const decoders: Record<string, (b: Uint8Array) => unknown> = {
    embpress: decodeRankRequest,
    tsProto: (b) => ranker.RankRequest.decode(b),
  };
  const rounds: Record<string, { usPerDecode: number; kbPerDecode: number }>[] = [];
  for (let r = 0; r < Number(values.rounds); r += 1) {
    const round: (typeof rounds)[number] = {};
    for (const [name, decode] of Object.entries(decoders)) {
      for (let i = 0; i < 2000; i += 1) decode(bytes);
      await post('HeapProfiler.startSampling', {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      const t0 = performance.now();
      for (let i = 0; i < decodes; i += 1) decode(bytes);
      const ms = performance.now() - t0;
      const { profile } = await post<{ profile: { head: SamplingNode } }>(
        'HeapProfiler.stopSampling',
      );
      let allocated = 0;
      const walk = (node: SamplingNode): void => {
        allocated += node.selfSize;
        node.children.forEach(walk);
      };
      walk(profile.head);
      round[name] = {
        usPerDecode: (ms * 1000) / decodes,
        kbPerDecode: allocated / decodes / 1024,
      };
    }
    rounds.push(round);
  }
  session.disconnect();
  console.log(
    JSON.stringify({ candidates: Number(values.candidates), requestBytes: bytes.length, rounds }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
