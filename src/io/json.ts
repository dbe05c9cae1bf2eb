// Reading the small JSON files of a checkpoint directory (config.json, the shard index, tokenizer files) with
// errors that name the file: a user with a broken checkpoint needs to know which file to fix.
import * as fs from 'node:fs';

export type JsonObject = Record<string, unknown>;

/** Reads a file that must hold a JSON object; `what` says what the file is for, in the error message. */
export function readJsonObject(file: string, what: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: ${what} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${file}: ${what} must be a JSON object`);
  return json as JsonObject;
}

/** As readJsonObject, for optional files: null when the file does not exist. */
export function readOptionalJsonObject(file: string, what: string): JsonObject | null {
  return fs.existsSync(file) ? readJsonObject(file, what) : null;
}
