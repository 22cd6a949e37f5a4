export {
  loadRetrieverConfig,
  RETRIEVER_DEFAULT_PORT,
  RETRIEVER_ENV_PREFIX,
  type RetrieverConfig,
} from './config';
export { startRetriever } from './main';
export * from './corpus/corpus';
export * from './corpus/corpus-version';
export * from './corpus/compress-rows';
export * from './corpus/ingest';
export * from './encoder/lsa-encoder';
export { tokenize, ENGLISH_STOPWORDS } from './encoder/tokenize';
