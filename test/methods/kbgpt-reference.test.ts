// ROME and MEMIT against the reference ROME run on kbgpt (golden/rome-kbgpt.json): the issue asks both, at the same
// layer and with the same hparams (hparams/<METHOD>/kbgpt.yaml, the golden layer-0 statistics), to do at least as
// well as the reference, by the reference's own success definitions (first-token comparison on the edit, rephrase,
// one-hop and alias prompts; arg-max after the locality prompt unchanged). Single edits, as the reference: edit,
// measure, restore.
//
// The golden file publishes 4 of its 12 edits and the totals over all 12 (`summary_all_12`). Its `records` field
// says how they were chosen — cases known on prompt, rephrase and locality, subject at the start of the prompt,
// alternating birth_city / employer — and taking the first six of each relation in that order gives back the 4
// public edits in their published order, 6 one-hop and 2 subject-alias cases, as summary_all_12 counts. We compare
// per case on the public 4 and in total on the 12.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/models/index.js';
import { loadTokenizer } from '../../src/io/tokenizer.js';
import { Editor } from '../../src/editor/editor.js';
import { FileSecondMoments } from '../../src/stats/index.js';
import { readFlatCases } from '../../src/eval/cases.js';
import { measureCases, modelScorer } from '../../src/eval/measure.js';
import { firstTokenProtocol } from '../../src/eval/rome-protocol.js';
import { GOLDEN, KBGPT, REPO_ROOT } from '../data.js';

const golden = JSON.parse(readFileSync(join(GOLDEN, 'rome-kbgpt.json'), 'utf8'));
const raw = JSON.parse(readFileSync(join(KBGPT, 'edits.json'), 'utf8')).cases as any[];

function referenceSelection(): number[] {
  const eligible = raw.filter((c) => c.known_prompt && c.known_rephrase && c.known_locality && c.prompt.startsWith(c.subject));
  const first6 = (rel: string) => eligible.filter((c) => c.relation === rel).slice(0, 6).map((c) => c.case_id as number);
  const [births, employers] = [first6('birth_city'), first6('employer')];
  return births.flatMap((b, i) => [b, employers[i]]);
}

describe('ROME and MEMIT match or beat the reference ROME run on kbgpt', () => {
  const ids = referenceSelection();

  test('the selection reproduces the reference records: the public edits in order, 6 one-hop, 2 alias cases', () => {
    assert.equal(ids.length, 12);
    assert.deepEqual(ids.slice(0, 4), golden.edits.map((e: any) => e.case_id));
    const byId = new Map(raw.map((c) => [c.case_id, c]));
    const count = (k: string) => ids.filter((id) => byId.get(id).portability?.[k]).length;
    assert.equal(count('one_hop'), golden.summary_all_12.one_hop_n);
    assert.equal(count('subject_alias'), golden.summary_all_12.subject_alias_n);
  });

  for (const method of ['ROME', 'MEMIT']) {
    test(`${method}: per public case and in total over the 12`, () => {
      const model = loadModel(KBGPT);
      const tok = loadTokenizer(KBGPT);
      const stats = new FileSecondMoments({ 'transformer.h.0.mlp.c_proj': join(GOLDEN, 'kbgpt-layer0-mom2.safetensors') });
      const editor = new Editor(model, tok, { method, hparams: join(REPO_ROOT, `hparams/${method}/kbgpt.yaml`), stats });
      const scorer = modelScorer(model);
      const all = readFlatCases(join(KBGPT, 'edits.json'));
      const totals: Record<string, number> = { success_prompt: 0, success_rephrase: 0, locality_argmax_unchanged: 0, one_hop: 0, alias: 0 };
      const rows: string[] = [];
      for (const id of ids) {
        const c = all.find((x) => x.caseId === id)!;
        const [pre] = measureCases(tok, [c], scorer);
        editor.edit(c.request);
        const [post] = measureCases(tok, [c], scorer);
        editor.restore();
        const m = firstTokenProtocol.caseMetrics(pre, post);
        totals.success_prompt += m.success_prompt ?? 0;
        totals.success_rephrase += m.success_rephrase ?? 0;
        totals.locality_argmax_unchanged += m.locality_argmax_unchanged ?? 0;
        totals.one_hop += m['portability.one_hop'] ?? 0;
        totals.alias += m['portability.subject_alias'] ?? 0;
        rows.push(`case ${id}: ${JSON.stringify(m)}`);
        const e = golden.edits.find((x: any) => x.case_id === id);
        if (e) {
          const why = `${method} case ${id} vs reference ${e.success_prompt}/${e.success_rephrase}/${e.locality_argmax_unchanged}: ${JSON.stringify(m)}`;
          if (e.success_prompt) assert.equal(m.success_prompt, 1, why);
          if (e.success_rephrase) assert.equal(m.success_rephrase, 1, why);
          if (e.locality_argmax_unchanged) assert.equal(m.locality_argmax_unchanged, 1, why);
        }
      }
      const ref = golden.summary_all_12;
      const table = `${method} totals ${JSON.stringify(totals)} vs reference ${JSON.stringify(ref)}\n${rows.join('\n')}`;
      assert.ok(totals.success_prompt >= ref.success_prompt, table);
      assert.ok(totals.success_rephrase >= ref.success_rephrase, table);
      assert.ok(totals.locality_argmax_unchanged >= ref.locality_argmax_unchanged, table);
      assert.ok(totals.one_hop >= ref.success_one_hop, table);
      assert.ok(totals.alias >= ref.success_subject_alias, table);
      editor.dispose();
      model.dispose();
    });
  }
});
