export {
  loadRetrieverConfig,
  RETRIEVER_DEFAULT_PORT,
  RETRIEVER_ENV_PREFIX,
  type RetrieverConfig,
} from './config';
export { startRetriever } from './main';
