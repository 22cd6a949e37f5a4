// The validation batches of `validationStep` stages (AutoDim, AutoSrh: architecture weights train
// on validation data, docs/adr/0016-staged-training.md): one cursor for the whole run, cycling over
// the validation split in order. Its position (batches handed out) is checkpointed, so a resumed
// run sees the same batches.
import type { PreparedDataset } from '@embpress/data';

export interface ValidationBatch {
  sparse: Uint32Array;
  dense: Float32Array;
  labels: Float32Array;
}

export class ValidationCursor {
  private iterator: AsyncGenerator<ValidationBatch> | undefined;
  private readonly batchesPerPass: number;

  /** `position`: batches handed out so far (a checkpoint's). */
  constructor(
    private readonly ds: PreparedDataset,
    private readonly batchSize: number,
    public position = 0,
  ) {
    // Full batches only: a short last batch would weigh its rows more in a step.
    this.batchesPerPass = Math.floor(ds.split('validation').rows / batchSize);
  }

  /** The next batch (after the last one: the first again). Null when no full batch exists. */
  async next(): Promise<ValidationBatch | null> {
    if (this.batchesPerPass === 0) return null;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (this.iterator === undefined) {
        const at = this.position % this.batchesPerPass;
        this.iterator = this.ds.batches('validation', {
          batchSize: this.batchSize,
          start: at * this.batchSize,
          end: this.batchesPerPass * this.batchSize,
          dropLast: true,
        });
      }
      const r = await this.iterator.next();
      if (!r.done) {
        this.position += 1;
        return r.value;
      }
      this.iterator = undefined;
    }
    return null;
  }

  async close(): Promise<void> {
    await this.iterator?.return(undefined);
    this.iterator = undefined;
  }
}
