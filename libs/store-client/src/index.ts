export * from './store-client';
export * from './decode-rows';
