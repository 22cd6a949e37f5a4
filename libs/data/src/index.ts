// @embpress/data: dataset reading for the trainer (and the ranker's raw-value mapping).
export * from './errors';
export * from './formats';
export * from './field-parsers';
export * from './line-blocks';
export * from './tabular-reader';
export * from './dense';
export * from './vocabulary';
export * from './splits';
export * from './cache';
export * from './shuffle';
export * from './encode';
export * from './prepare';
export * from './metrics';
export * from './synth';
