// Editing benchmarks on factgpt: seconds per ROME edit, per MEMIT edit and per 100-edit MEMIT batch, the one-time
// context-template sampling, statistics throughput in tokens/s, and the process's peak RSS. The covariance comes
// from the golden file so that edit timings exclude statistics (reported on their own).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/models/index.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { Editor } from '../src/editor/editor.js';
import { FileSecondMoments, StatsCache } from '../src/stats/index.js';
import { readHparamsFile } from '../src/methods/hparams.js';
import { sampleContextTemplates } from '../src/methods/rome/templates.js';
import type { BenchContext, BenchSuite } from './harness.js';

const DATA = join(process.cwd(), '..', 'shared', 'data');
const FACTGPT = join(DATA, 'factgpt');
const MOM2 = join(DATA, 'golden', 'factgpt-layer2-mom2.safetensors');

interface Fact { prompt: string; subject: string; target_new: string; ground_truth: string; known_prompt: boolean }

function requests(n: number, offset = 0) {
  const facts = (JSON.parse(readFileSync(join(FACTGPT, 'facts.json'), 'utf8')).records as Fact[]).filter((f) => f.known_prompt);
  return facts.slice(offset, offset + n).map((f) => ({ prompt: f.prompt, subject: f.subject, targetNew: f.target_new, groundTruth: f.ground_truth }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export const editingSuite: BenchSuite = {
  name: 'editing',
  description: 'seconds per ROME / MEMIT edit and per 100-edit MEMIT batch on factgpt, statistics tokens/s, peak RSS',
  benchmarks: ['rome_templates_seconds', 'rome_edit_seconds', 'memit_edit_seconds', 'memit_batch100_seconds', 'stats_tokens_per_second', 'editing_peak_rss'],
  run(ctx: BenchContext): void {
    const model = loadModel(FACTGPT);
    const tok = loadTokenizer(FACTGPT);
    const stats = new FileSecondMoments({ 'transformer.h.2.mlp.c_proj': MOM2 });
    const romeHparams = readHparamsFile('hparams/ROME/factgpt.yaml').raw;
    if (ctx.selected('rome_templates_seconds')) {
      const t = performance.now();
      sampleContextTemplates(model, tok, [[5, 10], [10, 10]], 1);
      ctx.report.value('rome_templates_seconds', (performance.now() - t) / 1000, 's', '21 context templates sampled once per model (cached)');
    }
    if (ctx.selected('rome_edit_seconds')) {
      const editor = new Editor(model, tok, { method: 'ROME', hparams: romeHparams, stats });
      editor.edit(requests(1, 20)); // warm-up: templates, C⁻¹
      editor.restore();
      const times = requests(5).map((r) => {
        const [rec] = editor.edit(r);
        editor.restore();
        return rec.seconds;
      });
      ctx.report.value('rome_edit_seconds', median(times), 's', `median of ${times.length} edits (compute + apply; templates and C⁻¹ cached)`);
      editor.dispose();
    }
    const memitHparams = { ...readHparamsFile('hparams/MEMIT/factgpt.yaml').raw, layers: [2] };
    if (ctx.selected('memit_edit_seconds')) {
      const editor = new Editor(model, tok, { method: 'MEMIT', hparams: memitHparams, stats });
      editor.edit(requests(1, 20));
      editor.restore();
      const times = requests(3).map((r) => {
        const [rec] = editor.edit([r]);
        editor.restore();
        return rec.seconds;
      });
      ctx.report.value('memit_edit_seconds', median(times), 's', `median of ${times.length} single-edit batches, layer 2`);
      editor.dispose();
    }
    if (ctx.selected('memit_batch100_seconds')) {
      const editor = new Editor(model, tok, { method: 'MEMIT', hparams: memitHparams, stats });
      const [rec] = editor.edit(requests(100));
      ctx.report.value('memit_batch100_seconds', rec.seconds, 's', `one 100-edit batch, layer 2 (${(rec.seconds / 100).toFixed(2)} s per edit)`);
      editor.restore();
      editor.dispose();
    }
    if (ctx.selected('stats_tokens_per_second')) {
      const cacheDir = mkdtempSync(join(tmpdir(), 'lmedit-bench-stats-'));
      try {
        const cache = new StatsCache({ corpus: join(DATA, 'wikitext-2', 'test.txt'), samples: 200, chunk: 128, dtype: 'float64', tokenizer: tok, cacheDir });
        const t = performance.now();
        const entry = cache.get(model, 'transformer.h.2.mlp.c_proj');
        const seconds = (performance.now() - t) / 1000;
        ctx.report.value('stats_tokens_per_second', entry.count / seconds, 'tokens/s', `C at layer 2 over ${entry.count} WikiText-2 tokens (200 chunks of 128), float64, incl. tokenizing`);
        cache.dispose();
      } finally {
        rmSync(cacheDir, { recursive: true, force: true });
      }
    }
    ctx.report.value('editing_peak_rss', process.resourceUsage().maxRSS / 1024, 'MB', 'process peak RSS after the editing suite');
    model.dispose();
  },
};
