// IKE: in-context knowledge editing (Zheng et al., EMNLP 2023, "Can We Edit Factual Knowledge by In-Context
// Learning?"; EasyEdit easyeditor/models/ike). No weight changes: an edit adds its new fact to the memory of the
// session's one inference wrapper, and every query is answered with retrieved demonstrations and that fact in the
// context (wrapper.ts; the prompt in demos.ts; demonstration selection in selection.ts; docs/ike.md).
import type { Embedder } from '../../retrieval/index.js';
import type { EditMethod, MethodSession } from '../types.js';
import { memorySession } from '../memory-session.js';
import { checkIkeHparams, IKE_SCHEMA, ikeRetrieverSpec, type IkeHparams } from './hparams.js';
import { poolDemonstrations } from './demos.js';
import { IkeWrapper } from './wrapper.js';
import { checkSentenceEncoder, loadSentenceEncoder } from '../sentence-encoder.js';

export { IkeWrapper, IKE_STATE_FORMAT, type IkeFact, type IkeSettings } from './wrapper.js';
export { IKE_SCHEMA, type IkeHparams } from './hparams.js';
export { factText, demonstrationText, ikePrompt, retrievalQuery, recordDemonstrations, poolDemonstrations, type Demonstration } from './demos.js';
export { parsePoolRange, selectPool, poolRequests, poolOverlap, type PoolCase } from '../pool.js';

export interface IkeOptions {
  /**
   * A sentence encoder for `retriever: embedding` (EasyEdit's all-MiniLM-L6-v2). Without one, the hparams'
   * sentence_model_name is loaded as a local BERT sentence-transformers directory (BertEmbedder), owned by the wrapper.
   */
  embedder?: Embedder;
}

/** The IKE method, with an optional sentence embedder for dense retrieval. */
export function createIke(opts: IkeOptions = {}): EditMethod<IkeHparams> {
  return {
    name: 'IKE',
    schema: IKE_SCHEMA,
    // one fact per request; a batch adds all its facts under one edit id
    batching: 'sequential',
    encoderDecoder: true, // text in, text out: the wrapper never looks inside the model

    check(_model, h, source) {
      checkIkeHparams(h, source);
      if (h.retriever === 'embedding' && !opts.embedder) checkSentenceEncoder(h.sentence_model_name, source);
    },

    open(_model, h, ctx): MethodSession {
      const demos = h.use_icl_examples && h.k > 0 ? poolDemonstrations(ctx.pool ?? []) : [];
      if (h.use_icl_examples && h.k > 0 && demos.length === 0) {
        throw new Error(`IKE: k = ${h.k} demonstrations need a demonstration pool disjoint from the evaluated cases ` +
          '(pool_file and pool_range in the hparams, or SessionContext.pool); k: 0 or use_icl_examples: false edits without');
      }
      if (demos.length > 0 && demos.length < h.k) ctx.log?.(`IKE: the pool gives ${demos.length} demonstrations, fewer than k = ${h.k}; all are used`);
      const own = h.retriever === 'embedding' && !opts.embedder ? loadSentenceEncoder(h.sentence_model_name, 'IKE hparams') : undefined;
      const embedder = opts.embedder ?? own;
      const settings = { k: h.use_icl_examples ? h.k : 0, selection: h.demo_selection, order: h.demo_order, seed: ctx.seed, retriever: ikeRetrieverSpec(h, embedder?.name) };
      // a replayed checkpoint or loaded model brings its memory: later edits extend it
      return memorySession(new IkeWrapper(settings, demos, [], embedder, own), (w): w is IkeWrapper => w instanceof IkeWrapper, (w, requests, editId) => w.addFacts(requests, editId),
        (f, r) => ({
          caseId: f.caseId, prompt: f.prompt, targetNew: f.targetNew,
          extra: { demonstrations: f.demonstrations.map((d) => ({ kind: demos[d].kind, caseId: demos[d].caseId, record: demos[d].record })), request: r.index },
        }),
      );
    },

    loadWrapper(state) {
      const spec = (state.meta as { settings?: { retriever?: { kind?: string; model?: string } } })?.settings?.retriever;
      const own = spec?.kind === 'embedding' && !opts.embedder && typeof spec.model === 'string' ? loadSentenceEncoder(spec.model, 'IKE state') : undefined;
      try {
        return IkeWrapper.fromState(state, opts.embedder ?? own, 'IKE state', own);
      } catch (e) {
        own?.dispose();
        throw e;
      }
    },
  };
}

export const ike = createIke();
