// A session's shared patch (a GRACE codebook, T-Patcher's neurons, WISE's side memory): one patch at one module holds
// the items of every edit, tagged by edit id. The session adopts the one a loaded model already has installed there,
// or makes an empty one; each edit installs it for the computation if needed and adds its items; a failed edit drops
// what it added. A patch the session made and never returned in an edit is the session's to free.
import type { LanguageModel, ModulePatch } from '../models/index.js';
import type { NormalizedRequest } from './request.js';
import type { Edit, EditDiagnostics } from './types.js';

export class SharedPatch<P extends ModulePatch> {
  private own: boolean;
  private current: P;

  /** `find` picks this method's patch among installed ones (and may refuse one built with other settings). */
  constructor(private readonly model: LanguageModel, private readonly find: (patches: readonly ModulePatch[]) => P | undefined, create: () => P) {
    const found = find(model.installedPatches());
    this.own = found === undefined;
    this.current = found ?? create();
  }

  get patch(): P {
    return this.current;
  }

  /**
   * One edit into the patch: `each` edits one request (recording its keys into `edit`); on failure the edit's items and
   * recorded keys are dropped and the error rethrown.
   */
  edit(editId: string, requests: readonly NormalizedRequest[], each: (r: NormalizedRequest, edit: Edit) => EditDiagnostics): Edit {
    const p = this.current;
    const uninstall = this.model.isInstalled(p) ? undefined : this.model.install(p);
    const edit: Edit = { deltas: [], patches: [p], diagnostics: [], statsKeys: [] };
    try {
      for (const r of requests) edit.diagnostics.push(each(r, edit));
    } catch (e) {
      p.removeEdit?.(editId);
      for (const t of Object.values(edit.memory ?? {})) t.dispose();
      throw e;
    } finally {
      uninstall?.();
    }
    this.own = false;
    return edit;
  }

  /** Takes over the patch a replayed state installed (MethodSession.adopt), so later edits extend it. */
  adopt(edited: { patches(): ModulePatch[] }): void {
    const found = this.find(edited.patches());
    if (!found || found === this.current) return;
    this.release();
    this.current = found;
    this.own = false;
  }

  release(): void {
    if (this.own && !this.model.isInstalled(this.current)) this.current.dispose();
  }
}
