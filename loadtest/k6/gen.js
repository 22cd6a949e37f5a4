// Request generation for the k6 scripts: a hand port of loadtest/src/gen/*.ts and
// loadtest/src/requests.ts (k6 runs JavaScript without npm packages), producing the requests as
// k6's protojson expects them (oneof members set directly, enums by name, bytes as base64 done
// by the caller). Request i draws only from RequestRng(seed, i), in the same order as the Node
// generators, so k6 and `embpress loadtest` send identical requests for one scenario file;
// loadtest/src/gen-parity.spec.ts checks this file against the TypeScript.
// Plain functions and no imports, so that the parity test can evaluate this file in Node.

export function mix32(x) {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function combine(a, b) {
  return mix32((a + Math.imul(b, 0x9e3779b9) + 0x632be5ab) >>> 0);
}

export function permute32(x, key) {
  return mix32(((x >>> 0) ^ key) >>> 0);
}

export function hex8(v) {
  return (v >>> 0).toString(16).padStart(8, '0');
}

/** mulberry32 seeded by combine(seed, i). */
export function RequestRng(seed, index) {
  this.state = combine(seed >>> 0, index >>> 0);
}
RequestRng.prototype.next = function () {
  this.state = (this.state + 0x6d2b79f5) >>> 0;
  let t = this.state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
RequestRng.prototype.normal = function () {
  const u1 = 1 - this.next();
  const u2 = this.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
};

function helper1(x) {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

function helper2(x) {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

/** Zipf(n, s) ranks 1..n by rejection-inversion (Hörmann & Derflinger). */
export function ZipfRanks(n, exponent) {
  if (!(Number.isInteger(n) && n >= 1))
    throw new Error('Zipf: n must be an integer >= 1, got ' + n);
  if (!(exponent > 0)) throw new Error('Zipf: exponent must be > 0, got ' + exponent);
  this.n = n;
  this.exponent = exponent;
  this.hX1 = this.hIntegral(1.5) - 1;
  this.hN = this.hIntegral(n + 0.5);
  this.sq = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
}
ZipfRanks.prototype.hIntegral = function (x) {
  const logX = Math.log(x);
  return helper2((1 - this.exponent) * logX) * logX;
};
ZipfRanks.prototype.h = function (x) {
  return Math.exp(-this.exponent * Math.log(x));
};
ZipfRanks.prototype.hIntegralInverse = function (x) {
  let t = x * (1 - this.exponent);
  if (t < -1) t = -1;
  return Math.exp(helper1(t) * x);
};
ZipfRanks.prototype.sample = function (rng) {
  for (;;) {
    const u = this.hN + rng.next() * (this.hX1 - this.hN);
    const x = this.hIntegralInverse(u);
    let k = Math.floor(x + 0.5);
    if (k < 1) k = 1;
    else if (k > this.n) k = this.n;
    if (k - x <= this.sq || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
  }
};

const ENCODINGS = {
  codes: 'ROW_ENCODING_CODES',
  float16: 'ROW_ENCODING_FLOAT16_LE',
  float32: 'ROW_ENCODING_FLOAT32_LE',
};

/** BatchLookup request i over `tables` ([{table, rows}]). */
export function storeLookupGenerator(scenario, tables) {
  const r = scenario.request;
  const samplers = tables.map((t) => new ZipfRanks(t.rows, r.zipfExponent));
  return function (i) {
    const rng = new RequestRng(scenario.seed, i);
    return {
      model: r.model,
      version: r.version || '',
      encoding: ENCODINGS[r.encoding],
      tables: tables.map((t, k) => {
        const ids = new Array(r.idsPerTable);
        for (let j = 0; j < r.idsPerTable; j += 1) ids[j] = samplers[k].sample(rng) - 1;
        return { table: t.table, ids: ids };
      }),
    };
  };
}

/** A field's raw-value drawer: a number or a text, undefined when the value is missing. */
function fieldDrawer(field, synthSeed, zipfExponent) {
  if (field.kind === 'numeric') {
    const mu = Math.log(field.median + 1);
    return function (rng) {
      if (rng.next() < field.missingRate) return undefined;
      if (field.negativeRate > 0 && rng.next() < field.negativeRate) {
        return -1 - Math.floor(rng.next() * 3);
      }
      return Math.max(0, Math.floor(Math.exp(mu + field.sigma * rng.normal())) - 1);
    };
  }
  const zipf = new ZipfRanks(field.cardinality, zipfExponent);
  const key = combine(synthSeed >>> 0, 0x1000 + field.synthIndex);
  return function (rng) {
    if (field.missingRate > 0 && rng.next() < field.missingRate) return undefined;
    const v = permute32(zipf.sample(rng), key);
    return field.style === 'hex' ? hex8(v) : String(v);
  };
}

// A missing value in a column (ranker.proto FeatureColumn): NaN for a number, written "NaN" as
// protojson writes a NaN double (JSON has no NaN: k6 would send null, which protojson refuses in
// a list); "" for a text. The ranker maps both as it maps a Feature left out.
const MISSING_NUMERIC = 'NaN';
const MISSING_CATEGORICAL = '';

/**
 * Rank request i: shared fields once into the context, the others per candidate, as columns
 * (candidateIds + one column per field) unless the scenario's request.requestForm is "rows".
 * Both forms draw the same values in the same order.
 */
export function rankGenerator(scenario) {
  const r = scenario.request;
  const form = r.requestForm || 'columns';
  const fields = r.fields.map((f) => ({
    name: f.name,
    kind: f.kind,
    shared: f.shared,
    draw: fieldDrawer(f, r.synthSeed, r.zipfExponent),
  }));
  const shared = fields.filter((f) => f.shared);
  const own = fields.filter((f) => !f.shared);
  const ids = [];
  for (let c = 0; c < r.candidates; c += 1) ids.push('c' + c);
  function draw(drawers, rng) {
    const out = [];
    for (let d = 0; d < drawers.length; d += 1) {
      const value = drawers[d].draw(rng);
      if (value === undefined) continue;
      const feature = { name: drawers[d].name };
      feature[drawers[d].kind] = value;
      out.push(feature);
    }
    return out;
  }
  return function (i) {
    const rng = new RequestRng(scenario.seed, i);
    const base = { model: r.model, version: r.version || '', context: draw(shared, rng) };
    if (form === 'rows') {
      const candidates = new Array(r.candidates);
      for (let c = 0; c < r.candidates; c += 1) {
        candidates[c] = { id: ids[c], features: draw(own, rng) };
      }
      base.candidates = candidates;
      return base;
    }
    const values = own.map(() => new Array(r.candidates));
    for (let c = 0; c < r.candidates; c += 1) {
      for (let k = 0; k < own.length; k += 1) {
        const value = own[k].draw(rng);
        if (value !== undefined) values[k][c] = value;
        else values[k][c] = own[k].kind === 'numeric' ? MISSING_NUMERIC : MISSING_CATEGORICAL;
      }
    }
    base.candidateIds = ids.slice();
    base.columns = own.map((f, k) => {
      const column = { name: f.name };
      column[f.kind] = values[k];
      return column;
    });
    return base;
  };
}

/** A random unit vector of `dim` float32 values. */
export function unitVector(rng, dim) {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let d = 0; d < dim; d += 1) {
    const x = rng.normal();
    v[d] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let d = 0; d < dim; d += 1) v[d] = v[d] * scale;
  return v;
}

/**
 * Retrieve request i. Vector queries come back with `vector.data` as a Float32Array: the k6
 * script base64-encodes its bytes (k6/encoding), which this file cannot import.
 */
export function retrieveGenerator(scenario) {
  const r = scenario.request;
  const q = r.query;
  const zipf = q.kind === 'text' ? new ZipfRanks(q.texts.length, q.zipfExponent) : null;
  return function (i) {
    const rng = new RequestRng(scenario.seed, i);
    const base = { corpus: r.corpus, table: r.table, k: r.k, rerankFactor: r.rerankFactor || 0 };
    if (q.kind === 'text') {
      base.text = q.texts[zipf.sample(rng) - 1];
      return base;
    }
    base.vector = {
      encoding: 'ROW_ENCODING_FLOAT32_LE',
      dim: q.dim,
      count: 1,
      data: unitVector(rng, q.dim),
      codec: '',
    };
    return base;
  };
}

/** Scenario values overridden by k6 `-e NAME=value` (same meaning as the CLI options). */
export function withEnv(scenario, env) {
  const s = JSON.parse(JSON.stringify(scenario));
  if (env.TARGET) s.target = env.TARGET;
  if (env.RATE) s.ratePerSec = Number(env.RATE);
  if (env.DURATION) s.durationSec = Number(env.DURATION);
  if (env.WARMUP !== undefined && env.WARMUP !== '') s.warmupSec = Number(env.WARMUP);
  if (env.MAX_IN_FLIGHT) s.maxInFlight = Number(env.MAX_IN_FLIGHT);
  if (env.REQUEST_FORM) {
    if (s.service !== 'ranker') throw new Error('REQUEST_FORM applies to the ranker scenario only');
    if (env.REQUEST_FORM !== 'columns' && env.REQUEST_FORM !== 'rows') {
      throw new Error('REQUEST_FORM must be columns or rows, got ' + env.REQUEST_FORM);
    }
    s.request.requestForm = env.REQUEST_FORM;
  }
  if (env.MODEL) {
    if (s.service === 'retriever') s.request.corpus = env.MODEL;
    else s.request.model = env.MODEL;
  }
  if (!(s.ratePerSec > 0) || !(s.durationSec > 0) || !(s.warmupSec >= 0)) {
    throw new Error('RATE and DURATION must be > 0 and WARMUP >= 0');
  }
  return s;
}

/** An integer k6 rate for a possibly fractional rate per second. */
function arrivalRate(ratePerSec) {
  return Number.isInteger(ratePerSec)
    ? { rate: ratePerSec, timeUnit: '1s' }
    : { rate: Math.round(ratePerSec * 1000), timeUnit: '1000s' };
}

/**
 * k6 options for a scenario: a `warmup` phase (not in the thresholds) then the measured `main`
 * phase, both constant-arrival-rate with at most maxInFlight VUs (k6 counts arrivals that find
 * no free VU in dropped_iterations, as the Node runner counts `dropped`).
 */
export function k6Options(s) {
  const vus = Math.min(s.maxInFlight, Math.max(10, Math.ceil((s.ratePerSec * s.timeoutMs) / 1000)));
  const phase = (duration, startTime) =>
    Object.assign({ executor: 'constant-arrival-rate' }, arrivalRate(s.ratePerSec), {
      duration: duration + 's',
      startTime: startTime + 's',
      preAllocatedVUs: Math.min(vus, 50),
      maxVUs: s.maxInFlight,
      gracefulStop: Math.ceil(s.timeoutMs / 1000) + 's',
    });
  const scenarios = { main: phase(s.durationSec, s.warmupSec) };
  if (s.warmupSec > 0) scenarios.warmup = phase(s.warmupSec, 0);
  return {
    scenarios: scenarios,
    thresholds: {
      'grpc_req_duration{scenario:main}': ['p(99)<' + s.thresholds.p99Ms],
      'checks{scenario:main}': ['rate==1'],
      dropped_iterations: ['count==0'],
    },
    summaryTrendStats: ['p(50)', 'p(90)', 'p(99)', 'max'],
  };
}

/**
 * The global index of this iteration, as the Node runner numbers requests: warmup first, then
 * the measured phase (k6's iterationInTest restarts at 0 in each scenario).
 */
export function requestIndex(s, scenarioName, iterationInTest) {
  if (scenarioName === 'main') return Math.round(s.warmupSec * s.ratePerSec) + iterationInTest;
  return iterationInTest;
}
