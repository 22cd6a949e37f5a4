// @embpress/corpus: a retrieval corpus as the retriever serves it and `embpress ingest` writes it:
// passages, their encoder (TF-IDF + truncated SVD, or precomputed vectors), the compressed passage
// table, and the corpus version's files in the registry (docs/adr/0010).
export * from './corpus/corpus';
export * from './corpus/corpus-version';
export * from './corpus/compress-rows';
export * from './corpus/ingest';
export * from './encoder/lsa-encoder';
export { tokenize, ENGLISH_STOPWORDS } from './encoder/tokenize';
