import { applyOverrides } from './run-scenario';
import { loadScenario } from './scenario';

describe('loadtest command-line overrides', () => {
  it('replaces the scenario values given and keeps the others', () => {
    const base = loadScenario('ranker-rank');
    const s = applyOverrides(base, { target: '10.0.0.1:9000', ratePerSec: 50, model: 'ctr' });
    expect(s).toMatchObject({
      target: '10.0.0.1:9000',
      ratePerSec: 50,
      durationSec: base.durationSec,
      warmupSec: base.warmupSec,
      maxInFlight: base.maxInFlight,
    });
    if (s.service !== 'ranker') throw new Error('expected the ranker scenario');
    expect(s.request.model).toBe('ctr');
    expect(s.request.candidates).toBe(100);
    expect(applyOverrides(base, {})).toEqual(base);
  });

  it('--model names the corpus of a retriever scenario and the model of a store scenario', () => {
    const retriever = applyOverrides(loadScenario('retriever-retrieve'), { model: 'fiori' });
    if (retriever.service !== 'retriever') throw new Error('expected the retriever scenario');
    expect(retriever.request.corpus).toBe('fiori');
    const store = applyOverrides(loadScenario('store-lookup'), { model: 'ctr', warmupSec: 0 });
    if (store.service !== 'store') throw new Error('expected the store scenario');
    expect(store.request.model).toBe('ctr');
    expect(store.warmupSec).toBe(0);
  });
});
