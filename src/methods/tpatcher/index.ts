// T-Patcher: Transformer-Patcher, one mistake worth one neuron (Huang et al., ICLR 2023; ZeroYuHuang/Transformer-Patcher,
// not in EasyEdit). Each edit appends neurons to one MLP (the last layer's by default), trained so that they fire on the
// edit's input (activation loss), stay silent on a memory set of ordinary text (memory loss), and make the model say
// the target (edit loss); the model's weights never change. docs/tpatcher.md has the algorithm, the hparams, the
// choices lmedit makes for a causal LM and the measurements.
//
// One session owns one patch (kind 'T-Patcher') at the hparams' MLP: it adopts the one a loaded model already has
// installed there, or starts an empty one (the identity). Each compute adds the request's neurons to it, tagged with
// the edit id, and returns it as the edit's shared patch. The memory set is built once per session, lazily.
import { Generator, type Tensor } from '../../tensor/index.js';
import type { EditableModel, ModulePatch } from '../../models/index.js';
import type { EditMethod, MethodSession, SessionContext } from '../types.js';
import { SharedPatch } from '../shared-patch.js';
import { recordKeys } from '../footprint.js';
import { stringSeed } from '../../util/random.js';
import { TPatch } from './patch.js';
import { tpatcherEdit } from './edit.js';
import { buildMemory } from './memory.js';
import { checkTPatcherHparams, mlpActivation, patchModule, TPATCHER_SCHEMA, type TPatcherHparams } from './hparams.js';

export type { TPatcherHparams } from './hparams.js';
export { TPatch } from './patch.js';

/** The T-Patcher patch installed at `module` (the last one there), if any. */
function installedPatch(patches: readonly ModulePatch[], module: string): TPatch | undefined {
  return patches.filter((p): p is TPatch => p instanceof TPatch && p.module === module).at(-1);
}

function openSession(model: EditableModel, h: TPatcherHparams, ctx: SessionContext): MethodSession {
  const module = patchModule(model, h);
  const shared = new SharedPatch(model, (ps) => installedPatch(ps, module), () => new TPatch(module, mlpActivation(model)));
  let memory: Tensor | undefined;
  let built = false;
  const memorySet = () => {
    if (!built && h.memory_loss !== 'non_use') {
      memory = buildMemory(model, ctx.tokenizer, module, { pool: ctx.pool, file: h.memory_file, size: h.memory_size });
      ctx.log?.(`T-Patcher: memory set of ${memory?.shape[0] ?? 0} MLP inputs at ${module}`);
    }
    built = true;
    return memory;
  };
  return {
    compute(requests, cctx) {
      const mem = memorySet();
      return shared.edit(cctx.editId, requests, (r, edit) => {
        const onKey = (key: Tensor) => recordKeys(edit, module, key); // the footprint (src/methods/footprint.ts)
        // the random values depend on the seed and the request only: a resumed run draws what an uninterrupted one does
        const generator = new Generator(stringSeed(ctx.seed, `${r.text}\u0000${r.targetNew}`));
        return tpatcherEdit(model, ctx.tokenizer, shared.patch, r, h, { editId: cctx.editId, generator, memory: mem, recordVectors: ctx.recordVectors, log: ctx.log, onKey });
      });
    },
    // the memory set comes from the model as the session found it (the MLP's input does not see this patch)
    prepare() { memorySet(); },
    adopt: (edited) => shared.adopt(edited),
    dispose() {
      shared.release();
      memory?.dispose();
      memory = undefined;
    },
  };
}

export const tpatcher: EditMethod<TPatcherHparams> = {
  name: 'T-Patcher',
  schema: TPATCHER_SCHEMA,
  batching: 'sequential',
  encoderDecoder: true, // the decoder's FFN of a T5, as the original patches BART's
  check: checkTPatcherHparams,
  open: openSession,
  loadPatch(state, model, h) {
    const module = (state.meta as { module?: string }).module ?? patchModule(model, h);
    if (!model.modulePaths().includes(module)) throw new Error(`T-Patcher state: the model has no module '${module}'`);
    return TPatch.fromState(module, state);
  },
};
