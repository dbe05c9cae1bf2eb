// Linear algebra (torch::linalg) and autograd entry points.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

namespace lmedit {

static void registerLinalg(Napi::Env env, Napi::Object exports) {
  OP("solve", at::linalg_solve(a.t(0), a.t(1)));
  OP("cholesky", at::linalg_cholesky(a.t(0), a.b(1)));
  OP("choleskySolve", at::cholesky_solve(a.t(0), a.t(1), a.b(2)));
  OP("inv", at::linalg_inv(a.t(0)));
  OP("eigh", at::linalg_eigh(a.t(0), a.s(1)));
  OP("svd", at::linalg_svd(a.t(0), a.b(1)));
  DEF("lstsq", {
    auto r = at::linalg_lstsq(a.t(0), a.t(1), a.optD(2), c10::nullopt);
    return a.ret(std::get<0>(r));
  });
  OP("pinv", at::linalg_pinv(a.t(0), c10::optional<double>(), a.optD(1), a.b(2)));  // (A, atol, rtol, hermitian)
  OP("qr", at::linalg_qr(a.t(0), a.s(1)));
  OP("det", at::linalg_det(a.t(0)));
  OP("slogdet", at::linalg_slogdet(a.t(0)));
}

static Napi::Value optionalTensor(const Args& a, const at::Tensor& t) {
  if (!t.defined()) return a.env().Undefined();
  return a.ret(t);
}

static void registerAutograd(Napi::Env env, Napi::Object exports) {
  DEF("requiresGrad_", a.t(0).requires_grad_(a.b(1)); return a.undef(););
  DEF("requiresGrad", return a.ret(a.t(0).requires_grad()););
  DEF("isLeaf", return a.ret(a.t(0).is_leaf()););
  DEF("grad", return optionalTensor(a, a.t(0).grad()););
  DEF("setGrad", {
    if (a.has(1)) a.t(0).mutable_grad() = a.t(1);
    else a.t(0).mutable_grad() = at::Tensor();
    return a.undef();
  });
  DEF("gradFnName", {
    const auto& fn = a.t(0).grad_fn();
    if (!fn) return a.env().Null();
    return a.ret(fn->name());
  });
  DEF("backward", {
    at::Tensor& out = a.t(0);
    c10::optional<at::Tensor> gradient = a.optT(1);
    out.backward(gradient ? *gradient : at::Tensor(), a.b(2), false);
    return a.undef();
  });
  // grad(outputs, inputs, gradOutputs|null, retainGraph, createGraph, allowUnused) → (Tensor|undefined)[]
  DEF("autogradGrad", {
    std::vector<at::Tensor> outputs = a.tensors(0);
    std::vector<at::Tensor> inputs = a.tensors(1);
    std::vector<at::Tensor> gradOutputs;
    if (a.has(2)) gradOutputs = a.tensors(2);
    bool createGraph = a.b(4);
    c10::optional<bool> retain = a.b(3) || createGraph;
    auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, createGraph, a.b(5));
    Napi::Array arr = Napi::Array::New(a.env(), grads.size());
    for (size_t k = 0; k < grads.size(); k++) arr.Set(static_cast<uint32_t>(k), optionalTensor(a, grads[k]));
    return arr;
  });
  DEF("setGradEnabled", at::GradMode::set_enabled(a.b(0)); return a.undef(););
  DEF("isGradEnabled", return a.ret(at::GradMode::is_enabled()););
}

void RegisterLinalgAutograd(Napi::Env env, Napi::Object exports) {
  registerLinalg(env, exports);
  registerAutograd(env, exports);
}

}  // namespace lmedit
