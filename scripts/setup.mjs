#!/usr/bin/env node
// Install-time check run by `npm install` before the native addon is built.
//
// Two ways to provide libtorch:
//  1. LIBTORCH=/path/to/libtorch (an official LibTorch zip, cxx11 ABI; CPU or CUDA): nothing is installed.
//  2. Debian/Ubuntu packages libtorch-dev + libopenblas0-pthread (default). When missing they are installed with
//     apt-get if we run as root; otherwise the exact command is printed and the install stops.
// Without libopenblas0-pthread Debian's libtorch falls back to the reference BLAS (fp32 matmul ~6 GFLOP/s instead
// of ~190 on 2 cores; see docs/backend.md), so it is treated as required.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const PACKAGES = ['libtorch-dev', 'libopenblas0-pthread'];

function fail(msg) {
  console.error(`\nlmedit setup: ${msg}\n`);
  process.exit(1);
}

function checkLibtorchDir(dir) {
  const need = [join(dir, 'include', 'torch', 'csrc', 'api', 'include'), join(dir, 'lib')];
  for (const p of need) if (!existsSync(p)) fail(`LIBTORCH=${dir} does not look like a LibTorch distribution: ${p} is missing.`);
  console.log(`lmedit setup: using LibTorch at ${dir}`);
}

function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function run(cmd, args) {
  console.log(`lmedit setup: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) fail(`'${cmd} ${args.join(' ')}' failed with exit code ${r.status}.`);
}

if (process.env.LIBTORCH) {
  checkLibtorchDir(process.env.LIBTORCH);
  process.exit(0);
}
if (spawnSync('dpkg-query', ['--version']).status !== 0) {
  fail('this is not a Debian-based system and LIBTORCH is not set.\n' +
    'Download LibTorch (cxx11 ABI, CPU or CUDA) from https://pytorch.org and run: LIBTORCH=/path/to/libtorch npm install');
}
const missing = PACKAGES.filter((p) => !dpkgInstalled(p));
if (missing.length === 0) {
  console.log(`lmedit setup: ${PACKAGES.join(', ')} present`);
  process.exit(0);
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  fail(`missing Debian packages: ${missing.join(' ')}. Install them, then run npm install again:\n\n` +
    `    sudo apt-get update && sudo apt-get install -y ${PACKAGES.join(' ')}\n\n` +
    'Or point LIBTORCH at an official LibTorch (cxx11 ABI): LIBTORCH=/path/to/libtorch npm install');
}
run('apt-get', ['update']);
run('apt-get', ['install', '-y', ...PACKAGES]);
for (const p of PACKAGES) if (!dpkgInstalled(p)) fail(`${p} is still not installed after apt-get.`);
