// Shared pieces of the libtorch binding: the tensor handle, argument readers and the error guard.
//
// The binding is deliberately flat and mechanical (see docs/backend.md): one exported function per op, arguments
// read positionally in PyTorch's order, every libtorch error turned into a JS Error. All logic (defaults, method
// chaining, memory scopes) lives in src/tensor/.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <string>
#include <vector>

namespace lmedit {

// Live-tensor accounting across all handles (what `memory()` reports).
struct Counters {
  static std::atomic<int64_t> liveTensors;
  static std::atomic<int64_t> liveBytes;
  // CPU tensor storage held by libtorch (all tensors, including autograd's saved ones and op intermediates), and its
  // high-water mark since the last resetPeakMemory().
  static std::atomic<int64_t> allocatedBytes;
  static std::atomic<int64_t> peakAllocatedBytes;
};

// A JS object that owns one at::Tensor. dispose() frees it at once; otherwise the GC finalizer does.
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::FunctionReference* constructor;
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  at::Tensor& tensor(Napi::Env env);
  void release();
  bool disposed() const { return !tensor_.defined(); }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  at::Tensor tensor_;
  int64_t reportedBytes_ = 0;
  napi_env env_ = nullptr;
};

// Positional argument reader bound to one call.
struct Args {
  const Napi::CallbackInfo& info;
  explicit Args(const Napi::CallbackInfo& i) : info(i) {}
  Napi::Env env() const { return info.Env(); }
  bool has(size_t i) const { return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull(); }

  at::Tensor& t(size_t i) const;
  c10::optional<at::Tensor> optT(size_t i) const;
  std::vector<at::Tensor> tensors(size_t i) const;
  double d(size_t i) const;
  int64_t i64(size_t i) const;
  bool b(size_t i) const;
  std::string s(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  c10::optional<int64_t> optInt(size_t i) const;
  c10::optional<double> optD(size_t i) const;
  at::Scalar scalar(size_t i) const;
  at::ScalarType dtype(size_t i) const;
  c10::optional<at::ScalarType> optDtype(size_t i) const;
  at::Device device(size_t i) const;
  at::TensorOptions options(size_t dtypeIdx, size_t deviceIdx) const;
  c10::optional<at::Generator> generator(size_t i) const;

  Napi::Value ret(at::Tensor t) const { return TensorHandle::Wrap(env(), std::move(t)); }
  Napi::Value ret(const std::vector<at::Tensor>& ts) const;
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor>& ts) const {
    return ret(std::vector<at::Tensor>{std::get<0>(ts), std::get<1>(ts)});
  }
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor, at::Tensor>& ts) const {
    return ret(std::vector<at::Tensor>{std::get<0>(ts), std::get<1>(ts), std::get<2>(ts)});
  }
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>& ts) const {
    return ret(std::vector<at::Tensor>{std::get<0>(ts), std::get<1>(ts), std::get<2>(ts), std::get<3>(ts)});
  }
  Napi::Value ret(double v) const { return Napi::Number::New(env(), v); }
  Napi::Value ret(bool v) const { return Napi::Boolean::New(env(), v); }
  Napi::Value ret(const std::string& v) const { return Napi::String::New(env(), v); }
  Napi::Value undef() const { return env().Undefined(); }
};

const char* dtypeName(at::ScalarType t);
at::ScalarType parseDtype(Napi::Env env, const std::string& name);
void drainDeferredReleases();

// Runs `body` and turns every C++/libtorch exception into a JS Error carrying libtorch's message.
template <class F>
Napi::Value guard(const Napi::CallbackInfo& info, F&& body) {
  drainDeferredReleases();
  try {
    return body(Args(info));
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "out of memory: libtorch could not allocate the requested tensor");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// DEF registers a function whose body reads arguments from `a` and returns a Napi::Value.
#define DEF(name, ...)                                                                          \
  exports.Set(name, Napi::Function::New(                                                        \
                        env,                                                                    \
                        [](const Napi::CallbackInfo& info) -> Napi::Value {                      \
                          return guard(info, [&](const Args& a) -> Napi::Value { __VA_ARGS__ }); \
                        },                                                                      \
                        name))
// OP registers a function returning a.ret(expression).
#define OP(name, ...) DEF(name, return a.ret(__VA_ARGS__);)

void RegisterCore(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterLinalgAutograd(Napi::Env env, Napi::Object exports);
void RegisterBench(Napi::Env env, Napi::Object exports);

}  // namespace lmedit
