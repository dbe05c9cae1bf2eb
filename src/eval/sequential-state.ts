// The checkpoint of a sequential run (`state.safetensors` in the run directory): the current values of every
// parameter the accumulated edits have touched, in the model's dtype (bit-exact), and which cases had been edited.
// A rerun into the same directory loads it (Editor.adoptState) and continues with the next case, so a resumed run
// gives the same numbers as an uninterrupted one. Written atomically; the size is that of the touched parameters
// (kbgpt ROME: one 1024×256 matrix, 1 MiB), whatever the number of edits.
import { readSafetensorsHeader, writeSafetensors, ENGINE_TO_SAFETENSORS_DTYPE, SAFETENSORS_TO_ENGINE_DTYPE, type TensorToWrite } from '../io/safetensors.js';
import { fromFile, type Tensor } from '../tensor/index.js';
import type { Editor } from '../editor/editor.js';

const FORMAT = 'lmedit-sequential-state';
const VERSION = 1;

export interface SequentialStateMeta {
  version: number;
  method: string;
  batchSize: number;
  measureWhen: 'each' | 'end';
  /** Model fingerprint the run started from (null when unknown). */
  fingerprint: string | null;
  /** Ids of the cases whose edits the saved weights hold, in edit order. */
  caseIds: string[];
}

/** Writes the touched parameters' current values and the metadata. */
export function saveSequentialState(file: string, editor: Editor, meta: Omit<SequentialStateMeta, 'version'>): void {
  const model = editor.model;
  const names = editor.touchedParameters;
  const snapshot = model.snapshot(names);
  try {
    const tensors: TensorToWrite[] = names.map((name) => {
      const t = snapshot.get(name)!;
      return {
        name, dtype: ENGINE_TO_SAFETENSORS_DTYPE[t.dtype], shape: t.shape,
        data: () => {
          const c = t.to({ device: 'cpu', copy: true });
          try {
            return c.toBytes();
          } finally {
            c.dispose();
          }
        },
      };
    });
    writeSafetensors(file, tensors, { format: FORMAT, lmedit_sequential_state: JSON.stringify({ version: VERSION, ...meta }) });
  } finally {
    for (const t of snapshot.values()) t.dispose();
  }
}

/** Reads the metadata of a state file; an error names the file when it is not one. */
export function readSequentialStateMeta(file: string): SequentialStateMeta {
  const header = readSafetensorsHeader(file);
  if (header.metadata.format !== FORMAT || !header.metadata.lmedit_sequential_state) {
    throw new Error(`${file} is not an lmedit sequential-run state (metadata format '${header.metadata.format ?? ''}')`);
  }
  const meta = JSON.parse(header.metadata.lmedit_sequential_state) as SequentialStateMeta;
  if (meta.version !== VERSION) throw new Error(`${file}: state version ${meta.version} is not supported (expected ${VERSION})`);
  return meta;
}

/** The saved parameter values (caller disposes). */
export function readSequentialStateTensors(file: string): Map<string, Tensor> {
  const header = readSafetensorsHeader(file);
  const out = new Map<string, Tensor>();
  for (const [name, e] of header.tensors) {
    const dtype = SAFETENSORS_TO_ENGINE_DTYPE[e.dtype];
    if (!dtype) throw new Error(`${file}: tensor '${name}' has dtype ${e.dtype}, which the engine cannot hold`);
    out.set(name, fromFile(file, e.byteOffset, dtype, e.shape));
  }
  return out;
}
