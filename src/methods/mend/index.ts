// MEND (Mitchell et al., ICLR 2022, "Fast Model Editing at Scale"): a trained editor. A per-layer hypernetwork maps
// the rank-1 factors (x, δ) of the edit loss's gradient to a weight change; it is trained beforehand (lmedit train
// --method MEND) on edit records, the base model frozen, and then edits in one forward/backward pass. The edit is a
// set of dense weight deltas, applied, rolled back and saved by the Editor as FT's. EasyEdit: easyeditor/trainer/
// algs/MEND.py, easyeditor/models/mend/; original: eric-mitchell/mend. docs/mend.md.
import { keep, noGrad } from '../../tensor/index.js';
import { loadTrainedEditor } from '../trained.js';
import type { Edit, EditMethod, WeightDelta } from '../types.js';
import type { NormalizedRequest } from '../request.js';
import { MendEditor } from './editor.js';
import { checkMendHparams, MEND_SCHEMA, type MendHparams } from './hparams.js';

export { MendEditor } from './editor.js';
export { MEND_SCHEMA, type MendHparams } from './hparams.js';

/** Hparams that fix the editor's structure or meaning: an editor is used only with the values it was trained with. */
const STRUCTURAL = ['inner_params', 'rank', 'n_hidden', 'init', 'norm', 'combine', 'x_only', 'delta_only', 'one_sided', 'shared', 'descent'] as const;

function checkStructure(h: MendHparams, trained: Record<string, unknown>, file: string): void {
  for (const k of STRUCTURAL) {
    if (!(k in trained)) continue;
    if (JSON.stringify(trained[k]) !== JSON.stringify(h[k])) {
      throw new Error(`${file}: this MEND editor was trained with ${k} = ${JSON.stringify(trained[k])}, the hparams say ${JSON.stringify(h[k])}; use the hparams it was trained with`);
    }
  }
}

function editWith(editor: MendEditor, requests: NormalizedRequest[]): Edit {
  const started = performance.now();
  const deltas: WeightDelta[] = noGrad(() => [...editor.updates(requests, false)].map(([param, dense]) => ({ param, dense: keep(dense) })));
  const seconds = (performance.now() - started) / 1000;
  return {
    deltas,
    statsKeys: [],
    diagnostics: requests.map((r) => ({
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: seconds / requests.length,
      norms: Object.fromEntries(deltas.map((d) => [d.param, noGrad(() => d.dense!.norm().item())])),
    })),
  };
}

export const mend: EditMethod<MendHparams> = {
  name: 'MEND',
  schema: MEND_SCHEMA,
  batching: 'batch',
  encoderDecoder: true, // the factors of a T5's encoder and decoder weights come from their own stack's positions
  check: checkMendHparams,

  open(model, h, ctx) {
    const editor = new MendEditor(model, h, ctx.tokenizer, h.seed);
    try {
      const { file, manifest } = loadTrainedEditor(h.archive, 'MEND', model, editor);
      checkStructure(h, manifest.hparams ?? {}, file);
      if (!editor.ready()) throw new Error(`${file}: this MEND editor has no normalisation statistics (it was saved before its first training step)`);
    } catch (e) {
      editor.dispose();
      throw e;
    }
    return { compute: (requests) => editWith(editor, requests), dispose: () => editor.dispose() };
  },

  trained: {
    name: 'MEND',
    create: (model, h, { tokenizer, seed }) => new MendEditor(model, h, tokenizer, seed),
  },
};
