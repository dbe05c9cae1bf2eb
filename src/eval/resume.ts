// Resuming a run: which cases are finished, which are left, and for the sequential setting the checkpoint
// (state.safetensors, the one edit-state format: the touched parameters' values bit-exact, and every patch and
// wrapper with its edits) that the editor replays so the run continues exactly where it stopped.
import type { EditableModel } from '../models/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import { readStateFile } from '../editor/state-file.js';
import type { Editor } from '../editor/editor.js';
import type { EditMode } from '../editor/settings.js';
import type { EditCase } from './cases.js';
import { CASES_FILE, readCaseLines } from './run-dir.js';
import type { CaseLine, CurvePoint } from './summarize.js';

/** The checkpoint of a sequential run in its directory. */
export const SEQUENTIAL_STATE_FILE = 'state.safetensors';

export interface ResumePoint {
  /** Lines of finished cases kept from the earlier run. */
  finished: CaseLine[];
  /** Sequential: the cases whose edits the checkpoint holds (the editor has replayed them). */
  previous: EditCase[];
  /** Cases still to edit and measure. */
  todo: EditCase[];
  curve: CurvePoint[];
}

export interface CheckpointMeta {
  caseIds: string[];
}

/** Reads what an earlier run into `out` finished; for a sequential run, replays its checkpoint into the editor. */
export function resumePoint(out: string, editor: Editor<EditableModel>, cases: EditCase[], mode: EditMode, batchSize: number, log?: (m: string) => void): ResumePoint {
  const casesFile = join(out, CASES_FILE);
  let finished = readCaseLines(casesFile, log);
  const doneIds = new Set(finished.map((l) => String(l.caseId)));
  if (mode === 'batch' && doneIds.size > 0) {
    const prefix = cases.slice(0, doneIds.size).every((c) => doneIds.has(String(c.caseId)));
    if (!prefix || (doneIds.size % batchSize !== 0 && doneIds.size !== cases.length)) {
      throw new Error(`${casesFile}: the finished cases are not whole batches of ${batchSize} from the start; use a new --out`);
    }
  }
  if (mode !== 'sequential') return { finished, previous: [], todo: cases.filter((c) => !doneIds.has(String(c.caseId))), curve: [] };
  const stateFile = join(out, SEQUENTIAL_STATE_FILE);
  if (!existsSync(stateFile)) {
    if (finished.length > 0) throw new Error(`${casesFile} exists but ${stateFile} does not (the checkpoint was deleted): a sequential run resumes from its checkpoint; use a new --out`);
    return { finished, previous: [], todo: cases, curve: [] };
  }
  const state = readStateFile(stateFile);
  const meta = state.manifest.extra as unknown as CheckpointMeta | undefined;
  if (!meta || !Array.isArray(meta.caseIds)) throw new Error(`${stateFile}: not a sequential-run checkpoint (no case ids in its manifest)`);
  const prefix = cases.slice(0, meta.caseIds.length).map((c) => String(c.caseId));
  if (prefix.length !== meta.caseIds.length || prefix.some((id, i) => id !== meta.caseIds[i])) {
    throw new Error(`${stateFile}: the checkpoint holds the edits of cases ${list(meta.caseIds)}, but the data selects ${list(prefix)} first; use the same data options or a new --out`);
  }
  const previous = cases.slice(0, meta.caseIds.length);
  editor.loadState(state);
  // cases measured after the checkpoint are edited and measured again
  const held = new Set(meta.caseIds);
  const kept = finished.filter((l) => held.has(String(l.caseId)));
  if (kept.length !== finished.length) writeFileAtomicSync(casesFile, kept.map((l) => JSON.stringify(l) + '\n').join(''));
  finished = kept;
  const curveFile = join(out, 'curve.json');
  const curve = existsSync(curveFile) ? (JSON.parse(readFileSync(curveFile, 'utf8')) as CurvePoint[]).filter((p) => p.edits <= previous.length) : [];
  return { finished, previous, todo: cases.slice(previous.length), curve };
}

/** Writes the sequential checkpoint: the editor's state by values, with the ids of the cases it holds. */
export function saveCheckpoint(out: string, editor: Editor<EditableModel>, caseIds: string[], baseFingerprint?: string): void {
  editor.saveState(join(out, SEQUENTIAL_STATE_FILE), { weights: 'values', extra: { caseIds }, baseFingerprint });
}

function list(ids: string[]): string {
  return ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', …' : '');
}
