export * from './generate';
export * from './hash';
export * from './model';
export * from './profiles';
export * from './zipf';
