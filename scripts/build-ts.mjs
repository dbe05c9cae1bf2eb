#!/usr/bin/env node
// Compiles the TypeScript (tsc -p tsconfig.build.json) and marks the `lmedit` bin executable: tsc writes files
// without the executable bit, and `npx lmedit` runs the bin directly.
import { chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
chmodSync('dist/src/cli/main.js', 0o755);
