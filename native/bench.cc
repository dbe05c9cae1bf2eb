// C++ reference for the benchmark: one GPT-2 block written directly against ATen, timed inside the addon.
// bench/ compares the same block written with the TypeScript API against this (target: within 1.15x).
#include "common.h"

#include <chrono>

namespace lmedit {

// params: ln1.w, ln1.b, attn.w [3d,d], attn.b, proj.w [d,d], proj.b, ln2.w, ln2.b, fc.w [4d,d], fc.b, fc2.w [d,4d], fc2.b
static at::Tensor gpt2Block(const at::Tensor& x, const std::vector<at::Tensor>& p, int64_t heads, const at::Tensor& mask) {
  int64_t T = x.size(0), d = x.size(1), hd = d / heads;
  at::Tensor h = at::layer_norm(x, {d}, p[0], p[1], 1e-5);
  std::vector<at::Tensor> qkv = at::linear(h, p[2], p[3]).split(d, -1);
  auto heads3 = [&](const at::Tensor& t) { return t.view({T, heads, hd}).transpose(0, 1); };
  at::Tensor q = heads3(qkv[0]), k = heads3(qkv[1]), v = heads3(qkv[2]);
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(hd))) + mask;
  at::Tensor attn = at::matmul(at::softmax(scores, -1), v).transpose(0, 1).reshape({T, d});
  at::Tensor x1 = x + at::linear(attn, p[4], p[5]);
  at::Tensor h2 = at::layer_norm(x1, {d}, p[6], p[7], 1e-5);
  at::Tensor m = at::linear(at::gelu(at::linear(h2, p[8], p[9]), "tanh"), p[10], p[11]);
  return x1 + m;
}

// benchGpt2Block(x, params[12], heads, mask, iters, backward) → mean milliseconds per iteration (after 3 warm-ups).
static double benchGpt2Block(const Args& a) {
  at::Tensor x = a.t(0);
  std::vector<at::Tensor> p = a.tensors(1);
  int64_t heads = a.i64(2);
  at::Tensor mask = a.t(3);
  int64_t iters = a.i64(4);
  bool backward = a.b(5);
  auto once = [&]() {
    if (backward) {
      at::Tensor loss = gpt2Block(x, p, heads, mask).pow(2).mean();
      loss.backward();
      for (auto& t : p) t.mutable_grad() = at::Tensor();
    } else {
      at::NoGradGuard ng;
      gpt2Block(x, p, heads, mask);
    }
  };
  for (int k = 0; k < 3; k++) once();
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < iters; k++) once();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / static_cast<double>(iters);
}

void RegisterBench(Napi::Env env, Napi::Object exports) {
  DEF("benchGpt2Block", return a.ret(benchGpt2Block(a)););
}

}  // namespace lmedit
