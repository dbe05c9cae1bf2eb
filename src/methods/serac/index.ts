// SERAC: semi-parametric editing with a retrieval-augmented counterfactual model (Mitchell et al., ICML 2022,
// "Memory-Based Model Editing at Scale"; EasyEdit easyeditor/models/serac and trainer/algs/SERAC.py;
// eric-mitchell/serac). No weight changes: an edit adds an entry to the session's one memory (wrapper.ts); a trained
// scope classifier routes each query either to the frozen base model or to a trained counterfactual model conditioned
// on the matching edit (nets.ts); the two networks are trained beforehand by `lmedit train --method SERAC`
// (train.ts; docs/serac.md).
import * as fs from 'node:fs';
import { isEncoderDecoder, type EditableModel } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { loadTrainedEditor } from '../trained.js';
import type { EditMethod, MethodSession } from '../types.js';
import { checkSeracHparams, SERAC_SCHEMA, type SeracHparams } from './hparams.js';
import { SeracEditor } from './train.js';
import { SeracWrapper } from './wrapper.js';

export { SeracWrapper, SERAC_STATE_FORMAT, type SeracEntry, type Route } from './wrapper.js';
export { SeracEditor, classifierPairs, hardNegatives, inScopeQueries, localityPrompts } from './train.js';
export { ScopeClassifier, counterfactualPrompt } from './nets.js';
export { SERAC_SCHEMA, type SeracHparams } from './hparams.js';

/** Fields that shape the trained networks or their use: a trained editor is refused when the hparams disagree. */
const ARCH_FIELDS = ['cls_layer', 'cls_pool', 'cls_hidden', 'cls_dim', 'cos', 'square', 'bound_embeds', 'dist_heads', 'scale', 'freeze_cntr', 'cntr_sep', 'cntr_train_embeddings', 'small_name'] as const;

/** The trained classifier and counterfactual model of `h.archive`, for `model`. */
export function openSeracEditor(model: EditableModel, h: SeracHparams, tokenizer: Tokenizer): SeracEditor {
  if (!h.archive || !fs.existsSync(h.archive)) loadTrainedEditor(h.archive, 'SERAC', model, undefined as never); // throws the standard message
  const editor = new SeracEditor(model, h, tokenizer, h.seed);
  try {
    const { file, manifest } = loadTrainedEditor(h.archive, 'SERAC', model, editor);
    for (const k of ARCH_FIELDS) {
      const trained = manifest.hparams?.[k];
      if (trained !== undefined && JSON.stringify(trained) !== JSON.stringify(h[k])) {
        throw new Error(`${file}: this SERAC editor was trained with ${k} = ${JSON.stringify(trained)}, the hparams say ${JSON.stringify(h[k])}`);
      }
    }
    for (const g of editor.groups()) for (const t of g.params.values()) t.requiresGrad_(false);
    return editor;
  } catch (e) {
    editor.dispose();
    throw e;
  }
}

export const serac: EditMethod<SeracHparams> = {
  name: 'SERAC',
  schema: SERAC_SCHEMA,
  // a batch adds all its entries under one edit id
  batching: 'batch',
  encoderDecoder: true, // a T5's classifier features are its encoder's; its counterfactual model is a T5 too

  check(model, h, source) {
    // the classifier reads a T5's encoder
    checkSeracHparams(h, isEncoderDecoder(model) ? model.config.encoderLayers : model.dims.numLayers, source);
  },

  trained: {
    name: 'SERAC',
    create: (model, h, ctx) => new SeracEditor(model, h, ctx.tokenizer, ctx.seed),
  },

  open(model, h, ctx): MethodSession {
    let wrapper = new SeracWrapper(openSeracEditor(model, h, ctx.tokenizer));
    let used = false;
    return {
      // a replayed state file brings its memory: later edits extend it
      adopt(edited) {
        const found = edited.inferenceWrappers().find((w): w is SeracWrapper => w instanceof SeracWrapper);
        if (found && found !== wrapper) {
          if (!used) wrapper.dispose();
          wrapper = found;
          used = true;
        }
      },
      compute(requests, c) {
        const started = performance.now();
        const added = wrapper.add(requests, c.editId);
        used = true;
        const seconds = (performance.now() - started) / 1000;
        const first = wrapper.memory().length - added.length;
        return {
          deltas: [],
          wrapper,
          statsKeys: [],
          diagnostics: added.map((e, i) => ({ caseId: e.caseId, prompt: e.prompt, targetNew: e.targetNew, seconds: seconds / added.length, extra: { entry: first + i, request: requests[i].index } })),
        };
      },
      // once an edit used it, the wrapper belongs to the edited model (EditedModel.dispose)
      dispose: () => { if (!used) wrapper.dispose(); },
    };
  },

  loadWrapper(state, model, h) {
    const entries = SeracWrapper.entriesOf(state);
    return new SeracWrapper(openSeracEditor(model, h, loadTokenizer(model.source.dir, model.source.rawConfig)), entries);
  },
};
