// lmedit logits: last-position top-k, log-sum-exp and per-block residual norms — what a user compares against
// transformers when porting a model.
import { isT5Checkpoint, loadModel, loadT5Model, t5Logits } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { noGrad, tidy } from '../../tensor/index.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';

const USAGE = `usage: lmedit logits --model <dir|repo id> (--prompt "text" | --ids 5,17,3) [--top 10] [--dtype bfloat16] [--json]
       T5: the prompt/ids are the encoder input (as given: add EOS yourself); --decoder-ids 0,9 (default: the start token)

Residual norms: L2 norm at the last position of the residual stream after the embeddings and after each block,
before the final norm (HF's hidden_states[i], except that HF applies the final norm to the last one).`;

export async function logitsCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { prompt: { type: 'string' }, ids: { type: 'string' }, 'decoder-ids': { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const dir = requireModel(values, USAGE);
  if ((values.prompt === undefined) === (values.ids === undefined)) throw new UsageError(`give exactly one of --prompt or --ids\n\n${USAGE}`);
  const idList = (option: string, vocab: number): number[] => String(values[option]).split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0 || n >= vocab) throw new UsageError(`--${option}: '${s}' is not a token id below ${vocab}`);
    return n;
  });
  const k = numberOption(values, 'top', 10)!;
  if (isT5Checkpoint(dir)) {
    const t5 = loadT5Model(dir, { dtype: dtypeOption(values) });
    const tokT5 = values.ids === undefined ? loadTokenizer(t5.source.dir, t5.source.rawConfig) : undefined;
    const encIds = tokT5 ? tokT5.encode(values.prompt) : idList('ids', t5.dims.vocabSize);
    if (encIds.length === 0) throw new UsageError('the prompt encodes to no tokens');
    const rep = t5Logits(t5, encIds, values['decoder-ids'] === undefined ? undefined : idList('decoder-ids', t5.dims.vocabSize), k);
    t5.dispose();
    if (values.json) {
      console.log(JSON.stringify({ model: dir, dtype: t5.dtype, ...rep }, null, 2));
      return;
    }
    console.log(`encoder ids (${rep.encoderIds.length}): ${rep.encoderIds.join(',')}; decoder ids: ${rep.decoderIds.join(',')}`);
    console.log(`logsumexp ${rep.logsumexp.toFixed(6)}`);
    for (const t of rep.top) console.log(`  ${String(t.id).padStart(7)}  ${t.logit.toFixed(6).padStart(12)}${tokT5 ? `  ${JSON.stringify(tokT5.decode([t.id]))}` : ''}`);
    console.log(`encoder residual norms: ${rep.encoderResidualNorms.map((v) => v.toFixed(4)).join(' ')}`);
    console.log(`decoder residual norms: ${rep.decoderResidualNorms.map((v) => v.toFixed(4)).join(' ')}`);
    console.log(`decoder final norm output norm: ${rep.finalNormOutputNorm.toFixed(4)}`);
    return;
  }
  const model = loadModel(dir, { dtype: dtypeOption(values) });
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  const ids: number[] = values.ids !== undefined ? idList('ids', model.dims.vocabSize) : tok.encode(values.prompt);
  if (ids.length === 0) throw new UsageError('the prompt encodes to no tokens');
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
