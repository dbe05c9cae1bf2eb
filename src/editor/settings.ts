// The three editing settings of the paper, explicit (EasyEdit's shifting `sequential_edit` semantics made into
// options; ../shared/docs/REFERENCE.md §1.5):
//   single      each request: edit → measure → restore
//   batch       chunks of `batchSize` requests: edit the chunk at once → measure the chunk → restore
//   sequential  edits accumulate (in chunks of `batchSize`, default 1); measure after each chunk ('each') or once
//               after the last ('end')
import type { EditRequest } from '../methods/request.js';
import type { Editor, EditRecord } from './editor.js';

export type EditMode = 'single' | 'batch' | 'sequential';

export interface SettingOptions<T> {
  mode: EditMode;
  /** Requests per edit computation in 'batch' and 'sequential' (default 1). */
  batchSize?: number;
  /** 'sequential' only: measure after every chunk, or once after all edits (default 'each'). */
  measureWhen?: 'each' | 'end';
  /**
   * Measures the edited model for the given requests (those of the chunk, or in sequential 'end' mode all of
   * them). Called while the edits are applied.
   */
  measure: (requests: EditRequest[], records: EditRecord[]) => T[];
  /** 'sequential' only: called after each chunk with every request edited so far (e.g. to measure a curve). */
  afterChunk?: (requestsSoFar: EditRequest[], records: EditRecord[]) => void;
  /** Called after each chunk with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * 'sequential' only: requests whose edits the editor already holds as its active edits (a resumed run, see
   * Editor.adoptState). They count in `afterChunk`'s requests so far and in the 'end' measurement.
   */
  previous?: EditRequest[];
}

export interface SettingResult<T> {
  /** One measurement per request, in request order. */
  results: T[];
  records: EditRecord[];
}

/** Runs the requests under a setting. The editor's model is restored to its original weights at the end. */
export function runSetting<T>(editor: Editor, requests: EditRequest[], o: SettingOptions<T>): SettingResult<T> {
  const state: SettingResult<T> = { results: [], records: [] };
  for (const _ of settingSteps(editor, requests, o, state));
  return state;
}

/**
 * The same, yielding to the event loop after every chunk so that signal handlers and timers run; stops early (model
 * restored, results so far returned, `stopped` true) once `signal` is aborted.
 */
export async function runSettingAsync<T>(editor: Editor, requests: EditRequest[], o: SettingOptions<T> & { signal?: AbortSignal; onStop?: () => void }): Promise<SettingResult<T> & { stopped: boolean }> {
  const state: SettingResult<T> = { results: [], records: [] };
  const steps = settingSteps(editor, requests, o, state);
  while (!steps.next().done) {
    await new Promise((resolve) => setImmediate(resolve));
    if (o.signal?.aborted) {
      o.onStop?.(); // the edits are still applied here
      steps.return(undefined); // runs the generator's finally: the model is restored
      return { ...state, stopped: true };
    }
  }
  return { ...state, stopped: false };
}

function* settingSteps<T>(editor: Editor, requests: EditRequest[], o: SettingOptions<T>, state: SettingResult<T>): Generator<number, void, undefined> {
  const size = o.mode === 'single' ? 1 : Math.max(1, o.batchSize ?? 1);
  if (!Number.isInteger(size)) throw new Error(`batchSize must be a positive integer, got ${o.batchSize}`);
  const previous = o.previous ?? [];
  if (previous.length > 0 && o.mode !== 'sequential') throw new Error(`runSetting: earlier edits (previous) only make sense in the sequential setting, not '${o.mode}'`);
  const held = editor.activeEdits.reduce((a, r) => a + r.requests.length, 0);
  if (held !== previous.length) {
    throw new Error(previous.length === 0
      ? 'runSetting: the editor already has active edits; restore() first'
      : `runSetting: ${previous.length} earlier edits were announced but the editor holds ${held}`);
  }
  const { results, records } = state;
  try {
    for (let start = 0; start < requests.length; start += size) {
      const chunk = requests.slice(start, start + size);
      const recs = editor.edit(chunk);
      records.push(...recs);
      if (o.mode !== 'sequential' || (o.measureWhen ?? 'each') === 'each') results.push(...o.measure(chunk, recs));
      const done = Math.min(start + size, requests.length);
      if (o.mode === 'sequential') o.afterChunk?.([...previous, ...requests.slice(0, done)], records);
      if (o.mode !== 'sequential') editor.restore();
      o.onProgress?.(done, requests.length);
      yield done;
    }
    if (o.mode === 'sequential' && o.measureWhen === 'end') results.push(...o.measure([...previous, ...requests], records));
  } finally {
    editor.restore();
  }
}
