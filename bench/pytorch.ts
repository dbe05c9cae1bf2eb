// The same GPT-2 block timed in PyTorch (Debian's python3-torch, the same libtorch build), when it is installed.
// The script goes to a temp file, runs under /usr/bin/python3 and prints one JSON object.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

/** Median ms per step for each "<dtype>_<fwd|fwdbwd>" key, e.g. float32_fwd. */
export type PytorchTimings = Record<string, number>;

export interface PytorchConfig {
  threads: number;
  tokens: number;
  d: number;
  heads: number;
  mlp: number;
  warmup: number;
  iters: number;
  /** e.g. [['float32', 'fwd'], ['bfloat16', 'fwdbwd']] */
  cases: [string, 'fwd' | 'fwdbwd'][];
}

// Block and parameter order as native/bench.cc (weights nn.Linear [out, in]); median of per-step times.
const SCRIPT = String.raw`
import json, math, sys, time
import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
T, d, H, M = cfg["tokens"], cfg["d"], cfg["heads"], cfg["mlp"]

def block(x, p, H, mask):
    T, d = x.shape
    hd = d // H
    h = F.layer_norm(x, (d,), p[0], p[1], 1e-5)
    q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in F.linear(h, p[2], p[3]).split(d, -1))
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + mask
    attn = torch.matmul(torch.softmax(scores, -1), v).transpose(0, 1).reshape(T, d)
    x1 = x + F.linear(attn, p[4], p[5])
    h2 = F.layer_norm(x1, (d,), p[6], p[7], 1e-5)
    return x1 + F.linear(F.gelu(F.linear(h2, p[8], p[9]), approximate="tanh"), p[10], p[11])

def inputs(dtype):
    def make(shape, scale, offset=0.0):
        return (torch.randn(shape) * scale + offset).to(dtype).requires_grad_(True)
    p = [make([d], 0.1, 1.0), make([d], 0.02), make([3 * d, d], 0.02), make([3 * d], 0.02),
         make([d, d], 0.02), make([d], 0.02), make([d], 0.1, 1.0), make([d], 0.02),
         make([M, d], 0.02), make([M], 0.02), make([d, M], 0.02), make([d], 0.02)]
    x = torch.randn(T, d).to(dtype)
    mask = torch.full((T, T), -1e9, dtype=dtype).triu(1)
    return x, p, mask

def step(x, p, mask, backward):
    if backward:
        block(x, p, H, mask).pow(2).mean().backward()
        for t in p:
            t.grad = None
    else:
        with torch.no_grad():
            block(x, p, H, mask)

out = {"version": torch.__version__, "threads": torch.get_num_threads(), "timings": {}}
for dtype_name, mode in cfg["cases"]:
    x, p, mask = inputs(getattr(torch, dtype_name))
    backward = mode == "fwdbwd"
    for _ in range(cfg["warmup"]):
        step(x, p, mask, backward)
    times = []
    for _ in range(cfg["iters"]):
        t0 = time.perf_counter()
        step(x, p, mask, backward)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    n = len(times)
    out["timings"][dtype_name + "_" + mode] = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
print(json.dumps(out))
`;

/** Why PyTorch cannot be used here, or undefined when `import torch` works under /usr/bin/python3. */
export function pytorchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not runnable (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} -c 'import torch' failed: ${r.stderr.trim().split('\n').pop() ?? ''}`;
  return undefined;
}

export function runPytorchBlock(cfg: PytorchConfig): { version: string; threads: number; timings: PytorchTimings } {
  const dir = mkdtempSync(join(tmpdir(), 'lmedit-bench-'));
  try {
    const script = join(dir, 'gpt2_block.py');
    writeFileSync(script, SCRIPT);
    // Same OpenMP setting as the addon (src/tensor/native.ts): spinning OpenMP workers starve OpenBLAS's threads.
    const r = spawnSync(PYTHON, [script, JSON.stringify(cfg)], {
      encoding: 'utf8',
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
      maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`PyTorch block script failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
