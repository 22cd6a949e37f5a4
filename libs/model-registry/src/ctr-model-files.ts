// The files a CTR model version holds beside its tables (docs/adr/0006): written by the trainer,
// read (and verified against the manifest's `files`) by the ranker and `embpress bench ranker`.
// Named here once, so a writer and its readers cannot drift apart.
export const CTR_MODEL_FILES = {
  /** The dense network's weights (libs/models weights-file format). */
  denseWeights: 'dense.weights',
  /** The train split's vocabularies: raw values → row ids (libs/data Vocabulary JSON). */
  vocabulary: 'vocabulary.json',
} as const;
