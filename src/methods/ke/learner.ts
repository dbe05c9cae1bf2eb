// KE's OneShotLearner (nicola-decao/KnowledgeEditor src/models/one_shot_learner.py): the condition — the edit's text
// "{old answer} >> {new answer} || {prompt}" — is embedded (an embedding table initialised from the base model's
// token embeddings, trained), run through a BiLSTM (hidden_dim per direction), whose final states go through
// Linear(2·hidden_dim → condition_dim) + tanh; every edited parameter has a ConditionedParameter that turns the
// condition and the fine-tuning gradient ∇ into its update (conditioned.ts).
import { embedding, Generator, keep, noGrad, tensor, type Tensor } from '../../tensor/index.js';
import { padBatch, type CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import { biLstm, initDirection, uniform, type LstmDirection } from './lstm.js';
import { conditionedDelta, conditionedTensors, initConditionedParameter, type ConditionedParameter } from './conditioned.js';
import { keParamName, type KeHparams } from './hparams.js';

/** The condition text of a request, as the original's dataset builds it (old answer = the request's ground truth). */
export function conditionText(r: NormalizedRequest): string {
  return `${(r.groundTruth ?? '').trim()} >> ${r.targetNew.trim()} || ${r.text}`;
}

export class KeLearner {
  readonly embedding: Tensor;
  readonly fwd: LstmDirection;
  readonly bwd: LstmDirection;
  /** FeedForward(2H → condition_dim, tanh): weight [cond, 2H], bias [cond] */
  readonly ffW: Tensor;
  readonly ffB: Tensor;
  /** edited parameter name (dotted) → its conditioner */
  readonly conditioners = new Map<string, ConditionedParameter>();

  constructor(model: CausalLM, readonly h: KeHparams, seed: number) {
    const gen = new Generator(seed);
    const wte = model.parameter(`${model.templates.embed}.weight`);
    this.embedding = keep(noGrad(() => wte.detach().clone().float()));
    const H = h.hidden_dim;
    this.fwd = initDirection(this.embedding.shape[1], H, gen);
    this.bwd = initDirection(this.embedding.shape[1], H, gen);
    this.ffW = uniform([h.condition_dim, 2 * H], 1 / Math.sqrt(2 * H), gen);
    this.ffB = uniform([h.condition_dim], 1 / Math.sqrt(2 * H), gen);
    for (const inner of h.inner_params) {
      const name = keParamName(inner);
      this.conditioners.set(name, initConditionedParameter(model.parameter(name).shape, h.condition_dim, H, gen));
    }
  }

  /** Every trainable tensor by a stable name. */
  tensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([['learner.embedding', this.embedding]]);
    for (const [dir, d] of [['fwd', this.fwd], ['bwd', this.bwd]] as const) {
      out.set(`learner.lstm.${dir}.w_ih`, d.wIh).set(`learner.lstm.${dir}.w_hh`, d.wHh).set(`learner.lstm.${dir}.b_ih`, d.bIh).set(`learner.lstm.${dir}.b_hh`, d.bHh);
    }
    out.set('learner.linear.weight', this.ffW).set('learner.linear.bias', this.ffB);
    const parts = ['l1.v', 'l1.g', 'l1.b', 'l2.v', 'l2.g', 'l2.b'];
    for (const [name, c] of this.conditioners) conditionedTensors(c).forEach((t, i) => out.set(`learner.conditioner.${name}.${parts[i]}`, t));
    return out;
  }

  /** Conditions [B, condition_dim] of requests (token ids truncated to max_length, right-padded, masked). */
  conditions(tok: Tokenizer, requests: NormalizedRequest[]): Tensor {
    const rows = requests.map((r) => {
      const ids = tok.encode(conditionText(r)).slice(0, this.h.max_length);
      if (!ids.length) throw new Error(`KE: the condition of request ${r.index} encodes to no tokens`);
      return ids;
    });
    const { ids, mask } = padBatch(rows);
    const dev = this.embedding.device;
    const x = embedding(tensor(ids, { dtype: 'int64', device: dev }), this.embedding);
    return biLstm(this.fwd, this.bwd, x, tensor(mask, { dtype: 'float32', device: dev })).matmul(this.ffW.t()).add(this.ffB).tanh();
  }

  /** Δ per edited parameter from one condition [condition_dim] and the gradients ∇ (parameter layout). */
  deltas(condition: Tensor, grads: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, c] of this.conditioners) {
      const g = grads.get(name);
      if (!g) throw new Error(`KE: no gradient for ${name}`);
      out.set(name, conditionedDelta(c, condition, g, this.h.max_scale));
    }
    return out;
  }

  dispose(): void {
    for (const t of this.tensors().values()) t.dispose();
  }
}
