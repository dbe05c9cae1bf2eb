// lmedit generate --model <dir> "prompt": streams a continuation to stdout.
import { generateT5Text, isT5Checkpoint, loadModel, loadT5Model, generateText, T5TextLM } from '../../models/index.js';
import { loadTokenizer } from '../../io/tokenizer.js';
import { dtypeOption, numberOption, parse, requireModel, UsageError } from '../args.js';

const USAGE = `usage: lmedit generate --model <dir|repo id> [options] "prompt"

  --max-new-tokens N   tokens to generate (default 40)
  --temperature T      sample with temperature T (default: greedy)
  --top-k K            sample among the K most likely tokens
  --top-p P            nucleus sampling with mass P
  --seed S             random seed for sampling (default 0)
  --no-eos             do not stop at the end-of-sequence token
  --dtype D            compute dtype: float32 (default), bfloat16, float16`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
    'top-p': { type: 'string' }, seed: { type: 'string' }, 'no-eos': { type: 'boolean' },
  }, USAGE);
  const dir = requireModel(values, USAGE);
  if (positionals.length !== 1) throw new UsageError(`expected one prompt argument\n\n${USAGE}`);
  const prompt = positionals[0];
  const options = {
    maxNewTokens: numberOption(values, 'max-new-tokens', 40),
    temperature: numberOption(values, 'temperature'),
    topK: numberOption(values, 'top-k'),
    topP: numberOption(values, 'top-p'),
    seed: numberOption(values, 'seed', 0),
    eosTokenId: values['no-eos'] ? null : undefined,
    onText: (delta: string) => process.stdout.write(delta),
  };
  if (isT5Checkpoint(dir)) {
    // encoder-decoder: the prompt is the encoder input; the output is new text, not a continuation of the prompt
    const t5 = loadT5Model(dir, { dtype: dtypeOption(values), device: values.device });
    generateT5Text(new T5TextLM(t5, loadTokenizer(t5.source.dir, t5.source.rawConfig)), prompt, options);
    process.stdout.write('\n');
    t5.dispose();
    return;
  }
  const model = loadModel(dir, { dtype: dtypeOption(values), device: values.device });
  const tok = loadTokenizer(model.source.dir, model.source.rawConfig);
  process.stdout.write(prompt);
  generateText(model, tok, prompt, options);
  process.stdout.write('\n');
  model.dispose();
}
