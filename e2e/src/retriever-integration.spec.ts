// The retriever end to end, in one process: `embpress ingest` writes a hand-written corpus
// (TF-IDF + SVD vectors, rowwise-int8 codes and the fp32 companion) and activates it on a real
// store; a real retriever (both on 127.0.0.1:0) answers Retrieve by text and by vector, with and
// without the store's exact re-rank, from one pinned version; unknown corpora are NOT_FOUND.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { common, retriever } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { ingestCommand } from '@embpress/cli/ingest-command';
import { lazyRequire } from '@embpress/service-kit/config';

type Store = typeof import('@embpress/embedding-store');
type Retriever = typeof import('@embpress/retriever');
const storeService = () => lazyRequire<Store>('@embpress/embedding-store');
const retrieverService = () => lazyRequire<Retriever>('@embpress/retriever');
const corpus = () => lazyRequire<typeof import('@embpress/corpus')>('@embpress/corpus');

/** [id, passage, a question only that passage answers]. */
const CORPUS: ReadonlyArray<[string, string, string]> = [
  [
    'volcano',
    'A volcano erupts when magma rises through the crust and lava flows down its slopes.',
    'why does lava flow out of a volcano',
  ],
  [
    'photosynthesis',
    'Plants turn sunlight, water and carbon dioxide into sugar and oxygen by photosynthesis in their leaves.',
    'how do leaves make sugar from sunlight',
  ],
  [
    'bread',
    'Bakers knead flour, water, salt and yeast into dough, let it rise, then bake the bread in a hot oven.',
    'what does yeast do to dough before baking bread',
  ],
  [
    'tides',
    'Ocean tides rise and fall twice a day because the moon pulls on the water of the seas.',
    'what pulls the seas to make tides',
  ],
  [
    'chess',
    'In chess the king moves one square, the bishop moves diagonally and a pawn can promote to a queen.',
    'which chess piece moves diagonally',
  ],
  [
    'bicycle',
    'A bicycle chain carries the force of the pedals to the rear wheel through gears and sprockets.',
    'what connects the pedals to the rear wheel gears',
  ],
  [
    'honey',
    'Honey bees collect nectar from flowers and store it as honey in wax combs inside the hive.',
    'where do bees store nectar as honey',
  ],
  [
    'compiler',
    'A compiler translates source code into machine instructions and reports type errors before the program runs.',
    'what translates source code to machine instructions',
  ],
  [
    'glacier',
    'Glaciers are rivers of ice that carve valleys slowly as snow compacts over centuries in cold mountains.',
    'how do glaciers carve mountain valleys',
  ],
  [
    'coffee',
    'Coffee beans are roasted, ground and brewed with hot water; espresso forces the water through under pressure.',
    'how is espresso brewed from ground coffee beans',
  ],
  [
    'vaccine',
    'A vaccine trains the immune system to recognise a virus so that antibodies are ready before an infection.',
    'how does a vaccine prepare antibodies against a virus',
  ],
  [
    'guitar',
    'A guitar has six strings; pressing them against frets changes the pitch of the note that is plucked.',
    'what changes the pitch of a guitar string',
  ],
  [
    'rainbow',
    'A rainbow appears when sunlight is refracted and reflected inside raindrops, splitting white light into colours.',
    'why do raindrops split light into a rainbow of colours',
  ],
  [
    'marathon',
    'A marathon is a running race of 42.195 kilometres, first run at the Olympic games of 1896 in Athens.',
    'how long is a marathon race in kilometres',
  ],
  [
    'satellite',
    'A satellite stays in orbit because its speed balances the pull of gravity as it falls around the earth.',
    'what keeps a satellite in orbit around the earth',
  ],
  [
    'cheese',
    'Cheese is made by curdling milk with rennet, pressing the curds and ageing the wheels in cool cellars.',
    'how are milk curds turned into cheese',
  ],
  [
    'database',
    'A database index such as a B-tree lets queries find rows without scanning the whole table on disk.',
    'how does an index avoid scanning every row of a table',
  ],
  [
    'thunder',
    'Thunder is the sound of air expanding violently when lightning heats it during a storm.',
    'what makes the sound of thunder in a storm',
  ],
  [
    'origami',
    'Origami is the Japanese art of folding a single square sheet of paper into cranes and other figures.',
    'what is the art of folding paper cranes called',
  ],
  [
    'penguin',
    'Emperor penguins huddle together through the Antarctic winter while the males keep the eggs warm on their feet.',
    'where do emperor penguins keep their eggs warm',
  ],
];

const TOKEN = 'ingest-secret';

/** Runs `embpress ingest` in this process; returns its --json summary (last stdout line). */
async function ingest(args: string[]): Promise<Record<string, unknown>> {
  let out = '';
  let err = '';
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  try {
    await ingestCommand([...args, '--json']);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  if (process.exitCode !== undefined && process.exitCode !== 0) {
    process.exitCode = 0;
    throw new Error(`ingest failed: ${err}`);
  }
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
}

describe('retriever over a real store', () => {
  let dir: string;
  let store: RunningService;
  let service: RunningService;
  let client: retriever.RetrieverServiceClient;
  let tiny: Record<string, unknown>;

  const retrieve = (request: Partial<retriever.RetrieveRequest>) =>
    new Promise<{ err: ServiceError | null; res?: retriever.RetrieveResponse }>((resolve) =>
      client.retrieve(
        retriever.RetrieveRequest.fromPartial(request),
        new Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, res) => resolve({ err, res }),
      ),
    );
  const byText = (corpus: string, text: string, k = 3, rerankFactor = 0) =>
    retrieve({ corpus, k, rerankFactor, query: { $case: 'text', value: text } });
  const vectorQuery = (v: Float32Array): retriever.RetrieveRequest['query'] => ({
    $case: 'vector',
    value: {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: v.length,
      count: 1,
      data: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
      codec: '',
    },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-retriever-'));
    const registry = join(dir, 'models');
    const logger = pino({ level: 'silent' });
    const s = storeService();
    store = await s.startStore(
      s.loadStoreConfig({
        EMBPRESS_STORE_PORT: '0',
        EMBPRESS_STORE_REGISTRY_ROOT: registry,
        EMBPRESS_STORE_ADMIN_TOKEN: TOKEN,
        // Small enough that k × rerank_factor can exceed it below.
        EMBPRESS_STORE_MAX_SEARCH_K: '10',
      }),
      logger,
    );
    const corpusFile = join(dir, 'tiny.jsonl');
    writeFileSync(
      corpusFile,
      CORPUS.map(([id, text]) => `${JSON.stringify({ id, text })}\n`).join(''),
    );
    tiny = await ingest([
      '--corpus',
      corpusFile,
      '--name',
      'tiny',
      '--codec',
      'rowwise-int8',
      '--keep-fp32',
      '--registry',
      registry,
      '--store',
      store.address,
      '--admin-token',
      TOKEN,
    ]);
    const r = retrieverService();
    service = await r.startRetriever(
      r.loadRetrieverConfig({
        EMBPRESS_RETRIEVER_PORT: '0',
        EMBPRESS_RETRIEVER_REGISTRY_ROOT: registry,
        EMBPRESS_RETRIEVER_STORE_ADDRESS: store.address,
        // Follow activations at once (the default reuses the active version for 1 s).
        EMBPRESS_RETRIEVER_VERSION_TTL_MS: '1',
      }),
      logger,
    );
    client = new retriever.RetrieverServiceClient(service.address, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await service?.stop();
    await store?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingest wrote and activated the version', () => {
    expect(tiny).toMatchObject({
      corpus: 'tiny',
      table: 'passages',
      fp32Table: 'passages.fp32',
      spec: 'rowwise-int8',
      rows: 20,
      dim: 20,
      activated: true,
    });
  });

  it('finds the passage that answers each question first, by text', async () => {
    for (const [id, text, question] of CORPUS) {
      const { err, res } = await byText('tiny', question);
      expect(err).toBeNull();
      expect(res?.corpus).toBe('tiny');
      expect(res?.version).toBe(tiny.version);
      expect(res?.passages).toHaveLength(3);
      expect(res?.passages[0]).toMatchObject({ id, text });
      const scores = res?.passages.map((p) => p.score) ?? [];
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    }
  });

  it('re-ranks with the fp32 companion: a passage queried by its own text scores 1', async () => {
    const [id, text] = CORPUS[6] as [string, string, string];
    const { err, res } = await byText('tiny', text, 2, 4);
    expect(err).toBeNull();
    expect(res?.passages[0]?.id).toBe(id);
    expect(res?.passages[0]?.score).toBeCloseTo(1, 5);
  });

  it('searches by vector, checking its dim', async () => {
    const versionDir = tiny.versionDir as string;
    const encoder = corpus().LsaEncoder.fromBytes(readFileSync(join(versionDir, 'encoder.json')));
    const [id] = CORPUS[12] as [string, string, string];
    const v = encoder.encode((CORPUS[12] as [string, string, string])[1]);
    const { err, res } = await retrieve({ corpus: 'tiny', k: 1, query: vectorQuery(v) });
    expect(err).toBeNull();
    expect(res?.passages.map((p) => p.id)).toEqual([id]);
    const bad = await retrieve({ corpus: 'tiny', k: 1, query: vectorQuery(new Float32Array(7)) });
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toBe(
      `vector.dim: is 7, corpus tiny/${String(tiny.version)} has dim 20`,
    );
  });

  it('answers NOT_FOUND for an unknown corpus and INVALID_ARGUMENT for text without known terms', async () => {
    const missing = await byText('nosuchcorpus', 'lava');
    expect(missing.err?.code).toBe(status.NOT_FOUND);
    expect(missing.err?.details).toMatch(/nosuchcorpus/);
    const unknown = await byText('tiny', 'zzzz qqqq');
    expect(unknown.err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it('follows a new activation: passages, encoder and scores all from the new version', async () => {
    const corpusFile = join(dir, 'tiny2.jsonl');
    const extra = {
      id: 'kite',
      text: 'A kite flies on the wind, held by a long string from the ground.',
    };
    writeFileSync(
      corpusFile,
      [...CORPUS.map(([id, text]) => ({ id, text })), extra]
        .map((p) => `${JSON.stringify(p)}\n`)
        .join(''),
    );
    const v2 = await ingest([
      '--corpus',
      corpusFile,
      '--name',
      'tiny',
      '--codec',
      'fp16',
      '--version',
      'v2',
      '--registry',
      join(dir, 'models'),
      '--store',
      store.address,
      '--admin-token',
      TOKEN,
    ]);
    expect(v2).toMatchObject({ version: 'v2', rows: 21, dim: 21, activated: true });
    const { err, res } = await byText('tiny', 'what flies on the wind on a string');
    expect(err).toBeNull();
    expect(res?.version).toBe('v2');
    expect(res?.passages[0]).toMatchObject(extra);
  });

  it('serves precomputed MiniLM vectors: a vector query finds its own passage; text is refused', async () => {
    const minilm = await ingest([
      '--vectors',
      'minilm',
      '--name',
      'fiori',
      '--codec',
      'fp16',
      '--registry',
      join(dir, 'models'),
      '--store',
      store.address,
      '--admin-token',
      TOKEN,
    ]);
    expect(minilm).toMatchObject({ rows: 778, dim: 384, spec: 'fp16', bytesPerVector: 768 });
    const { passages, vectors } = corpus().readMiniLmCorpus();
    const row = 123;
    const v = vectors.slice(row * 384, (row + 1) * 384);
    const { err, res } = await retrieve({ corpus: 'fiori', k: 5, query: vectorQuery(v) });
    expect(err).toBeNull();
    expect(res?.passages[0]?.id).toBe(passages[row]?.id);
    // No passages.fp32 in this version: the store cannot re-rank exactly.
    const rerank = await retrieve({
      corpus: 'fiori',
      k: 5,
      rerankFactor: 2,
      query: vectorQuery(v),
    });
    expect(rerank.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(rerank.err?.details).toMatch(/passages\.fp32/);
    // 6 × 2 candidates is over the store's limit (10): the caller's re-rank factor is named.
    const over = await retrieve({ corpus: 'fiori', k: 6, rerankFactor: 2, query: vectorQuery(v) });
    expect(over.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(over.err?.details).toMatch(/^rerank_factor: k × rerank_factor = 12 candidates/);
    const text = await byText('fiori', 'deploy an application');
    expect(text.err?.code).toBe(status.FAILED_PRECONDITION);
  });
});
