// The installed package's root directory (where package.json, build/, hparams/ live), from src/ or dist/src/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'lmedit') return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('lmedit: cannot find the package root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}
