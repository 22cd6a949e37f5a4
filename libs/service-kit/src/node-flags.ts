// The Node (V8) flags every embpress service process starts with (docs/adr/0020). They have to be
// on node's command line: V8 sizes its heap as the process starts, setting the flag later changes
// nothing, and Node refuses these flags in NODE_OPTIONS. The launchers that set them:
// cli/bin/embpress, package.json's `start` and `embpress` scripts and deploy/Dockerfile (checked
// against this list by cli/src/launchers.spec.ts); `serve all` and a clustered service's primary
// add whatever their own process lacks; the benchmarks start theirs with bench/src/node-args.ts.

/**
 * --initial-old-space-size=128: V8 starts a full mark-compact once the old generation plus the
 * array buffers allocated since the last one reach a limit that, for a service's small heap
 * (30-40 MB of objects; the tables are array buffers), sits a few MB above it. Every response's
 * buffers count against it, so under load the store ran a full collection every ~0.25 s; with
 * this initial size the limit starts at 128 MB, and in a 60-s `bench store` run the store ran 4
 * instead of 200-250 (docs/benchmarks.md, sixth round). The heap grows only as it fills.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** The flags of SERVICE_NODE_FLAGS that `execArgv` lacks (by name: another value counts as set). */
export function missingServiceNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVICE_NODE_FLAGS.filter((flag) => {
    const name = flag.split('=')[0] as string;
    return !execArgv.some((arg) => arg === name || arg.startsWith(`${name}=`));
  });
}
