// Sampling in generate (src/models/generate.ts): nucleus (top-p) sampling with a tiny p keeps only the arg-max token,
// so it reproduces greedy decoding; with a seed it is reproducible; top-k 1 is greedy too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, generate } from '../../src/models/index.js';
import { GOLDEN } from '../data.js';

test('top-p sampling: p → 0 is greedy, seeded runs repeat; top-k 1 is greedy', () => {
  const model = loadModel(join(GOLDEN, 'tiny-gpt2'));
  const prompts = [[5, 100, 42, 200], [7, 255, 31, 3]];
  const greedy = generate(model, prompts, { maxNewTokens: 6, eosTokenId: null });
  assert.deepEqual(generate(model, prompts, { maxNewTokens: 6, topP: 1e-6, seed: 1, eosTokenId: null }), greedy);
  assert.deepEqual(generate(model, prompts, { maxNewTokens: 6, topK: 1, seed: 2, eosTokenId: null }), greedy);
  const a = generate(model, prompts, { maxNewTokens: 6, topP: 0.9, temperature: 1.5, seed: 3, eosTokenId: null });
  assert.deepEqual(generate(model, prompts, { maxNewTokens: 6, topP: 0.9, temperature: 1.5, seed: 3, eosTokenId: null }), a);
  assert.notDeepEqual(a, greedy, 'a hot nucleus sample differs from greedy');
});
