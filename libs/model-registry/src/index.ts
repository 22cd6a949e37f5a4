export * from './errors';
export * from './manifest';
export * from './registry-dir';
export * from './ctr-model-files';
export * from './inspect';
export * from './table-to-write';
