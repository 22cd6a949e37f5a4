// k6: Rank on the ranker at a constant arrival rate, from loadtest/scenarios/ranker-rank.json
// (or SCENARIO=path). Run from the repository root:
//   k6 run loadtest/k6/ranker.js -e TARGET=127.0.0.1:50053 -e MODEL=demo -e RATE=200
// The candidates go as feature columns (the scenario's request.requestForm, default "columns");
// -e REQUEST_FORM=rows sends one Candidate message per candidate instead.
import grpc from 'k6/net/grpc';
import exec from 'k6/execution';
import { check } from 'k6';
import { k6Options, rankGenerator, requestIndex, withEnv } from './gen.js';

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

const scenario = withEnv(JSON.parse(openScenario('ranker-rank.json')), __ENV);
const client = new grpc.Client();
const connectParams = loadProtos(client, 'embpress/ranker/v1/ranker.proto');
const params = { timeout: scenario.timeoutMs + 'ms' };
const next = rankGenerator(scenario);

export const options = k6Options(scenario);

let connected = false;

export default function () {
  if (!connected) {
    client.connect(scenario.target, connectParams);
    connected = true;
  }
  const i = requestIndex(scenario, exec.scenario.name, exec.scenario.iterationInTest);
  const request = next(i);
  // As many candidates as the request carries, in either form.
  const sent = (request.candidateIds || request.candidates).length;
  const res = client.invoke('embpress.ranker.v1.RankerService/Rank', request, params);
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'one score per candidate': (r) => r && r.message && r.message.ranked.length === sent,
  });
}
