// The cores this process may use, for the defaults of the services' and the trainer's worker
// counts (EMBPRESS_RANKER_WORKERS, EMBPRESS_TRAIN_WORKERS).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * The cores this process may use: its CPU affinity, capped by a cgroup CPU quota when it runs in
 * a container with a CPU limit (os.availableParallelism sees the node's cores, not the limit).
 */
export function availableCores(
  read: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): number {
  const cores = availableParallelism();
  let quota: number | undefined;
  try {
    // cgroup v2: "<quota> <period>" or "max <period>".
    const [max, period] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    if (max !== undefined && max !== 'max') quota = Number(max) / Number(period);
  } catch {
    try {
      // cgroup v1: quota -1 = none.
      const q = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim());
      const p = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim());
      if (q > 0 && p > 0) quota = q / p;
    } catch {
      // no cgroup CPU controller visible: the affinity is all we know
    }
  }
  return quota !== undefined && Number.isFinite(quota) && quota > 0
    ? Math.max(1, Math.min(cores, Math.ceil(quota)))
    : cores;
}
