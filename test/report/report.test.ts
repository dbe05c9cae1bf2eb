// `lmedit report` on synthetic run directories: the side-by-side table keeps every protocol in its own columns, the
// plots appear only when the runs give data for them and draw the right points, the PNG is a valid image with the
// expected pixels, errors name the file, and every file is written atomically.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import {
  buildTable, crc32, layoutChart, MetricFilter, PALETTE, rasterize, readRun, readRuns, reportCharts, sceneToSvg,
  tableMarkdown, writeReport, type Chart, type Run, type Scene,
} from '../../src/report/index.js';
import { curveMarkdown } from '../../src/report/curve-table.js';
import { REPO_ROOT } from '../data.js';

const tmp = mkdtempSync(join(tmpdir(), 'lmedit-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ROME = 'rome-counterfact-prob';
const EASY = 'easyedit-token';

/** A summary.json as lmedit eval writes it, with the parts a test varies. */
function summary(o: { name: string; method: string; mode: string; batchSize?: number; rome?: Record<string, number>; easy?: Record<string, number>; complete?: boolean; curve?: unknown[]; extra?: Record<string, unknown>; cached?: number }): unknown {
  return {
    lmedit: { version: '0.1.0' },
    run: { name: o.name, startedAt: '2024-01-01T00:00:00Z', finishedAt: '2024-01-01T01:00:00Z', complete: o.complete ?? true, casesDone: o.complete === false ? 100 : 200, casesTotal: 200 },
    model: { dir: '/models/kbgpt', name: 'kbgpt', fingerprint: 'abc' },
    data: { file: 'edits.json', format: 'flat', n: 200, offset: 0, seed: null, known: true },
    method: o.method, hparamsFile: `hparams/${o.method}/kbgpt.yaml`, hparams: {}, statsKeys: [], seed: 0,
    setting: { mode: o.mode, batchSize: o.batchSize ?? 1, measureWhen: 'each' },
    metrics: {
      [ROME]: { pre: { n: 200, ES: 0, PS: 0, NS: 99, S: 0, EM: -50.1, PM: -40, NM: 45, 'portability.one_hop': 10 }, post: { n: 200, ...o.rome } },
      [EASY]: { pre: { n: 200, reliability: 5.2, generalization: 4.9, locality: 100, portability: 12, 'locality.neighborhood': 100, 'portability.one_hop': 12 }, post: { n: 200, ...o.easy } },
      ...o.extra,
    },
    efficiency: { secondsPerEdit: 3.6, secondsPerChunk: 3.6, peakRssBytes: 1300000000, peakTensorBytes: 200000000, ...(o.cached ? { valuesFromCache: o.cached } : {}) },
    ...(o.curve ? { curve: o.curve } : {}),
  };
}

function runDir(name: string, json: unknown, parent = 'runs'): string {
  const dir = join(tmp, parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'summary.json'), typeof json === 'string' ? json : JSON.stringify(json, null, 2));
  return dir;
}

const easyPost = (r: number) => ({ reliability: r, generalization: r - 10, locality: 91, portability: 30.5, 'locality.neighborhood': 91, 'portability.one_hop': 30.5 });
const DIRS = {
  rome: runDir('rome-kbgpt', summary({
    name: 'rome-kbgpt', method: 'ROME', mode: 'single', rome: { ES: 92, PS: 84.5, NS: 90.5, S: 88.9, EM: 40, PM: 30, NM: 20 }, easy: easyPost(95.1),
    extra: { generation: { pre: { fluency: 610.2, consistency: 20.1 }, post: { fluency: 600, consistency: 35.2 } }, 'other-task': { pre: { accuracy: 71, n: 100 }, post: { accuracy: 70.5, n: 100 } } },
  })),
  memit10: runDir('memit-10', summary({ name: 'memit-10', method: 'MEMIT', mode: 'batch', batchSize: 10, rome: { ES: 99, PS: 90, NS: 80, S: 89 }, easy: easyPost(97) })),
  memit100: runDir('memit-100', summary({ name: 'memit-100', method: 'MEMIT', mode: 'batch', batchSize: 100, rome: { ES: 95, PS: 85, NS: 75, S: 84 }, easy: easyPost(90), cached: 150 })),
  memit1000: runDir('memit-1000', summary({ name: 'memit-1000', method: 'MEMIT', mode: 'batch', batchSize: 1000, rome: { ES: 80, PS: 60, NS: 70, S: 69 }, easy: easyPost(70) })),
  ftSeq: runDir('ft-seq', summary({
    name: 'ft-seq', method: 'FT-L', mode: 'sequential', complete: false, rome: { ES: 30, PS: 20, NS: 40, S: 27 }, easy: easyPost(40),
    curve: [
      { edits: 50, metrics: { [ROME]: { n: 50, ES: 60, PS: 45, NS: 60 }, [EASY]: { reliability: 70 } } },
      { edits: 10, metrics: { [ROME]: { n: 10, ES: 90, PS: 70, NS: 80 }, [EASY]: { reliability: 80 } }, oneEditPerSubject: { n: 8, metrics: { [ROME]: { n: 8, ES: 100, PS: 75, NS: 80 } } } },
      { edits: 100, metrics: { [ROME]: { n: 100, ES: 30, PS: 20, NS: 40 }, [EASY]: { reliability: 40 } }, oneEditPerSubject: { n: 61, metrics: { [ROME]: { n: 61, ES: 45, PS: 30, NS: 40 } } } },
    ],
  })),
};
const ALL = Object.values(DIRS);

/** The Markdown table as header → cell per row. */
function markdownRows(md: string): Record<string, string>[] {
  const lines = md.split('\n').filter((l) => l.startsWith('|'));
  const cells = (l: string) => l.slice(2, -2).split(' | ');
  const header = cells(lines[0]);
  return lines.slice(2).map((l) => Object.fromEntries(cells(l).map((c, i) => [header[i], c])));
}

function polylines(svg: string): { series: string; points: [number, number][] }[] {
  return [...svg.matchAll(/<polyline class="series" data-series="([^"]*)" points="([^"]*)"/g)].map((m) => ({
    series: m[1], points: m[2].split(' ').map((p) => p.split(',').map(Number) as [number, number]),
  }));
}

describe('reading runs', () => {
  test('summary.json is normalised; a missing, garbled or misshapen one is an error naming the file', () => {
    const run = readRun(DIRS.ftSeq);
    assert.equal(run.name, 'ft-seq');
    assert.equal(run.model, 'kbgpt');
    assert.equal(run.mode, 'sequential');
    assert.equal(run.complete, false);
    assert.equal(run.n, 100);
    assert.deepEqual(run.curve.map((p) => p.edits), [10, 50, 100], 'curve sorted by edits');
    assert.equal(run.metrics[ROME].post!.ES, 30);

    const missing = join(tmp, 'no-run');
    mkdirSync(missing);
    assert.throws(() => readRun(missing), (e: Error) => e.message.includes(join(missing, 'summary.json')) && /not found/.test(e.message));
    const garbled = runDir('garbled', '{"metrics": {');
    assert.throws(() => readRun(garbled), (e: Error) => e.message.includes(join(garbled, 'summary.json')) && /not valid JSON/.test(e.message));
    const wrong = runDir('wrong', { metrics: [1, 2] });
    assert.throws(() => readRun(wrong), (e: Error) => e.message.includes(join(wrong, 'summary.json')) && /not an lmedit eval summary: 'metrics'/.test(e.message));
    const badGroup = runDir('bad-group', { metrics: { [ROME]: { post: 'high' } } });
    assert.throws(() => readRun(badGroup), /metrics\['rome-counterfact-prob'\]\.post must be an object/);
    const badCurve = runDir('bad-curve', { metrics: {}, curve: { edits: 1 } });
    assert.throws(() => readRun(badCurve), /'curve' must be an array/);
  });

  test('older and partial summaries: missing fields stay empty, the first one-protocol shape is read', () => {
    const legacy = readRun(runDir('legacy', { protocol: ROME, method: 'ROME', mode: 'batch', batchSize: 10, model: '/m/gpt2-xl', pre: { n: 5, ES: 0 }, post: { n: 5, ES: 100, NS: null }, secondsPerCase: 2 }));
    assert.deepEqual(legacy.metrics, { [ROME]: { pre: { n: 5, ES: 0 }, post: { n: 5, ES: 100 } } }, 'null (NaN) values dropped');
    assert.equal(legacy.model, 'gpt2-xl');
    assert.equal(legacy.batchSize, 10);
    assert.equal(legacy.secondsPerEdit, 2);
    const bare = readRun(runDir('bare', { metrics: { [EASY]: { post: { reliability: 50 } } } }));
    assert.equal(bare.name, 'bare', 'named after its directory');
    assert.equal(bare.method, 'unknown');
    assert.equal(bare.complete, true);
    assert.deepEqual(bare.curve, []);
  });
});

describe('table', () => {
  const runs = readRuns(ALL);

  test('one row per run, values under their protocol\'s columns, partial runs marked', () => {
    const table = buildTable(runs);
    assert.deepEqual(table.rows.map((r) => r.run), ['rome-kbgpt', 'memit-10', 'memit-100', 'memit-1000', 'ft-seq']);
    const headers = table.columns.map((c) => c.header);
    assert.deepEqual(headers.slice(0, 5), ['run', 'model', 'method', 'setting', 'n']);
    assert.deepEqual(headers.filter((h) => h.startsWith('ROME ')), ['ROME ES', 'ROME PS', 'ROME NS', 'ROME S', 'ROME EM', 'ROME PM', 'ROME NM']);
    assert.deepEqual(headers.filter((h) => h.startsWith('EasyEdit ')),
      ['EasyEdit Reliability', 'EasyEdit Generalization', 'EasyEdit Locality', 'EasyEdit Portability', 'EasyEdit locality.neighborhood', 'EasyEdit portability.one_hop']);
    assert.ok(headers.indexOf('ROME NM') < headers.indexOf('EasyEdit Reliability'), 'one block per protocol');
    assert.deepEqual(headers.slice(-5), ['Generation fluency', 'Generation consistency', 'Other task accuracy', 's/edit', 'peak RSS']);

    const md = markdownRows(tableMarkdown(table, runs));
    assert.equal(md.length, 5);
    const [rome, memit10, memit100, , seq] = md;
    assert.equal(memit100['s/edit'], '3.60 †', 'a run that reused cached values is marked');
    assert.match(tableMarkdown(table, runs), /† memit-100: 150 of 200 edits took their optimised value \(v\*, z\) from the value cache/);
    assert.equal(rome['s/edit'], '3.60', 'and only that one');
    assert.equal(rome['ROME ES'], '92.0');
    assert.equal(rome['ROME EM'], '40.0');
    assert.equal(rome['EasyEdit Reliability'], '95.1');
    assert.equal(rome['Generation fluency'], '600.0');
    assert.equal(rome['Other task accuracy'], '70.5');
    assert.equal(rome['s/edit'], '3.60');
    assert.equal(rome['peak RSS'], '1.21 GiB');
    assert.equal(rome.setting, 'single');
    assert.equal(memit10.setting, 'batch 10');
    assert.equal(memit10['ROME EM'], '—', 'absent values are a dash');
    assert.equal(seq.run, 'ft-seq ⚠ partial 100/200');
    assert.equal(seq.setting, 'sequential, batch 1');
    assert.match(tableMarkdown(table, runs), /Sequential rows \(ft-seq\) measure each case right after its own edit/);
    assert.equal(seq.n, '100');
  });

  test('--pre adds a before row; a metric key two protocols share stays in two columns', () => {
    const table = buildTable(runs.slice(0, 1), { pre: true });
    const [before, afterRow] = markdownRows(tableMarkdown(table, runs));
    assert.equal(before.when, 'before');
    assert.doesNotMatch(tableMarkdown(table, runs), /Sequential rows/, 'the sequential note only when a sequential run is in the table');
    assert.equal(afterRow.when, 'after');
    assert.equal(before['ROME ES'], '0.0');
    assert.equal(before['ROME portability.one_hop'], '10.0');
    assert.equal(before['EasyEdit portability.one_hop'], '12.0');
    assert.equal(afterRow['ROME portability.one_hop'], '—');
    assert.equal(afterRow['EasyEdit portability.one_hop'], '30.5');
    assert.equal(before['s/edit'], '—', 'efficiency belongs to the edits');
    for (const c of table.columns.filter((x) => x.protocol)) assert.equal(c.key, `${c.protocol}:${c.metric}`);
  });

  test('--metrics picks columns by metric, protocol or tag:metric', () => {
    const pick = (...items: string[]) => buildTable(runs, { filter: new MetricFilter(items) }).columns.filter((c) => c.protocol).map((c) => c.header);
    assert.deepEqual(pick('ES,reliability'), ['ROME ES', 'EasyEdit Reliability']);
    assert.deepEqual(pick('portability*'), ['EasyEdit Portability', 'EasyEdit portability.one_hop'], 'ROME has portability only before the edits');
    assert.deepEqual(pick('easyedit-token:portability.*', 'ROME'), ['ROME ES', 'ROME PS', 'ROME NS', 'ROME S', 'ROME EM', 'ROME PM', 'ROME NM', 'EasyEdit portability.one_hop']);
  });
});

describe('plots', () => {
  const chart = (runs: Run[], name: string) => reportCharts(runs).charts.find((c) => c.name === name)?.chart;

  test('metric vs batch size: only with two batch sizes or more; one polyline per (method, metric), points by batch size', () => {
    const names = (dirs: string[]) => reportCharts(readRuns(dirs)).charts.map((c) => c.name).filter((n) => n.startsWith('batch-size'));
    assert.deepEqual(names([DIRS.memit100, DIRS.ftSeq]), [], 'one batch size: no plot');
    assert.deepEqual(names([DIRS.memit100, DIRS.rome]), [], 'two batch sizes, but no method has a line');
    assert.deepEqual(names([DIRS.memit10, DIRS.memit100, DIRS.memit1000]), ['batch-size_rome-counterfact-prob_kbgpt', 'batch-size_easyedit-token_kbgpt'], 'a file per protocol');

    const c = chart(readRuns([DIRS.memit1000, DIRS.memit10, DIRS.rome, DIRS.memit100]), 'batch-size_rome-counterfact-prob_kbgpt')!;
    assert.equal(c.kind, 'line');
    const svg = sceneToSvg(layoutChart(c));
    const lines = polylines(svg);
    assert.deepEqual(lines.map((l) => l.series), ['MEMIT ES', 'MEMIT PS', 'MEMIT NS', 'ROME ES', 'ROME PS', 'ROME NS'], 'methods in the order given; single mode is batch size 1');
    assert.ok(!svg.includes('Reliability'), 'no EasyEdit metric in the ROME plot');
    const es = lines[0].points;
    assert.equal(es.length, 3);
    assert.ok(es[0][0] > lines[3].points[0][0], 'batch 10 right of batch 1');
    assert.ok(Math.abs((es[1][0] - es[0][0]) - (es[2][0] - es[1][0])) < 0.02, 'log scale: decades equally spaced');
    assert.ok(es[0][1] < es[1][1] && es[1][1] < es[2][1], 'ES 99 > 95 > 80 drawn top to bottom');
    for (const tick of ['>1<', '>10<', '>100<', '>1000<', '>0<', '>100<']) assert.ok(svg.includes(tick), `tick ${tick}`);
    assert.match(svg, /<title>ROME: metrics vs batch size \(kbgpt\)<\/title>/);
  });

  test('metric vs number of sequential edits from the curve', () => {
    const c = chart(readRuns(ALL), 'sequential_rome-counterfact-prob_kbgpt')!;
    const lines = polylines(sceneToSvg(layoutChart(c)));
    assert.deepEqual(lines.map((l) => l.series), ['FT-L (partial) ES', 'FT-L (partial) PS', 'FT-L (partial) NS']);
    const [p10, p50, p100] = lines[0].points;
    assert.ok(Math.abs((p50[0] - p10[0]) / (p100[0] - p50[0]) - 40 / 50) < 1e-3, 'x proportional to edits');
    assert.ok(p10[1] < p50[1] && p50[1] < p100[1], 'ES 90 → 60 → 30');
    assert.ok(chart(readRuns(ALL), 'sequential_easyedit-token_kbgpt'));
    assert.equal(chart(readRuns([DIRS.rome, DIRS.memit10]), 'sequential_rome-counterfact-prob_kbgpt'), undefined, 'no sequential run, no plot');
  });

  test('the curve over the cases with one edit per subject: a plot and a table with their counts', () => {
    const c = chart(readRuns(ALL), 'sequential-one-edit-per-subject_rome-counterfact-prob_kbgpt')!;
    const lines = polylines(sceneToSvg(layoutChart(c)));
    assert.deepEqual(lines[0].points.length, 2, 'only the points that recorded the subset');
    assert.ok(lines[0].points[0][1] < lines[0].points[1][1], 'ES 100 → 45');
    assert.equal(chart(readRuns(ALL), 'sequential-one-edit-per-subject_easyedit-token_kbgpt'), undefined, 'no subset metrics, no plot');
    const md = curveMarkdown(readRuns([DIRS.ftSeq]));
    const [all, single] = md.split('Only the cases').map(markdownRows);
    assert.deepEqual(all.map((r) => r['edits so far']), ['10', '50', '100']);
    assert.equal(all[0]['ft-seq ES / PS / NS'], '90.0 / 70.0 / 80.0');
    assert.equal(all[2]['ft-seq Rel. / Loc.'], '40.0 / —');
    assert.deepEqual(single.map((r) => [r['edits so far'], r['ft-seq ES / PS / NS']]), [['10', '100.0 / 75.0 / 80.0 (n 8)'], ['100', '45.0 / 30.0 / 40.0 (n 61)']]);
    assert.equal(curveMarkdown(readRuns([DIRS.rome])), '', 'no sequential run, no table');
  });

  test('grouped bars: groups = metrics of one protocol, bars = runs', () => {
    const runs = readRuns(ALL);
    const c = chart(runs, 'bars_rome-counterfact-prob')!;
    assert.equal(c.kind, 'bar');
    if (c.kind !== 'bar') return;
    assert.deepEqual(c.groups, ['ES', 'PS', 'NS', 'S']);
    assert.deepEqual(c.bars.map((b) => b.label), ['rome-kbgpt', 'memit-10', 'memit-100', 'memit-1000', 'ft-seq (partial)']);
    const svg = sceneToSvg(layoutChart(c));
    assert.equal([...svg.matchAll(/<rect class="bar"/g)].length, 20);
    assert.deepEqual(chart(runs, 'bars_easyedit-token')!.kind === 'bar' && (chart(runs, 'bars_easyedit-token') as Extract<Chart, { kind: 'bar' }>).groups,
      ['Reliability', 'Generalization', 'Locality', 'Portability']);
    assert.ok(chart(runs, 'bars_other-task'), 'an unknown protocol plots its keys');
    assert.equal(reportCharts(runs).charts.filter((x) => x.name.includes('generation')).length, 0, 'fluency and consistency are not percentages of one scale');
  });
});

/** Decodes an 8-bit RGB PNG (filter 0 rows), checking the signature, every chunk's CRC and the chunk order. */
function decodePng(png: Buffer): { width: number; height: number; pixel: (x: number, y: number) => number[]; chunks: string[] } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const len = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    const crc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32 ?? crc32;
    assert.equal(png.readUInt32BE(at + 8 + len), crc(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    chunks.push({ type, data });
    at += 12 + len;
  }
  const ihdr = chunks[0].data;
  const [width, height] = [ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)];
  assert.deepEqual([...ihdr.subarray(8)], [8, 2, 0, 0, 0], '8-bit RGB, deflate, no interlace');
  const raw = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  assert.equal(raw.length, height * (1 + width * 3));
  for (let y = 0; y < height; y++) assert.equal(raw[y * (1 + width * 3)], 0, 'filter type 0');
  return {
    width, height, chunks: chunks.map((c) => c.type),
    pixel: (x, y) => [...raw.subarray(y * (1 + width * 3) + 1 + x * 3, y * (1 + width * 3) + 1 + x * 3 + 3)],
  };
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

describe('PNG', () => {
  test('a valid PNG at twice the scene size: background, a bar\'s interior in its colour', () => {
    const out = join(tmp, 'png-report');
    const result = writeReport(readRuns(ALL), { out });
    const barsChart = result.charts.find((c) => c.name === 'bars_rome-counterfact-prob')!.chart;
    const img = decodePng(readFileSync(join(out, 'bars_rome-counterfact-prob.png')));
    assert.deepEqual(img.chunks, ['IHDR', 'IDAT', 'IEND']);
    assert.equal(img.width, 1600);
    assert.equal(img.height, 1000);
    assert.deepEqual(img.pixel(3, 3), [255, 255, 255]);
    const bar = layoutChart(barsChart).shapes.find((s) => s.type === 'rect' && s.role === 'bar')!;
    assert.ok(bar.type === 'rect');
    assert.deepEqual(img.pixel(Math.round((bar.x + bar.w / 2) * 2), Math.round((bar.y + bar.h / 2) * 2)), rgb(PALETTE[0]));
  });

  test('lines, markers and bitmap text land where the scene puts them', () => {
    const scene: Scene = {
      width: 100, height: 60, background: '#FFFFFF', title: 't', shapes: [
        { type: 'polyline', points: [[10, 40], [90, 40]], color: '#D55E00', width: 2, series: 's' },
        { type: 'marker', x: 50, y: 20, size: 4, shape: 'triangle', color: '#009E73' },
        { type: 'text', x: 5, y: 10, text: 'H', size: 10, color: '#000000', anchor: 'start' },
      ],
    };
    const { width, pixels } = rasterize(scene, 2);
    const px = (x: number, y: number) => [...pixels.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
    assert.deepEqual(px(100, 79), rgb('#D55E00'), 'line of width 2 (4 px) centred on y = 80');
    assert.deepEqual(px(100, 80), rgb('#D55E00'));
    assert.deepEqual(px(100, 84), [255, 255, 255]);
    assert.deepEqual(px(100, 40), rgb('#009E73'), 'marker centre');
    // 'H' at scale 2: font pixels 2×2, top row '#...#' starts 7 px above the centre line y = 20.
    assert.deepEqual(px(10, 13), [0, 0, 0]);
    assert.deepEqual(px(12, 13), [255, 255, 255]);
    assert.deepEqual(px(18, 13), [0, 0, 0]);
    assert.deepEqual(px(12, 19), [0, 0, 0], 'the bar of the H (row 3)');
  });
});

describe('writing the report', () => {
  test('report.md, report.json and the plots, atomically: no temp file left', () => {
    const out = join(tmp, 'atomic');
    const r = writeReport(readRuns(ALL), { out, pre: true });
    writeReport(readRuns(ALL), { out, pre: true }); // overwrite in place
    const files = readdirSync(out).sort();
    assert.equal(files.filter((f) => f.includes('.tmp-')).length, 0);
    for (const f of r.files) assert.ok(existsSync(f), f);
    assert.ok(files.includes('report.md') && files.includes('report.json'));
    for (const name of ['batch-size_rome-counterfact-prob_kbgpt', 'sequential_rome-counterfact-prob_kbgpt', 'bars_rome-counterfact-prob']) {
      assert.ok(files.includes(`${name}.svg`) && files.includes(`${name}.png`), name);
    }
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(json.rows.length, 10);
    assert.deepEqual(json.rows[1].values['rome-counterfact-prob:ES'], 92);
    assert.equal(json.rows[1].phase, 'after');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.ok(md.includes(r.tableMarkdown));
    assert.match(md, /!\[ROME: metrics vs batch size \(kbgpt\)\]\(batch-size_rome-counterfact-prob_kbgpt\.svg\)/);
  });
});

describe('lmedit report', () => {
  const lmedit = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'report', ...args], { encoding: 'utf8', cwd: REPO_ROOT });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  test('prints the table and the files it wrote; errors name the missing summary', () => {
    const out = join(tmp, 'cli-out');
    const r = lmedit(...ALL, '--out', out, '--pre');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\| run \| model \| method \| setting \| n \| when \| ROME ES \|/);
    assert.match(r.stdout, /\| ft-seq ⚠ partial 100\/200 \| kbgpt \| FT-L \|/);
    for (const f of ['report.md', 'report.json', 'bars_rome-counterfact-prob.png', 'batch-size_easyedit-token_kbgpt.svg']) {
      assert.ok(r.stdout.includes(`wrote ${join(out, f)}`), f);
      assert.ok(existsSync(join(out, f)), f);
    }

    // A directory of runs stands for its runs; the report's own output inside it is skipped.
    const group = join(tmp, 'group');
    runDir('a', summary({ name: 'a', method: 'MEMIT', mode: 'batch', batchSize: 10, rome: { ES: 99 } }), 'group');
    runDir('b', summary({ name: 'b', method: 'ROME', mode: 'single', rome: { ES: 90 } }), 'group');
    mkdirSync(join(group, 'report'));
    const grouped = lmedit(group, '--out', join(group, 'report'), '--no-plots', '--metrics', 'ES');
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.match(grouped.stdout, /\| a \| kbgpt \| MEMIT \| batch 10 \| 200 \| 99\.0 \| 3\.60 \| 1\.21 GiB \|\n\| b \| kbgpt \| ROME \| single \| 200 \| 90\.0 \|/);
    assert.ok(!grouped.stdout.includes('.png'), '--no-plots');

    const missing = lmedit(join(tmp, 'nowhere'), '--out', out);
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(join(tmp, 'nowhere', 'summary.json')), missing.stderr);
    const none = lmedit();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name at least one run directory/);
  });
});
