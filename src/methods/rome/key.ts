// The key: what the rewrite module reads when the model sees the subject (kmeng01/rome compute_u.py).
//   k* = mean over context templates of the rewrite module's input at the subject's last token   (paper eq. 3)
//   u  = C⁻¹ k* / ‖C⁻¹ k*‖  with C = E[k kᵀ] (mom2_adjustment), else k* / ‖k*‖
import { linalg, noGrad, tidy, keep, type Tensor } from '../../tensor/index.js';
import type { CausalLM } from '../../models/index.js';
import type { Tokenizer } from '../../io/tokenizer.js';
import type { NormalizedRequest } from '../request.js';
import { lookupIndex, representationsAt, type FactToken, type TextAtIndex } from '../locate.js';

/** The texts (template ∘ prompt with the subject) and the subject's position in each. */
export function subjectPositions(tok: Tokenizer, request: NormalizedRequest, templates: string[], factToken: FactToken, suffix = ''): TextAtIndex[] {
  return templates.map((t) => {
    const template = t.replace('{}', request.template) + suffix;
    return { ids: tok.encode(template.replace('{}', request.subject)), index: lookupIndex(tok, template, request.subject, factToken) };
  });
}

/** Rewrite-module inputs (keys) and outputs at the subject for every template: [n_templates, width]. */
export function keysAtSubject(model: CausalLM, tok: Tokenizer, request: NormalizedRequest, templates: string[], module: string, factToken: FactToken, withOutputs = false): { keys: Tensor; outputs?: Tensor } {
  const items = subjectPositions(tok, request, templates, factToken);
  const r = representationsAt(model, module, items, { input: true, output: withOutputs });
  return { keys: r.input!, outputs: r.output };
}

/** Caches C⁻¹ per statistics key (float64), as the reference caches its inverse per layer. */
export class InverseCovarianceCache {
  private readonly inverses = new Map<string, Tensor>();
  get(key: string, mom2: Tensor): Tensor {
    let inv = this.inverses.get(key);
    if (inv === undefined) {
      try {
        inv = keep(noGrad(() => tidy(() => linalg.inv(mom2.to('float64')))));
      } catch (e) {
        const file = key.startsWith('file:') ? `the file you gave (${key.slice(5).split('#')[0]})` : `its file (${key}.safetensors in the statistics cache)`;
        throw new Error(`second-moment statistics ${key}: C is singular and cannot be inverted (${(e as Error).message.split('\n')[0]}). ` +
          `It was averaged over too few tokens (fewer than its ${mom2.shape[0]} features) or too little distinct text: ` +
          `delete ${file} and compute C over a larger corpus`, { cause: e });
      }
      this.inverses.set(key, inv);
    }
    return inv;
  }
  dispose(): void {
    for (const t of this.inverses.values()) t.dispose();
    this.inverses.clear();
  }
}

/** u: the unit key direction the rank-one update writes along, and ‖C⁻¹k*‖ (or ‖k*‖) before normalising. */
export function leftVector(kStar: Tensor, inverseCovariance: Tensor | undefined): { u: Tensor; unnormalizedNorm: number } {
  return noGrad(() => {
    const raw = inverseCovariance === undefined ? kStar : inverseCovariance.matmul(kStar.to('float64')).to(kStar.dtype);
    return { u: raw.div(raw.norm()), unnormalizedNorm: raw.norm().item() };
  });
}
