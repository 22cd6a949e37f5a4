// k6: Retrieve on the retriever at a constant arrival rate, from
// loadtest/scenarios/retriever-retrieve.json (or SCENARIO=path). Run from the repository root:
//   k6 run loadtest/k6/retriever.js -e TARGET=127.0.0.1:50054 -e MODEL=docs -e RATE=100
import grpc from 'k6/net/grpc';
import exec from 'k6/execution';
import encoding from 'k6/encoding';
import { check } from 'k6';
import { k6Options, requestIndex, retrieveGenerator, withEnv } from './gen.js';

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

const scenario = withEnv(JSON.parse(openScenario('retriever-retrieve.json')), __ENV);
const client = new grpc.Client();
const connectParams = loadProtos(client, 'embpress/retriever/v1/retriever.proto');
const params = { timeout: scenario.timeoutMs + 'ms' };
const next = retrieveGenerator(scenario);

export const options = k6Options(scenario);

let connected = false;

export default function () {
  if (!connected) {
    client.connect(scenario.target, connectParams);
    connected = true;
  }
  const i = requestIndex(scenario, exec.scenario.name, exec.scenario.iterationInTest);
  const request = next(i);
  // protojson carries bytes as base64.
  if (request.vector) request.vector.data = encoding.b64encode(request.vector.data.buffer, 'std');
  const res = client.invoke('embpress.retriever.v1.RetrieverService/Retrieve', request, params);
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'at most k passages': (r) =>
      r && r.message && (r.message.passages || []).length <= scenario.request.k,
  });
}
