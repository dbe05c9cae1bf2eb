// Module entry, tensor handles, argument readers, creation and conversion functions.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace lmedit {

std::atomic<int64_t> Counters::liveTensors{0};
std::atomic<int64_t> Counters::liveBytes{0};
std::atomic<int64_t> Counters::allocatedBytes{0};
std::atomic<int64_t> Counters::peakAllocatedBytes{0};
Napi::FunctionReference* TensorHandle::constructor = nullptr;

// ---------------------------------------------------------------------------------------------------------------
// Zero-copy views of JS ArrayBuffers keep a JS reference alive. libtorch may drop the last reference to such a
// tensor on another thread (autograd), where N-API must not be called; those releases are deferred to the next
// call on the main thread.
static std::thread::id mainThread;
static std::mutex deferredMutex;
static std::vector<Napi::Reference<Napi::Value>*> deferred;

void drainDeferredReleases() {
  std::vector<Napi::Reference<Napi::Value>*> todo;
  {
    std::lock_guard<std::mutex> lock(deferredMutex);
    if (deferred.empty()) return;
    todo.swap(deferred);
  }
  for (auto* r : todo) delete r;
}

static void releaseJsReference(Napi::Reference<Napi::Value>* ref) {
  if (std::this_thread::get_id() == mainThread) {
    delete ref;
  } else {
    std::lock_guard<std::mutex> lock(deferredMutex);
    deferred.push_back(ref);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CPU allocator. libtorch's default takes tensor memory from glibc's posix_memalign, which over-allocates by the
// alignment and hands the excess back, so a freed tensor block is slightly too small for the next request of the
// same size. With Node's small long-lived allocations landing between the blocks, the heap grew by every freed
// intermediate (RSS +5 GB over a 2,000-step tidy() loop of 256x256 tensors, test/tensor/memory.test.ts).
// malloc(n + 64), aligned by hand, lets a freed block serve the next request of its size; the 64-byte alignment
// libtorch's kernels expect is kept, and the block's start and size are stored just before the data (malloc's
// 16-byte alignment leaves at least two words there) for free() and the allocated-bytes counters.
struct ReusableCpuAllocator final : at::Allocator {
  static constexpr uintptr_t kAlignment = 64;
  static void release(void* data) {
    if (data == nullptr) return;
    Counters::allocatedBytes -= static_cast<int64_t>(reinterpret_cast<uintptr_t>(static_cast<void**>(data)[-2]));
    std::free(static_cast<void**>(data)[-1]);
  }
  at::DataPtr allocate(size_t nbytes) const override {
    if (nbytes == 0) return {nullptr, nullptr, &release, at::Device(at::kCPU)};
    void* base = nbytes <= SIZE_MAX - kAlignment ? std::malloc(nbytes + kAlignment) : nullptr;
    TORCH_CHECK(base != nullptr, "CPU allocator: can't allocate memory: you tried to allocate ", nbytes, " bytes");
    void* data = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(base) + kAlignment) & ~(kAlignment - 1));
    static_cast<void**>(data)[-1] = base;
    static_cast<void**>(data)[-2] = reinterpret_cast<void*>(static_cast<uintptr_t>(nbytes));
    const int64_t now = Counters::allocatedBytes += static_cast<int64_t>(nbytes);
    int64_t peak = Counters::peakAllocatedBytes.load();
    while (now > peak && !Counters::peakAllocatedBytes.compare_exchange_weak(peak, now)) {
    }
    return {data, data, &release, at::Device(at::kCPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &release; }
};
static ReusableCpuAllocator cpuAllocator;

// ---------------------------------------------------------------------------------------------------------------
// TensorHandle

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function fn = DefineClass(env, "TensorHandle",
                                  {InstanceMethod("dispose", &TensorHandle::Dispose),
                                   InstanceMethod("isDisposed", &TensorHandle::IsDisposed)});
  constructor = new Napi::FunctionReference(Napi::Persistent(fn));
  exports.Set("TensorHandle", fn);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info), env_(info.Env()) {}

TensorHandle::~TensorHandle() { release(); }

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) throw Napi::Error::New(env, "internal: libtorch returned an undefined tensor");
  Napi::Object obj = constructor->New({});
  TensorHandle* h = Unwrap(obj);
  h->reportedBytes_ = static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
  h->tensor_ = std::move(t);
  Counters::liveTensors++;
  Counters::liveBytes += h->reportedBytes_;
  Napi::MemoryManagement::AdjustExternalMemory(env, h->reportedBytes_);
  return obj;
}

void TensorHandle::release() {
  if (!tensor_.defined()) return;
  tensor_ = at::Tensor();
  Counters::liveTensors--;
  Counters::liveBytes -= reportedBytes_;
  if (env_ != nullptr && reportedBytes_ != 0) napi_adjust_external_memory(env_, -reportedBytes_, nullptr);
  reportedBytes_ = 0;
}

at::Tensor& TensorHandle::tensor(Napi::Env env) {
  if (!tensor_.defined())
    throw Napi::Error::New(env, "tensor was disposed: it was freed by dispose() or by the end of a tidy() scope");
  return tensor_;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed());
}

// ---------------------------------------------------------------------------------------------------------------
// Args

static Napi::Error argError(Napi::Env env, size_t i, const char* what) {
  return Napi::TypeError::New(env, std::string("argument ") + std::to_string(i) + ": expected " + what);
}

at::Tensor& Args::t(size_t i) const {
  if (i >= info.Length() || !info[i].IsObject()) throw argError(env(), i, "a tensor");
  Napi::Object o = info[i].As<Napi::Object>();
  if (!o.InstanceOf(TensorHandle::constructor->Value())) throw argError(env(), i, "a tensor handle");
  return TensorHandle::Unwrap(o)->tensor(env());
}

c10::optional<at::Tensor> Args::optT(size_t i) const {
  if (!has(i)) return c10::nullopt;
  return t(i);
}

std::vector<at::Tensor> Args::tensors(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) throw argError(env(), i, "an array of tensors");
  Napi::Array arr = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(TensorHandle::constructor->Value()))
      throw argError(env(), i, "an array of tensors");
    out.push_back(TensorHandle::Unwrap(v.As<Napi::Object>())->tensor(env()));
  }
  return out;
}

double Args::d(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) throw argError(env(), i, "a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

int64_t Args::i64(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) throw argError(env(), i, "an integer");
  return info[i].As<Napi::Number>().Int64Value();
}

bool Args::b(size_t i) const {
  if (i >= info.Length() || !info[i].IsBoolean()) throw argError(env(), i, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string Args::s(size_t i) const {
  if (i >= info.Length() || !info[i].IsString()) throw argError(env(), i, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> Args::ints(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) throw argError(env(), i, "an array of integers");
  Napi::Array arr = info[i].As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsNumber()) throw argError(env(), i, "an array of integers");
    out[k] = v.As<Napi::Number>().Int64Value();
  }
  return out;
}

c10::optional<int64_t> Args::optInt(size_t i) const {
  if (!has(i)) return c10::nullopt;
  return i64(i);
}

c10::optional<double> Args::optD(size_t i) const {
  if (!has(i)) return c10::nullopt;
  return d(i);
}

// Integral JS numbers become integer scalars so that int tensors are not promoted to float by `x + 1`.
at::Scalar Args::scalar(size_t i) const {
  if (i < info.Length() && info[i].IsBoolean()) return at::Scalar(b(i));
  double v = d(i);
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

at::ScalarType parseDtype(Napi::Env env, const std::string& n) {
  if (n == "float32") return at::kFloat;
  if (n == "float64") return at::kDouble;
  if (n == "float16") return at::kHalf;
  if (n == "bfloat16") return at::kBFloat16;
  if (n == "int64") return at::kLong;
  if (n == "int32") return at::kInt;
  if (n == "int16") return at::kShort;
  if (n == "int8") return at::kChar;
  if (n == "uint8") return at::kByte;
  if (n == "bool") return at::kBool;
  throw Napi::TypeError::New(env, "unknown dtype '" + n + "'");
}

const char* dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "unsupported";
  }
}

at::ScalarType Args::dtype(size_t i) const { return parseDtype(env(), s(i)); }

c10::optional<at::ScalarType> Args::optDtype(size_t i) const {
  if (!has(i)) return c10::nullopt;
  return dtype(i);
}

at::Device Args::device(size_t i) const {
  if (!has(i)) return at::Device(at::kCPU);
  return at::Device(s(i));
}

at::TensorOptions Args::options(size_t dtypeIdx, size_t deviceIdx) const {
  at::TensorOptions o = at::TensorOptions().dtype(has(dtypeIdx) ? dtype(dtypeIdx) : at::kFloat);
  return o.device(device(deviceIdx));
}

c10::optional<at::Generator> Args::generator(size_t i) const {
  if (!has(i)) return c10::nullopt;
  if (!info[i].IsExternal()) throw argError(env(), i, "a generator");
  return *info[i].As<Napi::External<at::Generator>>().Data();
}

Napi::Value Args::ret(const std::vector<at::Tensor>& ts) const {
  Napi::Array arr = Napi::Array::New(env(), ts.size());
  for (size_t k = 0; k < ts.size(); k++) arr.Set(static_cast<uint32_t>(k), TensorHandle::Wrap(env(), ts[k]));
  return arr;
}

// ---------------------------------------------------------------------------------------------------------------
// Creation, conversion, introspection

static size_t byteSize(const at::Tensor& t) { return static_cast<size_t>(t.numel()) * t.element_size(); }

// Copies a contiguous CPU version of `t` into a fresh ArrayBuffer.
static Napi::Value copyToArrayBuffer(const Args& a, const at::Tensor& src) {
  at::Tensor t = src.detach().to(at::kCPU).contiguous();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(a.env(), byteSize(t));
  if (byteSize(t) > 0) std::memcpy(buf.Data(), t.data_ptr(), byteSize(t));
  return buf;
}

// A view of the tensor's own bytes (no copy) when it is a contiguous CPU tensor; the ArrayBuffer keeps it alive.
static Napi::Value viewAsArrayBuffer(const Args& a, const at::Tensor& src) {
  at::Tensor t = src.detach();
  if (!t.device().is_cpu() || !t.is_contiguous() || byteSize(t) == 0) return copyToArrayBuffer(a, t);
  auto* keep = new at::Tensor(t);
  return Napi::ArrayBuffer::New(a.env(), keep->data_ptr(), byteSize(*keep),
                                [](Napi::Env, void*, at::Tensor* k) { delete k; }, keep);
}

// Builds a tensor from the bytes of an ArrayBuffer / typed array. copy=false shares the memory (CPU only).
static at::Tensor fromBytes(const Args& a) {
  Napi::Value v = a.info[0];
  uint8_t* data = nullptr;
  size_t len = 0;
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    data = static_cast<uint8_t*>(ab.Data());
    len = ab.ByteLength();
  } else if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    len = ta.ByteLength();
  } else {
    throw Napi::TypeError::New(a.env(), "fromBytes: expected an ArrayBuffer, typed array or Buffer");
  }
  at::ScalarType dt = a.dtype(1);
  std::vector<int64_t> shape = a.ints(2);
  bool copy = a.b(3);
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  size_t need = static_cast<size_t>(numel) * c10::elementSize(dt);
  if (need != len)
    throw Napi::Error::New(a.env(), "fromBytes: " + std::to_string(len) + " bytes given but shape and dtype " +
                                        dtypeName(dt) + " need " + std::to_string(need));
  if (copy || len == 0) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
    if (len > 0) std::memcpy(t.data_ptr(), data, len);
    return t;
  }
  auto* ref = new Napi::Reference<Napi::Value>(Napi::Persistent(v));
  return at::from_blob(data, shape, [ref](void*) { releaseJsReference(ref); }, at::TensorOptions().dtype(dt));
}

// Reads `nbytes` at `offset` of a file straight into a new tensor (one copy of the weights in memory).
static at::Tensor fromFile(const Args& a) {
  std::string path = a.s(0);
  int64_t offset = a.i64(1);
  at::ScalarType dt = a.dtype(2);
  std::vector<int64_t> shape = a.ints(3);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
  size_t need = byteSize(t);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(a.env(), "cannot open " + path + ": " + std::strerror(errno));
  size_t done = 0;
  auto* dst = static_cast<char*>(t.data_ptr());
  while (done < need) {
    ssize_t n = ::pread(fd, dst + done, need - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      throw Napi::Error::New(a.env(), "short read in " + path + " at byte " + std::to_string(offset + done) +
                                          (n == 0 ? ": file is truncated" : std::string(": ") + std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return t;
}

static Napi::Value shapeOf(const Args& a) {
  at::Tensor& t = a.t(0);
  Napi::Array arr = Napi::Array::New(a.env(), t.dim());
  for (int64_t k = 0; k < t.dim(); k++) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(a.env(), t.size(k)));
  return arr;
}

static Napi::Value makeGenerator(const Args& a) {
  auto* g = new at::Generator(at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.i64(0))));
  return Napi::External<at::Generator>::New(a.env(), g, [](Napi::Env, at::Generator* p) { delete p; });
}

void RegisterCore(Napi::Env env, Napi::Object exports) {
  // creation
  OP("empty", at::empty(a.ints(0), a.options(1, 2)));
  OP("zeros", at::zeros(a.ints(0), a.options(1, 2)));
  OP("ones", at::ones(a.ints(0), a.options(1, 2)));
  OP("full", at::full(a.ints(0), a.scalar(1), a.options(2, 3)));
  OP("arange", at::arange(a.scalar(0), a.scalar(1), a.scalar(2), a.options(3, 4)));
  OP("linspace", at::linspace(a.scalar(0), a.scalar(1), a.i64(2), a.options(3, 4)));
  OP("eye", at::eye(a.i64(0), a.i64(1), a.options(2, 3)));
  OP("randn", at::randn(a.ints(0), a.generator(3), a.options(1, 2)));
  OP("rand", at::rand(a.ints(0), a.generator(3), a.options(1, 2)));
  OP("randint", at::randint(a.i64(0), a.i64(1), a.ints(2), a.generator(5), a.options(3, 4)));
  OP("fromBytes", fromBytes(a));
  OP("fromFile", fromFile(a));
  DEF("manualSeed", at::manual_seed(static_cast<uint64_t>(a.i64(0))); return a.undef(););
  DEF("makeGenerator", return makeGenerator(a););
  // conversion
  DEF("toArrayBuffer", return copyToArrayBuffer(a, a.t(0)););
  DEF("viewArrayBuffer", return viewAsArrayBuffer(a, a.t(0)););
  DEF("item", {
    at::Tensor& t = a.t(0);
    if (t.numel() != 1)
      throw Napi::Error::New(a.env(), "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
    at::Scalar s = t.item();
    if (s.isBoolean()) return a.ret(s.toBool());
    return a.ret(s.toDouble());
  });
  // introspection
  DEF("shape", return shapeOf(a););
  DEF("dtype", return a.ret(std::string(dtypeName(a.t(0).scalar_type()))););
  DEF("device", return a.ret(a.t(0).device().str()););
  DEF("numel", return a.ret(static_cast<double>(a.t(0).numel())););
  DEF("isContiguous", return a.ret(a.t(0).is_contiguous()););
  DEF("strides", {
    auto st = a.t(0).strides();
    Napi::Array arr = Napi::Array::New(a.env(), st.size());
    for (size_t k = 0; k < st.size(); k++) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(a.env(), st[k]));
    return arr;
  });
  DEF("dataPtr", return a.ret(static_cast<double>(reinterpret_cast<uintptr_t>(a.t(0).data_ptr()))););
  DEF("format", {
    std::ostringstream os;
    os << a.t(0);
    return a.ret(os.str());
  });
  // runtime
  DEF("memory", {
    Napi::Object o = Napi::Object::New(a.env());
    o.Set("tensors", Napi::Number::New(a.env(), static_cast<double>(Counters::liveTensors.load())));
    o.Set("bytes", Napi::Number::New(a.env(), static_cast<double>(Counters::liveBytes.load())));
    o.Set("allocatedBytes", Napi::Number::New(a.env(), static_cast<double>(Counters::allocatedBytes.load())));
    o.Set("peakAllocatedBytes", Napi::Number::New(a.env(), static_cast<double>(Counters::peakAllocatedBytes.load())));
    return o;
  });
  DEF("resetPeakMemory", Counters::peakAllocatedBytes = Counters::allocatedBytes.load(); return a.undef(););
  DEF("setNumThreads", at::set_num_threads(static_cast<int>(a.i64(0))); return a.undef(););
  DEF("getNumThreads", return a.ret(static_cast<double>(at::get_num_threads())););
  DEF("cudaIsAvailable", return a.ret(at::hasCUDA()););
  DEF("cudaDeviceCount", return a.ret(static_cast<double>(at::hasCUDA() ? at::getNumGPUs() : 0)););
  DEF("config", return a.ret(at::show_config()););
  DEF("parallelInfo", return a.ret(at::get_parallel_info()););
}

}  // namespace lmedit

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  lmedit::mainThread = std::this_thread::get_id();
  c10::SetCPUAllocator(&lmedit::cpuAllocator, /*priority=*/1);
  lmedit::TensorHandle::Init(env, exports);
  lmedit::RegisterCore(env, exports);
  lmedit::RegisterOps(env, exports);
  lmedit::RegisterLinalgAutograd(env, exports);
  lmedit::RegisterBench(env, exports);
  return exports;
}

NODE_API_MODULE(lmedit_torch, InitModule)
