// k6: BatchLookup on the embedding store at a constant arrival rate, from
// loadtest/scenarios/store-lookup.json (or SCENARIO=path). Run from the repository root:
//   k6 run loadtest/k6/store-lookup.js -e TARGET=127.0.0.1:50051 -e MODEL=demo -e RATE=200
import grpc from 'k6/net/grpc';
import exec from 'k6/execution';
import { check, fail } from 'k6';
import { k6Options, requestIndex, storeLookupGenerator, withEnv } from './gen.js';

// The scenario: SCENARIO, else ../scenarios/<file> (the repository), else <file> beside this
// script (a flat ConfigMap of loadtest/k6 and loadtest/scenarios, as the k6-operator mounts it).
function openScenario(file) {
  if (__ENV.SCENARIO) return open(__ENV.SCENARIO);
  try {
    return open('../scenarios/' + file);
  } catch (e) {
    return open('./' + file);
  }
}

// The protos of the repository (proto/); where they are not mounted, the server's reflection.
function loadProtos(grpcClient, file) {
  try {
    grpcClient.load(['../../proto'], file);
    return { plaintext: true, timeout: '10s' };
  } catch (e) {
    return { plaintext: true, timeout: '10s', reflect: true };
  }
}

const scenario = withEnv(JSON.parse(openScenario('store-lookup.json')), __ENV);
const client = new grpc.Client();
const connectParams = loadProtos(client, 'embpress/store/v1/store.proto');
const SERVICE = 'embpress.store.v1.EmbeddingStoreService';
const params = { timeout: scenario.timeoutMs + 'ms' };

export const options = k6Options(scenario);

// The tables to read: the scenario's list, or every active table of the model.
export function setup() {
  client.connect(scenario.target, connectParams);
  const res = client.invoke(SERVICE + '/DescribeTables', { model: scenario.request.model }, params);
  client.close();
  if (res.status !== grpc.StatusOK) fail('DescribeTables: ' + JSON.stringify(res.error));
  const wanted = scenario.request.tables || [];
  const tables = (res.message.tables || [])
    .filter((t) => t.model === scenario.request.model && t.active)
    .filter((t) => wanted.length === 0 || wanted.indexOf(t.table) >= 0)
    .map((t) => ({ table: t.table, rows: Number(t.rows) }));
  if (tables.length === 0 || (wanted.length > 0 && tables.length !== wanted.length)) {
    fail('model ' + scenario.request.model + ' lacks the tables ' + JSON.stringify(wanted));
  }
  return { tables: tables };
}

let connected = false;
let next = null;

export default function (data) {
  if (!connected) {
    client.connect(scenario.target, connectParams);
    connected = true;
    next = storeLookupGenerator(scenario, data.tables);
  }
  const i = requestIndex(scenario, exec.scenario.name, exec.scenario.iterationInTest);
  const request = next(i);
  const res = client.invoke(SERVICE + '/BatchLookup', request, params);
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'one block per table, idsPerTable rows each': (r) =>
      r &&
      r.message &&
      r.message.tables.length === request.tables.length &&
      r.message.tables.every((t) => Number(t.rows.count) === scenario.request.idsPerTable),
  });
}
