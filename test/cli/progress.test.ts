// The progress bar: counts, ETA, and notes about the work inside one unit (a batch of 1,000 MEMIT edits is one unit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Progress } from '../../src/cli/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }), { isTTY });
  return { stream, chunks };
}

test('on a log, notes print at most once per interval and show the detail after the count', () => {
  const { stream, chunks } = sink(false);
  const p = new Progress('MEMIT batch', 1000, { unit: 'cases', stream });
  p.update(0);
  const before = chunks.length;
  p.note('MEMIT z 1/1000');
  p.note('MEMIT z 2/1000');
  assert.equal(chunks.length, before + 1, 'the second note within a minute prints nothing');
  assert.match(chunks[chunks.length - 1], /^MEMIT batch: 0\/1000 cases \(0%\) .* · MEMIT z 1\/1000\n$/);
  p.note('MEMIT z 3/1000', 0);
  assert.match(chunks[chunks.length - 1], /· MEMIT z 3\/1000\n$/);
  p.update(1000);
  assert.doesNotMatch(chunks[chunks.length - 1], /MEMIT z/, 'an update clears the note');
});

test('on a terminal, a note redraws the line with the detail', async () => {
  const { stream, chunks } = sink(true);
  const p = new Progress('ROME single', 10, { unit: 'cases', stream });
  await new Promise((r) => setTimeout(r, 120));
  p.note('FT epoch 3: loss 0.5');
  const line = chunks[chunks.length - 1];
  assert.ok(line.startsWith('\rROME single [') && line.endsWith('· FT epoch 3: loss 0.5\u001b[K'), JSON.stringify(line));
});

test('silent progress prints nothing', () => {
  const { stream, chunks } = sink(false);
  const p = new Progress('x', 3, { stream, silent: true });
  p.note('detail', 0);
  p.tick();
  p.finish();
  assert.equal(chunks.length, 0);
});

test('a resumed count shows in the total but not in the rate', async () => {
  const { stream, chunks } = sink(false);
  const p = new Progress('ROME single', 200, { unit: 'cases', stream });
  p.resume(100);
  assert.match(chunks[0], /resuming after 100\/200 cases/);
  await new Promise((r) => setTimeout(r, 50));
  p.update(101);
  assert.ok(p.rate > 0 && p.rate < 100, `one case in ≥ 50 ms: ${p.rate}/s, not 101 cases' worth`);
  assert.match(chunks[chunks.length - 1], /^ROME single: 101\/200 cases \(51%\)/);
});
