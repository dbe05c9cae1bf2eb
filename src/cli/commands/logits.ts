// lmedit logits: last-position top-k, log-sum-exp and per-block residual norms — what a user compares against
// transformers when porting a model.
import { loadModel } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { noGrad, tidy } from '../../tensor/index.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';

const USAGE = `usage: lmedit logits --model <dir|repo id> (--prompt "text" | --ids 5,17,3) [--top 10] [--dtype bfloat16] [--json]

Residual norms: L2 norm at the last position of the residual stream after the embeddings and after each block,
before the final norm (HF's hidden_states[i], except that HF applies the final norm to the last one).`;

export async function logitsCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { prompt: { type: 'string' }, ids: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const dir = requireModel(values, USAGE);
  if ((values.prompt === undefined) === (values.ids === undefined)) throw new UsageError(`give exactly one of --prompt or --ids\n\n${USAGE}`);
  const model = loadModel(dir, { dtype: dtypeOption(values) });
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const ids: number[] = values.ids !== undefined
    ? String(values.ids).split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 0 || n >= model.dims.vocabSize) throw new UsageError(`--ids: '${s}' is not a token id below ${model.dims.vocabSize}`);
      return n;
    })
    : tok.encode(values.prompt);
  if (ids.length === 0) throw new UsageError('the prompt encodes to no tokens');
  const k = numberOption(values, 'top', 10)!;
  const r = tidy(() => noGrad(() => {
    const out = model.forward({ inputIds: [ids], logits: 'last', residuals: true });
    const last = out.logits!.select(0, 0).to('float32');
    const top = last.topk(Math.min(k, last.shape[0]));
    return {
      ids: top.indices.toFlatArray(),
      logits: top.values.toFlatArray(),
      logsumexp: last.logsumexp(0).item(),
      residualNorms: out.residuals!.map((h) => h.select(0, 0).select(0, -1).to('float32').norm().item()),
      finalNormOutputNorm: out.hidden.select(0, 0).select(0, -1).to('float32').norm().item(),
    };
  }));
  model.dispose();
  const top = r.ids.map((id, i) => ({ id, token: tok.decode([id]), logit: r.logits[i] }));
  const result = { model: dir, dtype: model.dtype, inputIds: ids, top, logsumexp: r.logsumexp, residualNorms: r.residualNorms, finalNormOutputNorm: r.finalNormOutputNorm };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`input ids (${ids.length}): ${ids.join(',')}`);
  console.log(`logsumexp ${r.logsumexp.toFixed(6)}`);
  for (const t of top) console.log(`  ${String(t.id).padStart(7)}  ${t.logit.toFixed(6).padStart(12)}  ${JSON.stringify(t.token)}`);
  console.log(`residual norms (embeddings, then after each block): ${r.residualNorms.map((v) => v.toFixed(4)).join(' ')}`);
  console.log(`final norm output norm: ${r.finalNormOutputNorm.toFixed(4)}`);
}
