// lmedit inspect --model <dir>: architecture, size, and the module paths hparams can name.
import { formatT5Summary, isT5Checkpoint, loadModel, loadT5Model, summarizeT5, type CausalLM } from '../../models/index.js';
import { dtypeOption, parse, requireModel } from '../args.js';

const USAGE = `usage: lmedit inspect --model <dir|repo id> [--json]

Prints the architecture, parameter count and dtype, and the module paths usable in hparams files
(rewrite_module_tmp, layer_module_tmp, ...) and in the trace API.`;

export interface ModelSummary {
  dir: string;
  modelType: string;
  parameters: number;
  dtype: string;
  dims: CausalLM['dims'];
  hparamsTemplates: Record<string, string>;
  rewriteWeight: { name: string; shape: number[]; layout: string };
  perLayerModules: string[];
  otherModules: string[];
}

export function summarize(model: CausalLM): ModelSummary {
  const t = model.templates;
  const layer0 = t.layer.replace('{}', '0');
  const perLayer = model.modulePaths().filter((p) => p === layer0 || p.startsWith(layer0 + '.')).map((p) => p.replace(layer0, t.layer));
  const layerPrefix = t.layer.split('{}')[0];
  const rewriteName = `${t.rewriteModule.replace('{}', '0')}.weight`;
  return {
    dir: model.source.dir,
    modelType: model.modelType,
    parameters: model.numParameters(),
    dtype: model.dtype,
    dims: model.dims,
    hparamsTemplates: {
      layer_module_tmp: t.layer, mlp_module_tmp: t.mlp, attn_module_tmp: t.attn, rewrite_module_tmp: t.rewriteModule,
      ln_f_module: t.lnF, lm_head_module: t.lmHead,
    },
    rewriteWeight: { name: rewriteName.replace('.0.', '.{}.'), shape: model.parameter(rewriteName).shape, layout: t.rewriteWeightLayout === 'in_out' ? 'Conv1D [in, out]' : 'Linear [out, in]' },
    perLayerModules: perLayer,
    otherModules: model.modulePaths().filter((p) => !p.startsWith(layerPrefix)),
  };
}

export async function inspectCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { json: { type: 'boolean' } }, USAGE);
  const dir = requireModel(values, USAGE);
  if (isT5Checkpoint(dir)) {
    const t5 = loadT5Model(dir, { dtype: dtypeOption(values) });
    const s = summarizeT5(t5);
    t5.dispose();
    console.log(values.json ? JSON.stringify(s, null, 2) : formatT5Summary(s).join('\n'));
    return;
  }
  const model = loadModel(dir, { dtype: dtypeOption(values) });
  const s = summarize(model);
  model.dispose();
  if (values.json) {
    console.log(JSON.stringify(s, null, 2));
    return;
  }
  const d = s.dims;
  console.log(`model         ${s.dir}`);
  console.log(`architecture  ${s.modelType}`);
  console.log(`parameters    ${s.parameters.toLocaleString('en-US')} (${s.dtype})`);
  console.log(`shape         ${d.numLayers} layers, hidden ${d.hiddenSize}, ${d.numHeads} heads (${d.numKeyValueHeads} kv, head dim ${d.headDim}), MLP ${d.intermediateSize}, vocab ${d.vocabSize}, ${d.maxPositions} positions`);
  console.log('\nhparams module templates ({} = layer 0..' + (d.numLayers - 1) + '):');
  for (const [k, v] of Object.entries(s.hparamsTemplates)) console.log(`  ${k.padEnd(20)} ${v}`);
  console.log(`  rewrite weight       ${s.rewriteWeight.name} [${s.rewriteWeight.shape}] (${s.rewriteWeight.layout})`);
  console.log('\nmodules in every layer:');
  for (const p of s.perLayerModules) console.log(`  ${p}`);
  console.log('\nother modules:');
  for (const p of s.otherModules) console.log(`  ${p}`);
}
