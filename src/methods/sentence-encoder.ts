// The sentence encoder behind `retriever: embedding` (IKE's demonstration and fact retrieval, as EasyEdit's
// all-MiniLM-L6-v2): a local BERT-family sentence-transformers directory or cached repo id named by the hparams'
// sentence_model_name, loaded with BertEmbedder. Nothing is downloaded: a missing one is an error naming the field.
import { BertEmbedder } from '../models/bert-embedder.js';
import { resolveModelDir } from '../io/checkpoint.js';

/** Checks that `name` resolves to a local directory, or throws naming the hparams source and field. */
export function checkSentenceEncoder(name: string, source: string): void {
  try {
    resolveModelDir(name);
  } catch (e) {
    throw new Error(`${source}: retriever 'embedding' needs the sentence encoder sentence_model_name '${name}' ` +
      `(a local sentence-transformers directory such as all-MiniLM-L6-v2): ${(e as Error).message}`, { cause: e });
  }
}

/** Loads the sentence encoder (the caller owns it and disposes it). */
export function loadSentenceEncoder(name: string, source: string): BertEmbedder {
  checkSentenceEncoder(name, source);
  try {
    return BertEmbedder.load(name);
  } catch (e) {
    throw new Error(`${source}: sentence_model_name '${name}': ${(e as Error).message}`, { cause: e });
  }
}
