// An edit's footprint: the keys it wrote, kept in its memory (Edit.memory) under `keys.<module>` as one column per
// request, in request order. AlphaEdit reads its earlier edits' keys from there (its projection); the Editor reads every
// method's to warn, before an edit is applied, that it reaches an earlier edit's key (src/editor/conflicts.ts).
import { cat, keep, noGrad, type Tensor } from '../tensor/index.js';
import type { Edit } from './types.js';

/** The memory entry under which an edit keeps the keys it wrote into `module` ([d_in, n], one column per request). */
export const keysMemoryName = (module: string): string => `keys.${module}`;

/** The module of a `keys.<module>` memory name, or undefined for other entries. */
export function keysModule(name: string): string | undefined {
  return name.startsWith('keys.') ? name.slice('keys.'.length) : undefined;
}

/**
 * Appends keys [n, d_in] (rows: requests) to `edit.memory` at `module` as columns; the tensor is copied (the caller
 * keeps its own).
 */
export function recordKeys(edit: Edit, module: string, rows: Tensor): void {
  const name = keysMemoryName(module);
  edit.memory ??= {};
  const cols = noGrad(() => rows.detach().t().contiguous().clone());
  const prev = edit.memory[name];
  edit.memory[name] = keep(prev ? noGrad(() => cat([prev, cols], 1)) : cols);
  if (prev) { prev.dispose(); cols.dispose(); }
}
