// One WISE edit (EasyEdit easyeditor/models/wise/WISE.py, WISE.edit; utils.py tokenize):
//   batch  one row per context template with the request's prompt and target (template.format(prompt + ' ' +
//          target)), then the irrelevant prompt as the last row;
//   shard  the current shard (new_weight) is trained from where the last edit left it; at every save_freq-th edit a
//          fresh random mask (each entry 1 with probability mask_ratio) is drawn, and only masked entries get gradient;
//   loss   ft: per template row, the target tokens' cross-entropy summed and divided by (number of targets + 1) — EasyEdit's
//          label mask starts one position early, on the last prompt token whose label is ignored — mean over rows;
//          act: with d = the row's mean over tokens of ‖act(x·W') − act(x·W)‖ (in-scope d_i on the template rows,
//          out-of-scope d_o on the irrelevant row), the mean over positive entries of (d_o − d_i + γ), of (d_o − α)
//          and of (β − d_i) (each 0 when none is positive);
//   step   SGD (lr edit_lr, weight decay 1e-5), the gradient multiplied by the mask before the step, then the shard
//          clamped to main ± norm_constraint; up to n_iter steps, stopping early when the loss changed by at most 1e-4
//          and is at most 0.02 (EarlyStopMeter);
//   record the mean in-scope distance of the last pass (before the last step) lowers the threshold minAct.
// The model's output at the layer is the shard's for every row while training (EasyEdit's `editing` mode).
import { crossEntropy, Generator, keep, noGrad, rand, SGD, tensor, tidy, type Tensor } from '../../tensor/index.js';
import { padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import type { EditDiagnostics, LossStep } from '../types.js';
import { applyActivation, rowDistances, type WiseAdapter } from './adapter.js';
import { afterEdit, type SideState } from './memory.js';
import { margins, type WiseHparams } from './hparams.js';
import { LOC_MAX_TOKENS } from './prompts.js';
import { stringSeed } from '../../util/random.js';

/** The rows of one edit: template rows then the irrelevant row (right-padded), and the target tokens to score. */
export interface EditBatch {
  ids: number[][];
  mask: number[][];
  templateRows: number;
  /** Per scored token: its row, the position predicting it, the token, and its weight in the ft loss. */
  rows: number[];
  positions: number[];
  targets: number[];
  weights: number[];
}

function fill(template: string, text: string): string {
  const at = template.lastIndexOf('{}');
  return template.slice(0, at) + text + template.slice(at + 2);
}

export function editBatch(tok: Tokenizer, templates: string[], r: NormalizedRequest, loc: string): EditBatch {
  const b: EditBatch = { ids: [], mask: [], templateRows: templates.length, rows: [], positions: [], targets: [], weights: [] };
  const rows: number[][] = [];
  templates.forEach((tpl, row) => {
    const prompt = tok.encode(fill(tpl, r.text));
    const full = tok.encode(fill(tpl, r.text + r.targetNew));
    if (prompt.length === 0) throw new Error(`WISE: the prompt of request ${r.index} encodes to no tokens`);
    if (full.length <= prompt.length) throw new Error(`WISE: request ${r.index}: the target '${r.targetNew}' adds no token after the prompt`);
    const n = full.length - prompt.length;
    for (let j = 0; j < n; j++) {
      b.rows.push(row);
      b.positions.push(prompt.length - 1 + j);
      b.targets.push(full[prompt.length + j]);
      b.weights.push(1 / ((n + 1) * templates.length));
    }
    rows.push(full);
  });
  const locIds = tok.encode(loc).slice(0, LOC_MAX_TOKENS);
  if (locIds.length === 0) throw new Error(`WISE: the irrelevant prompt '${loc}' encodes to no tokens`);
  rows.push(locIds);
  const padded = padBatch(rows, 'right');
  b.ids = padded.ids;
  b.mask = padded.mask;
  return b;
}

/** Mean of the positive entries (0 when none is), EasyEdit's `torch.mean(x[x > 0])`. */
function positiveMean(x: Tensor): Tensor {
  const n = x.gt(0).sum().item();
  return n > 0 ? x.relu().sum().div(n) : x.sum().mul(0);
}

interface Losses {
  ft: Tensor;
  act: Tensor;
  inScope: Tensor;
  outScope: Tensor;
}

/** One pass over the batch with the adapter training: the ft and routing losses. */
function losses(model: CausalLM, adapter: WiseAdapter, b: EditBatch, h: WiseHparams): Losses {
  const { hidden } = model.forward({ inputIds: b.ids, attentionMask: b.mask, logits: 'none' });
  const idx = (xs: number[]) => tensor(xs, { dtype: 'int64', device: hidden.device });
  const logits = model.logitsFrom(hidden.index([idx(b.rows), idx(b.positions)])).to('float32');
  const nll = crossEntropy(logits, idx(b.targets), { reduction: 'none' });
  const ft = nll.mul(tensor(b.weights, { dtype: 'float32', device: nll.device })).sum();
  const t = adapter.training!;
  if (!t.side || !t.main) throw new Error(`WISE: the forward pass never reached '${adapter.module}'`);
  const a = adapter.config.activation;
  const perToken = applyActivation(t.side.to('float32'), a).sub(applyActivation(t.main.to('float32'), a)).norm(2, -1);
  const d = rowDistances(perToken, tensor(b.mask, { dtype: 'float32', device: perToken.device }), false);
  const inScope = d.narrow(0, 0, b.templateRows);
  const outScope = d.narrow(0, b.templateRows, 1);
  const { alpha, beta, gamma } = margins(h);
  const act = positiveMean(outScope.sub(inScope).add(gamma)).add(positiveMean(outScope.sub(alpha))).add(positiveMean(inScope.rsub(beta)));
  return { ft, act, inScope, outScope };
}

/** The shard's gradient mask: each entry 1 with probability mask_ratio (uint8), seeded per shard. */
export function drawMask(like: Tensor, ratio: number, seed: number): Tensor {
  return keep(tidy(() => rand(like.shape, { generator: new Generator(seed), dtype: 'float32' }).lt(ratio).to({ dtype: 'uint8', device: like.device })));
}

export interface EditOptions {
  editId: string;
  templates: string[];
  loc: string;
  seed: number;
  log?: (message: string) => void;
}

interface Trained {
  weight: Tensor;
  minAct: number;
  trace: (LossStep & { act: number; inScope: number; outScope: number })[];
}

/** Trains the shard from `start` for up to n_iter steps (the loop at the top of this file). */
function trainShard(model: CausalLM, adapter: WiseAdapter, b: EditBatch, h: WiseHparams, start: Tensor, mask: Tensor, minAct0: number): Trained {
  const main = adapter.main.weight;
  const w = keep(noGrad(() => start.clone())).requiresGrad_(true);
  const [lo, hi, maskF] = keep(tidy(() => noGrad(() => [main.sub(h.norm_constraint), main.add(h.norm_constraint), mask.to(main.dtype)])));
  const opt = new SGD([w], { lr: h.edit_lr, weightDecay: 1e-5 });
  const meter = { pre: 0, val: 1e9 };
  let minAct = minAct0;
  const trace: Trained['trace'] = [];
  adapter.training = { weight: w };
  try {
    for (let i = 0; i < h.n_iter; i++) {
      const stop = tidy(() => {
        const l = losses(model, adapter, b, h);
        const loss = l.ft.add(l.act);
        const early = Math.abs(meter.val - meter.pre) <= 1e-4 && meter.val <= 0.02;
        if (early || i === h.n_iter - 1) minAct = Math.min(minAct, l.inScope.mean().item());
        if (early) return true;
        loss.backward();
        w.grad = w.grad!.mul(maskF);
        opt.step();
        opt.zeroGrad();
        noGrad(() => { w.copy_(w.maximum(lo).minimum(hi)); });
        meter.pre = meter.val;
        meter.val = loss.item();
        const ft = l.ft.item();
        trace.push({ step: i, loss: meter.val, nll: ft, kl: 0, weightDecay: 0, avgProbTarget: Math.exp(-ft), act: l.act.item(), inScope: l.inScope.mean().item(), outScope: l.outScope.item() });
        return false;
      });
      if (stop) break;
    }
    return { weight: keep(noGrad(() => w.detach().clone())), minAct, trace };
  } finally {
    adapter.training = undefined;
    opt.dispose();
    w.dispose();
    for (const t of [lo, hi, maskF]) t.dispose();
  }
}

/** Edits one request into the adapter (installed by the caller); returns the diagnostics and the state after it. */
export function wiseEdit(model: CausalLM, tok: Tokenizer, adapter: WiseAdapter, r: NormalizedRequest, h: WiseHparams, o: EditOptions): { diagnostics: EditDiagnostics; next: SideState; created: Tensor[] } {
  const started = performance.now();
  const s = adapter.side;
  const b = editBatch(tok, o.templates, r, o.loc);
  const shard = Math.floor(s.count / h.save_freq);
  const fresh = s.count % h.save_freq === 0 || !s.mask;
  const mask = fresh ? drawMask(adapter.main.weight, h.mask_ratio, stringSeed(o.seed, `wise-mask-${shard}`)) : s.mask!;
  let t: Trained;
  try {
    t = trainShard(model, adapter, b, h, s.current ?? adapter.main.weight, mask, s.minAct);
  } catch (e) {
    if (fresh) mask.dispose();
    throw e;
  }
  const next = afterEdit(adapter.config, adapter.main.weight, { ...s, mask }, t.weight, t.minAct);
  const first = t.trace[0];
  const last = t.trace[t.trace.length - 1];
  o.log?.(`WISE ${o.editId}: loss ${first?.loss.toFixed(3)} → ${last?.loss.toFixed(3)} in ${t.trace.length} steps, in-scope ${last?.inScope.toFixed(2)}, ` +
    `out-of-scope ${last?.outScope.toFixed(2)}, threshold ${(next.minAct * h.act_ratio).toFixed(2)}, edit ${next.count}, ${next.memory.length} saved shards`);
  return {
    next,
    created: fresh ? [t.weight, mask] : [t.weight],
    diagnostics: {
      caseId: r.caseId, prompt: r.text, targetNew: r.targetNew, seconds: (performance.now() - started) / 1000, lossTrace: t.trace,
      extra: {
        loc: o.loc, steps: t.trace.length, minAct: t.minAct, threshold: t.minAct * h.act_ratio, editCount: next.count, shard,
        savedShards: next.memory.length, merged: next.merged !== null, mergeCount: next.mergeCount,
        inScope: last?.inScope, outScope: last?.outScope, lossFirst: first?.loss, lossLast: last?.loss,
      },
    },
  };
}
