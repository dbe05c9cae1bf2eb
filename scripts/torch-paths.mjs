#!/usr/bin/env node
// Prints compiler/linker settings for binding.gyp: `include`, `libs` or `ldflags`.
// LIBTORCH=/path selects an official LibTorch (CUDA libraries are linked when present); otherwise the paths of the
// installed Debian package libtorch-dev are read from dpkg (no hard-coded prefix).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

function debianFile(re) {
  const r = spawnSync('dpkg', ['-L', 'libtorch-dev'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('libtorch-dev is not installed (run npm install as root, or set LIBTORCH)');
  const hit = r.stdout.split('\n').find((l) => re.test(l));
  if (!hit) throw new Error(`libtorch-dev has no file matching ${re}`);
  return hit;
}

function settings() {
  const root = process.env.LIBTORCH;
  if (root) {
    const lib = join(root, 'lib');
    const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
    if (existsSync(join(lib, 'libtorch_cuda.so'))) libs.push('-ltorch_cuda');
    if (existsSync(join(lib, 'libc10_cuda.so'))) libs.push('-lc10_cuda');
    return { include: [join(root, 'include'), join(root, 'include', 'torch', 'csrc', 'api', 'include')], lib, libs };
  }
  const apiInclude = debianFile(/torch\/csrc\/api\/include$/);
  const lib = dirname(debianFile(/\/libtorch_cpu\.so$/));
  return { include: [apiInclude], lib, libs: ['-ltorch', '-ltorch_cpu', '-lc10'] };
}

const s = settings();
const what = process.argv[2];
if (what === 'include') console.log(s.include.join(' '));
// --no-as-needed keeps libtorch_cuda linked although no symbol is referenced directly: it registers the CUDA backend.
else if (what === 'libs') console.log(['-Wl,--no-as-needed', ...s.libs, '-Wl,--as-needed'].join(' '));
else if (what === 'ldflags') console.log(`-L${s.lib} -Wl,-rpath,${s.lib}`);
else {
  console.error('usage: torch-paths.mjs include|libs|ldflags');
  process.exit(2);
}
