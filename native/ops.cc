// Elementwise math, reductions, shape ops, indexing, neural-network functions and losses.
// One line per op, arguments in PyTorch's order; defaults are filled in by src/tensor/.
#include "common.h"

namespace lmedit {

static bool isTensor(const Args& a, size_t i) { return i < a.info.Length() && a.info[i].IsObject(); }

static c10::optional<at::Scalar> optScalar(const Args& a, size_t i) {
  if (!a.has(i)) return c10::nullopt;
  return a.scalar(i);
}

// Optional dimension lists: undefined/null means "all dims".
struct Dims {
  c10::optional<std::vector<int64_t>> v;
  Dims(const Args& a, size_t i) {
    if (a.has(i)) v = a.ints(i);
  }
  at::OptionalIntArrayRef ref() const { return v ? at::OptionalIntArrayRef(*v) : c10::nullopt; }
};

static c10::List<c10::optional<at::Tensor>> indexList(const Args& a, size_t i) {
  if (!a.info[i].IsArray()) throw Napi::TypeError::New(a.env(), "index: expected an array of tensors or nulls");
  Napi::Array arr = a.info[i].As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> out;
  bool anyTensor = false;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (v.IsNull() || v.IsUndefined()) {
      out.push_back(c10::nullopt);
    } else {
      if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(TensorHandle::constructor->Value()))
        throw Napi::TypeError::New(a.env(), "index: expected an array of tensors or nulls");
      out.push_back(TensorHandle::Unwrap(v.As<Napi::Object>())->tensor(a.env()));
      anyTensor = true;
    }
  }
  // libtorch fails an internal assert ("please report a bug") on an index list without any tensor.
  if (!anyTensor) throw Napi::Error::New(a.env(), "index: expected at least one index tensor (null keeps a dim whole)");
  return out;
}

// Binary op taking a tensor or a scalar as the second operand.
#define BINARY(name, fn)                                                   \
  DEF(name, {                                                              \
    if (isTensor(a, 1)) return a.ret(at::fn(a.t(0), a.t(1)));              \
    return a.ret(at::fn(a.t(0), a.scalar(1)));                             \
  })
#define BINARY_(name, method)                                              \
  DEF(name, {                                                              \
    if (isTensor(a, 1)) a.t(0).method(a.t(1));                             \
    else a.t(0).method(a.scalar(1));                                       \
    return a.undef();                                                      \
  })

static void registerElementwise(Napi::Env env, Napi::Object exports) {
  DEF("add", {
    if (isTensor(a, 1)) return a.ret(at::add(a.t(0), a.t(1), a.scalar(2)));
    return a.ret(at::add(a.t(0), a.scalar(1), a.scalar(2)));
  });
  DEF("sub", {
    if (isTensor(a, 1)) return a.ret(at::sub(a.t(0), a.t(1), a.scalar(2)));
    return a.ret(at::sub(a.t(0), a.scalar(1), a.scalar(2)));
  });
  BINARY("mul", mul);
  BINARY("div", div);
  BINARY("pow", pow);
  BINARY("remainder", remainder);
  BINARY("eq", eq);
  BINARY("ne", ne);
  BINARY("lt", lt);
  BINARY("le", le);
  BINARY("gt", gt);
  BINARY("ge", ge);
  OP("rsub", at::rsub(a.t(0), a.scalar(1)));
  OP("rdiv", at::reciprocal(a.t(0)) * a.scalar(1));
  OP("rpow", at::pow(a.scalar(1), a.t(0)));
  OP("maximum", at::maximum(a.t(0), a.t(1)));
  OP("minimum", at::minimum(a.t(0), a.t(1)));
  OP("logicalAnd", at::logical_and(a.t(0), a.t(1)));
  OP("logicalOr", at::logical_or(a.t(0), a.t(1)));
  OP("logicalNot", at::logical_not(a.t(0)));
  OP("exp", at::exp(a.t(0)));
  OP("log", at::log(a.t(0)));
  OP("log1p", at::log1p(a.t(0)));
  OP("sqrt", at::sqrt(a.t(0)));
  OP("rsqrt", at::rsqrt(a.t(0)));
  OP("abs", at::abs(a.t(0)));
  OP("neg", at::neg(a.t(0)));
  OP("sign", at::sign(a.t(0)));
  OP("reciprocal", at::reciprocal(a.t(0)));
  OP("square", at::square(a.t(0)));
  OP("sin", at::sin(a.t(0)));
  OP("cos", at::cos(a.t(0)));
  OP("floor", at::floor(a.t(0)));
  OP("round", at::round(a.t(0)));
  OP("erf", at::erf(a.t(0)));
  OP("isnan", at::isnan(a.t(0)));
  OP("isfinite", at::isfinite(a.t(0)));
  OP("clamp", at::clamp(a.t(0), optScalar(a, 1), optScalar(a, 2)));
  OP("tanh", at::tanh(a.t(0)));
  OP("sigmoid", at::sigmoid(a.t(0)));
  OP("relu", at::relu(a.t(0)));
  OP("gelu", at::gelu(a.t(0), a.s(1)));
  OP("silu", at::silu(a.t(0)));
  OP("where", at::where(a.t(0), a.t(1), a.t(2)));
  OP("maskedFill", at::masked_fill(a.t(0), a.t(1), a.scalar(2)));
  OP("lerp", at::lerp(a.t(0), a.t(1), a.scalar(2)));
  // in place (PyTorch's trailing underscore); return nothing, the JS side returns `this`
  DEF("add_", {
    if (isTensor(a, 1)) a.t(0).add_(a.t(1), a.scalar(2));
    else a.t(0).add_(a.scalar(1), a.scalar(2));
    return a.undef();
  });
  DEF("sub_", {
    if (isTensor(a, 1)) a.t(0).sub_(a.t(1), a.scalar(2));
    else a.t(0).sub_(a.scalar(1), a.scalar(2));
    return a.undef();
  });
  BINARY_("mul_", mul_);
  BINARY_("div_", div_);
  DEF("addcmul_", a.t(0).addcmul_(a.t(1), a.t(2), a.scalar(3)); return a.undef(););
  DEF("addcdiv_", a.t(0).addcdiv_(a.t(1), a.t(2), a.scalar(3)); return a.undef(););
  DEF("copy_", a.t(0).copy_(a.t(1)); return a.undef(););
  DEF("zero_", a.t(0).zero_(); return a.undef(););
  DEF("fill_", a.t(0).fill_(a.scalar(1)); return a.undef(););
  DEF("clamp_", a.t(0).clamp_(optScalar(a, 1), optScalar(a, 2)); return a.undef(););
  DEF("sqrt_", a.t(0).sqrt_(); return a.undef(););
  DEF("maskedFill_", a.t(0).masked_fill_(a.t(1), a.scalar(2)); return a.undef(););
  DEF("indexPut_", a.t(0).index_put_(indexList(a, 1), a.t(2), a.b(3)); return a.undef(););
}

static void registerReductions(Napi::Env env, Napi::Object exports) {
  DEF("sum", {
    Dims d(a, 1);
    if (!d.v) return a.ret(at::sum(a.t(0), a.optDtype(3)));
    return a.ret(at::sum(a.t(0), d.ref(), a.b(2), a.optDtype(3)));
  });
  DEF("mean", {
    Dims d(a, 1);
    if (!d.v) return a.ret(at::mean(a.t(0), a.optDtype(3)));
    return a.ret(at::mean(a.t(0), d.ref(), a.b(2), a.optDtype(3)));
  });
  OP("maxAll", at::max(a.t(0)));
  OP("minAll", at::min(a.t(0)));
  OP("maxDim", at::max(a.t(0), a.i64(1), a.b(2)));
  OP("minDim", at::min(a.t(0), a.i64(1), a.b(2)));
  OP("argmax", at::argmax(a.t(0), a.optInt(1), a.b(2)));
  OP("argmin", at::argmin(a.t(0), a.optInt(1), a.b(2)));
  OP("logsumexp", at::logsumexp(a.t(0), a.ints(1), a.b(2)));
  DEF("var", Dims d(a, 1); return a.ret(at::var(a.t(0), d.ref(), a.optInt(2), a.b(3))););
  DEF("std", Dims d(a, 1); return a.ret(at::std(a.t(0), d.ref(), a.optInt(2), a.b(3))););
  DEF("norm", Dims d(a, 2); return a.ret(at::linalg_vector_norm(a.t(0), a.scalar(1), d.ref(), a.b(3))););
  OP("cumsum", at::cumsum(a.t(0), a.i64(1), a.optDtype(2)));
  OP("topk", at::topk(a.t(0), a.i64(1), a.i64(2), a.b(3), a.b(4)));
  OP("sort", at::sort(a.t(0), a.b(3), a.i64(1), a.b(2)));
  OP("multinomial", at::multinomial(a.t(0), a.i64(1), a.b(2), a.generator(3)));
  OP("allclose", at::allclose(a.t(0), a.t(1), a.d(2), a.d(3)));
  OP("equal", at::equal(a.t(0), a.t(1)));
}

static void registerShape(Napi::Env env, Napi::Object exports) {
  OP("reshape", at::reshape(a.t(0), a.ints(1)));
  OP("view", a.t(0).view(a.ints(1)));
  OP("transpose", at::transpose(a.t(0), a.i64(1), a.i64(2)));
  OP("permute", at::permute(a.t(0), a.ints(1)));
  OP("contiguous", a.t(0).contiguous());
  OP("squeeze", a.has(1) ? at::squeeze(a.t(0), a.i64(1)) : at::squeeze(a.t(0)));
  OP("unsqueeze", at::unsqueeze(a.t(0), a.i64(1)));
  OP("expand", a.t(0).expand(a.ints(1)));
  OP("broadcastTo", at::broadcast_to(a.t(0), a.ints(1)));
  OP("flatten", at::flatten(a.t(0), a.i64(1), a.i64(2)));
  OP("narrow", at::narrow(a.t(0), a.i64(1), a.i64(2), a.i64(3)));
  OP("slice", at::slice(a.t(0), a.i64(1), a.optInt(2), a.optInt(3), a.i64(4)));
  OP("select", at::select(a.t(0), a.i64(1), a.i64(2)));
  OP("index", at::index(a.t(0), indexList(a, 1)));
  OP("indexPut", at::index_put(a.t(0), indexList(a, 1), a.t(2), a.b(3)));
  OP("indexSelect", at::index_select(a.t(0), a.i64(1), a.t(2)));
  OP("gather", at::gather(a.t(0), a.i64(1), a.t(2)));
  DEF("scatter", {
    if (isTensor(a, 3)) return a.ret(at::scatter(a.t(0), a.i64(1), a.t(2), a.t(3)));
    return a.ret(at::scatter(a.t(0), a.i64(1), a.t(2), a.scalar(3)));
  });
  OP("scatterAdd", at::scatter_add(a.t(0), a.i64(1), a.t(2), a.t(3)));
  OP("indexAdd", at::index_add(a.t(0), a.i64(1), a.t(2), a.t(3), a.scalar(4)));
  DEF("indexAdd_", a.t(0).index_add_(a.i64(1), a.t(2), a.t(3), a.scalar(4)); return a.undef(););
  OP("cat", at::cat(a.tensors(0), a.i64(1)));
  OP("stack", at::stack(a.tensors(0), a.i64(1)));
  DEF("split", {
    if (a.info[1].IsArray()) return a.ret(at::split_with_sizes(a.t(0), a.ints(1), a.i64(2)));
    return a.ret(at::split(a.t(0), a.i64(1), a.i64(2)));
  });
  OP("chunk", at::chunk(a.t(0), a.i64(1), a.i64(2)));
  OP("triu", at::triu(a.t(0), a.i64(1)));
  OP("tril", at::tril(a.t(0), a.i64(1)));
  OP("flip", at::flip(a.t(0), a.ints(1)));
  OP("roll", at::roll(a.t(0), a.ints(1), a.ints(2)));
  OP("repeat", a.t(0).repeat(a.ints(1)));
  OP("repeatInterleave", at::repeat_interleave(a.t(0), a.i64(1), a.optInt(2)));
  OP("nonzero", at::nonzero(a.t(0)));
  OP("to", a.t(0).to(a.device(2), a.has(1) ? a.dtype(1) : a.t(0).scalar_type(), false, a.b(3)));
  OP("clone", a.t(0).clone());
  OP("detach", a.t(0).detach());
}

static void registerNN(Napi::Env env, Napi::Object exports) {
  OP("matmul", at::matmul(a.t(0), a.t(1)));
  OP("mm", at::mm(a.t(0), a.t(1)));
  OP("bmm", at::bmm(a.t(0), a.t(1)));
  OP("linear", at::linear(a.t(0), a.t(1), a.optT(2)));
  OP("addmm", at::addmm(a.t(0), a.t(1), a.t(2), a.scalar(3), a.scalar(4)));
  OP("outer", at::outer(a.t(0), a.t(1)));
  OP("dot", at::dot(a.t(0), a.t(1)));
  OP("softmax", at::softmax(a.t(0), a.i64(1), a.optDtype(2)));
  OP("logSoftmax", at::log_softmax(a.t(0), a.i64(1), a.optDtype(2)));
  OP("layerNorm", at::layer_norm(a.t(0), a.ints(1), a.optT(2), a.optT(3), a.d(4)));
  OP("embedding", at::embedding(a.t(0), a.t(1)));
  OP("dropout", at::dropout(a.t(0), a.d(1), a.b(2)));
  OP("oneHot", at::one_hot(a.t(0), a.i64(1)));
  // losses; reduction: 0 none, 1 mean, 2 sum (at::Reduction)
  OP("crossEntropy", at::cross_entropy_loss(a.t(0), a.t(1), a.optT(4), a.i64(2), a.i64(3), a.has(5) ? a.d(5) : 0.0));
  OP("nllLoss", at::nll_loss(a.t(0), a.t(1), a.optT(4), a.i64(2), a.i64(3)));
  OP("klDiv", at::kl_div(a.t(0), a.t(1), a.i64(2), a.b(3)));
  OP("mseLoss", at::mse_loss(a.t(0), a.t(1), a.i64(2)));
}

void RegisterOps(Napi::Env env, Napi::Object exports) {
  registerElementwise(env, exports);
  registerReductions(env, exports);
  registerShape(env, exports);
  registerNN(env, exports);
}

}  // namespace lmedit
