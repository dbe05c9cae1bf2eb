// What makes second-moment statistics unusable, checked where they are computed and where they are read:
//   - non-finite values (NaN/Inf from NaN weights, or an overflow in a 16-bit compute dtype): C⁻¹k is NaN;
//   - too few keys: C = KᵀK/n averaged over n keys has rank ≤ n, so with n smaller than the key width C is singular
//     and C⁻¹k meaningless (a 4-token corpus gave ‖C⁻¹k‖ = 5.9e9 on kbgpt, whose keys have 1,024 features).
import type { Tensor } from '../tensor/index.js';
import type { CausalLM } from '../models/index.js';
import { describeNonFinite, nonFiniteSummary } from '../io/finite.js';

/** What to do with rank-deficient statistics: refuse (default) or go on with a warning. */
export type RankDeficientPolicy = 'error' | 'warn';

/**
 * Input features of a module with a weight matrix, undefined otherwise. An architecture stores all its projections
 * one way (GPT-2's Conv1D [in, out], nn.Linear [out, in]), the way its rewrite module's layout says.
 */
export function inputWidth(model: CausalLM, module: string): number | undefined {
  const weight = model.params.get(`${module}.weight`);
  if (weight === undefined || weight.ndim !== 2) return undefined;
  return model.templates.rewriteWeightLayout === 'in_out' ? weight.shape[0] : weight.shape[1];
}

/** The problem with averaging `count` keys of `width` features, or undefined when count ≥ width. */
export function rankProblem(count: number, width: number): string | undefined {
  if (count >= width) return undefined;
  return `averaged over ${count} token${count === 1 ? '' : 's'}, fewer than the ${width} features of a key: ` +
    `C is singular (rank ≤ ${count}) and C⁻¹k meaningless`;
}

/** Applies the policy to a rank problem: throws, or reports through `warn`. */
export function onRankProblem(message: string, policy: RankDeficientPolicy, warn: (m: string) => void): void {
  if (policy === 'error') throw new Error(message);
  warn(`WARNING: ${message}`);
}

/** The default warning channel: the caller's log, else a process warning on stderr (never silent). */
export function warner(log: ((m: string) => void) | undefined): (m: string) => void {
  return log ?? ((m) => process.emitWarning(m, { code: 'LMEDIT_STATS' }));
}

/** Throws `${what}: n of m values are not finite (…)${hint}` when `t` holds NaN or ±Inf. */
export function assertFiniteMoment(t: Tensor, what: string, hint = ''): void {
  const s = nonFiniteSummary(t);
  if (s !== null) throw new Error(`${what}: ${describeNonFinite(s)}${hint}`);
}
