// The locate-then-edit methods on kbgpt (layer 0, its reference statistics): seconds per edit (compute + apply,
// median of a few single edits) and the peak tensor memory during them, per method. ROME and MEMIT run alongside so
// the figures compare within one run (absolute times on a shared machine are noisy):
//   <method>_edit_seconds        median per edit
//   <method>_edit_peak_tensor    peak bytes held by tensors while editing (resetPeakMemory before each method)
//   <method>_seconds_vs_memit    <method>_edit_seconds / memit_edit_seconds
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadModel } from '../src/models/index.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { Editor } from '../src/editor/editor.js';
import { fromFile, keep, memory, resetPeakMemory } from '../src/tensor/index.js';
import type { SecondMomentProvider } from '../src/methods/types.js';
import { median, type BenchContext, type BenchSuite } from './harness.js';

const SHARED = join(process.cwd(), '..', 'shared', 'data');
const KBGPT = join(SHARED, 'kbgpt');
const METHODS = ['ROME', 'MEMIT', 'EMMET', 'AlphaEdit', 'PMET', 'KN'];
const EDITS = 3;

function layer0Stats(): SecondMomentProvider {
  const file = join(SHARED, 'golden', 'kbgpt-layer0-mom2.safetensors');
  const h = readSafetensorsHeader(file);
  const e = h.tensors.get('mom2')!;
  const mom2 = keep(fromFile(file, e.byteOffset, 'float32', e.shape));
  return {
    get(_m, module) {
      if (module !== 'transformer.h.0.mlp.c_proj') throw new Error(`bench: no statistics for ${module}`);
      return { mom2, count: Number(h.metadata.count), key: 'golden:kbgpt-layer0' };
    },
  };
}

const key = (m: string) => m.toLowerCase();

export const locateSuite: BenchSuite = {
  name: 'locate',
  description: 'seconds per edit and peak tensor memory of ROME, MEMIT, EMMET, AlphaEdit, PMET and KN on kbgpt',
  benchmarks: METHODS.flatMap((m) => [`${key(m)}_edit_seconds`, `${key(m)}_edit_peak_tensor`, ...(m === 'MEMIT' ? [] : [`${key(m)}_seconds_vs_memit`])]),
  run(ctx: BenchContext): void {
    const wanted = METHODS.filter((m) => [`${key(m)}_edit_seconds`, `${key(m)}_edit_peak_tensor`, `${key(m)}_seconds_vs_memit`].some((b) => ctx.selected(b)));
    if (wanted.length === 0) return;
    if (wanted.some((m) => m !== 'MEMIT') && !wanted.includes('MEMIT')) wanted.unshift('MEMIT');
    const model = loadModel(KBGPT);
    const tok = loadTokenizer(KBGPT);
    const stats = layer0Stats();
    const cases = (JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[]).filter((c) => c.known_prompt).slice(0, EDITS)
      .map((c) => ({ prompt: c.prompt, subject: c.subject, targetNew: c.target_new, groundTruth: c.ground_truth }));
    const seconds = new Map<string, number>();
    try {
      for (const m of wanted) {
        const editor = new Editor(model, tok, { method: m, hparams: join('hparams', m.toUpperCase(), 'kbgpt.yaml'), stats });
        resetPeakMemory();
        const base = memory().allocatedBytes;
        const times = cases.map((r) => {
          const t = editor.edit(r)[0].seconds;
          editor.restore();
          return t;
        });
        const peak = memory().peakAllocatedBytes - base;
        editor.dispose();
        seconds.set(m, median(times));
        ctx.report.value(`${key(m)}_edit_seconds`, median(times), 's', `${m}: median of ${EDITS} single edits (hparams/${m.toUpperCase()}/kbgpt.yaml)`);
        ctx.report.value(`${key(m)}_edit_peak_tensor`, peak / 2 ** 20, 'MB', `${m}: peak tensor memory above the loaded model while editing`);
      }
      for (const m of wanted) {
        if (m === 'MEMIT') continue;
        ctx.report.value(`${key(m)}_seconds_vs_memit`, seconds.get(m)! / seconds.get('MEMIT')!, 'ratio', `${m} / MEMIT seconds per edit, same run`);
      }
    } finally {
      model.dispose();
    }
  },
};
