// The lmedit command as a user runs it (through tsx, the same entry point as the built bin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FACTGPT, GOLDEN, REPO_ROOT, SHARED_DATA } from '../data.js';

function lmedit(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: REPO_ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('logits --json matches golden/factgpt.json', () => {
  const golden = JSON.parse(readFileSync(join(GOLDEN, 'factgpt.json'), 'utf8')).prompts[0];
  const r = lmedit('logits', '--model', FACTGPT, '--prompt', golden.prompt, '--top', '10', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.inputIds, golden.input_ids);
  assert.deepEqual(out.top.map((t: any) => t.id), golden.top10_ids);
  assert.deepEqual(out.top.map((t: any) => t.token), golden.top10_tokens);
  out.top.forEach((t: any, i: number) => assert.ok(Math.abs(t.logit - golden.top10_logits[i]) < 1e-4));
  assert.ok(Math.abs(out.logsumexp - golden.last_logsumexp) < 1e-4);
  golden.residual_norm_after_block.forEach((v: number, i: number) => assert.ok(Math.abs(out.residualNorms[i + 1] - v) < 1e-3));
  const ids = lmedit('logits', '--model', FACTGPT, '--ids', golden.input_ids.join(','), '--json');
  assert.deepEqual(JSON.parse(ids.stdout).top.map((t: any) => t.id), golden.top10_ids);
  const bf16 = JSON.parse(lmedit('logits', '--model', FACTGPT, '--prompt', golden.prompt, '--dtype', 'bfloat16', '--json').stdout);
  assert.equal(bf16.top[0].id, golden.top10_ids[0]);
});

test('generate streams the greedy continuation', () => {
  const g = JSON.parse(readFileSync(join(GOLDEN, 'factgpt.json'), 'utf8')).greedy[1];
  const r = lmedit('generate', '--model', FACTGPT, '--max-new-tokens', String(g.generated_ids.length), '--no-eos', g.prompt);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, g.prompt + g.generated_text + '\n');
});

test('inspect lists the hparams templates and per-layer modules', () => {
  const r = lmedit('inspect', '--model', FACTGPT, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.modelType, 'gpt2');
  assert.equal(s.parameters, 17_637_632);
  assert.equal(s.hparamsTemplates.rewrite_module_tmp, 'transformer.h.{}.mlp.c_proj');
  assert.deepEqual(s.rewriteWeight.shape, [1024, 256]);
  assert.ok(s.perLayerModules.includes('transformer.h.{}.mlp.c_fc'));
  const text = lmedit('inspect', '--model', join(GOLDEN, 'tiny-llama'));
  assert.match(text.stdout, /model\.layers\.\{\}\.mlp\.down_proj/);
  assert.match(text.stdout, /4 heads \(2 kv/);
});

test('bad usage and bad input give clear errors and non-zero exits', () => {
  const none = lmedit('logits', '--prompt', 'x');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--model is required/);
  const missing = lmedit('inspect', '--model', '/no/such/model');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\/no\/such\/model/);
  const unknown = lmedit('frobnicate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badIds = lmedit('logits', '--model', FACTGPT, '--ids', '1,x');
  assert.equal(badIds.code, 2);
  assert.match(badIds.stderr, /'x' is not a token id/);
});

test('eval: a zsRE run with every protocol and generation metrics; report; usage errors', () => {
  const out = mkdtempSync(join(tmpdir(), 'lmedit-cli-eval-'));
  const run = join(out, 'zsre-ftm');
  const hp = join(out, 'ftm.yaml');
  writeFileSync(hp, readFileSync(join(REPO_ROOT, 'hparams/FT-M/factgpt.yaml'), 'utf8'));
  const r = lmedit('eval', '--model', FACTGPT, '--method', 'FT-M', '--hparams', hp, '--data', join(SHARED_DATA, 'zsre-mend-1k/zsre_mend_train-1k.json'),
    '--n', '2', '--sample-seed', '3', '--generation', '--set', 'norm_constraint=2e-2', '--set', 'layers=[1]', '--out', run);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /## easyedit-token/);
  assert.match(r.stdout, /## rome-zsre-token/);
  assert.match(r.stdout, /## generation/);
  const s = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
  assert.equal(s.data.format, 'zsre');
  assert.equal(s.data.sampleSeed, 3);
  assert.equal(s.hparams.norm_constraint, 0.02, '--set overrides the file');
  assert.deepEqual(s.hparams.layers, [1]);
  assert.match(s.hparamsFile, /ftm\.yaml with norm_constraint=0\.02, layers=\[1\]$/);
  assert.equal(s.metrics['easyedit-token'].post.n, 2);
  assert.ok(s.metrics.generation.pre.fluency > 0);
  const rep = lmedit('report', run, '--out', join(out, 'report'));
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, /zsre-ftm/);
  const bad = lmedit('eval', '--model', FACTGPT, '--data', join(FACTGPT, 'facts.json'), '--out', join(out, 'x'), '--curve', '5');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--curve applies to --mode sequential/);
  const noEq = lmedit('eval', '--model', FACTGPT, '--data', join(FACTGPT, 'facts.json'), '--out', join(out, 'y'), '--set', 'layers');
  assert.equal(noEq.code, 2);
  assert.match(noEq.stderr, /hparams override 'layers': expected field=value/);
  const unknownField = lmedit('eval', '--model', FACTGPT, '--method', 'FT-M', '--data', join(FACTGPT, 'facts.json'), '--out', join(out, 'z'), '--set', 'learning_rate=1');
  assert.notEqual(unknownField.code, 0);
  assert.match(unknownField.stderr, /FT-M\/factgpt\.yaml with learning_rate=1: unknown field 'learning_rate'/);
});
