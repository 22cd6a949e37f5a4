export * from './store-client';
