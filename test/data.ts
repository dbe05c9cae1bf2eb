// Locations of the shared, read-only test data (../shared/data beside the repository; never copied in).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_DATA = process.env.LMEDIT_SHARED_DATA ?? join(repoRoot, '..', 'shared', 'data');
if (!existsSync(SHARED_DATA)) {
  throw new Error(`shared test data not found at ${SHARED_DATA} (set LMEDIT_SHARED_DATA to its location)`);
}
export const GOLDEN = join(SHARED_DATA, 'golden');
export const FACTGPT = join(SHARED_DATA, 'factgpt');
export const KBGPT = join(SHARED_DATA, 'kbgpt');
export const REPO_ROOT = repoRoot;
