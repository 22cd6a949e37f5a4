// Test helpers for the CLI's own specs and the cross-service e2e project (e2e/): the real
// `embpress` CLI as a child process, and a hand-published model version.
export * from './cli-process';
export * from './publish';
