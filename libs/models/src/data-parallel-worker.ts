// A worker replica of the data-parallel step (data-parallel.ts): builds its copy of the dense
// model on the same backend, then answers the calling thread's commands in order until 'exit'.
// It waits on shared memory (Atomics), never on its event loop, as the calling thread does.
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendChoice } from './backend';
import {
  CTL,
  gradientParts,
  sliceLayout,
  waitForChange,
  WORKER_SPIN_MS,
  type ReplicaCommand,
  type ReplicaInit,
} from './data-parallel';
import { CtrModel } from './model';

async function main(init: ReplicaInit): Promise<void> {
  const ctl = new Int32Array(init.ctl);
  let done = 0;
  let model: CtrModel | undefined;
  try {
    await initBackend(init.backend as BackendChoice);
    model = new CtrModel(init.config, {
      seed: init.seed,
      optimizer: init.optimizer,
      dropout: init.dropout,
    });
    const { numDense, numFields, dim } = model.config;
    const params = model.parameterCount();
    for (;;) {
      const posted = Atomics.load(ctl, CTL.posted);
      const received = receiveMessageOnPort(init.port);
      if (received === undefined) {
        waitForChange(ctl, CTL.posted, posted, Infinity, WORKER_SPIN_MS);
        continue;
      }
      const command = received.message as ReplicaCommand;
      if (command.kind === 'exit') break;
      if (command.kind === 'sync') {
        model.importWeights(command.weights);
        model.importOptimizerState(command.optimizer);
      } else if (command.kind === 'step') {
        const { n } = command;
        const layout = sliceLayout(n, numDense, numFields * dim, params);
        const input = new Float32Array(command.input);
        const output = new Float32Array(command.output);
        const at = layout.input;
        const out = layout.output;
        const r = model.sliceGradients(
          input.subarray(at.dense, at.dense + n * numDense),
          input.subarray(at.rows, at.rows + n * numFields * dim),
          input.subarray(at.labels, at.labels + n),
          command.slice,
          output.subarray(out.weightGrads, out.weightGrads + params),
          output.subarray(out.rowGrads, out.rowGrads + n * numFields * dim),
        );
        new Float64Array(command.output, 0, 1)[0] = r.loss;
        output.set(r.logits, out.logits);
      } else if (command.kind === 'apply') {
        model.applyGradientSum(gradientParts(command.parts, params), command.weights, command.lr, {
          ...command.shard,
          out: new Float32Array(command.out),
        });
      } else if (command.kind === 'assign') {
        model.assignFlatWeights(new Float32Array(command.values));
      } else if (command.kind === 'state') {
        init.port.postMessage({ slots: model.exportOptimizerState().slots });
      } else if (command.kind === 'export') {
        const flat = new Float32Array(params);
        let o = 0;
        for (const w of model.exportWeights()) {
          flat.set(w.values, o);
          o += w.values.length;
        }
        init.port.postMessage({ weights: flat });
      }
      done += 1;
      Atomics.store(ctl, CTL.done, done);
      Atomics.notify(ctl, CTL.done);
    }
  } catch (err) {
    init.port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    Atomics.store(ctl, CTL.failed, 1);
    Atomics.notify(ctl, CTL.done);
  } finally {
    model?.dispose();
    init.port.close();
  }
}

void main(workerData as ReplicaInit);
