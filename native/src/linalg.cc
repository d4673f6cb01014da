// amalgam_linalg: N-API bindings over OpenBLAS (CBLAS) and LAPACKE for the engine's dense linear
// algebra. Row-major throughout. Inputs are read straight from the caller's typed arrays (no copy
// on the way in, except where LAPACK destroys its input and we must not); results go into new
// typed arrays allocated on the JS thread before the computation starts.
//
// Every operation exists in two forms: `op(...)` runs on the calling thread and returns the
// result; `opAsync(...)` runs the same job on the libuv pool (Napi::AsyncWorker) and returns a
// Promise, so a long eigendecomposition does not stall the engine's event loop. The caller must
// not modify the input arrays until the promise settles (they are referenced, not copied).
#include <napi.h>
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// OpenBLAS's own threads parallelise each call; concurrent calls from several pool threads would
// oversubscribe the cores (and older OpenBLAS builds are not reentrant), so calls are serialised.
std::mutex g_blas_mutex;

struct JobError : std::runtime_error { using std::runtime_error::runtime_error; };

// A unit of work: prepared on the JS thread (argument checks, output allocation), run anywhere.
class Job {
 public:
  virtual ~Job() = default;
  virtual void Run() = 0;  // no N-API calls allowed here
  Napi::Value Result(Napi::Env env) { return result_.Value(); }
  void KeepAlive(Napi::Value v) { keep_.push_back(Napi::Persistent(v)); }

 protected:
  void SetResult(Napi::Value v) { result_ = Napi::Persistent(v); }
  Napi::Reference<Napi::Value> result_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
};

class AsyncJob : public Napi::AsyncWorker {
 public:
  AsyncJob(Napi::Env env, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, "amalgam_linalg"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try { job_->Run(); } catch (const std::exception& e) { SetError(e.what()); }
  }
  void OnOK() override { deferred_.Resolve(job_->Result(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
};

// ---------------------------------------------------------------------------------------------
// argument helpers

size_t Dim(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v != std::floor(v) || v > 2147483647.0) throw Napi::RangeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " must be a non-negative 32-bit integer");
  return static_cast<size_t>(v);
}

template <typename T, napi_typedarray_type Kind>
T* Array(const Napi::CallbackInfo& info, size_t i, const char* name, size_t need) {
  const char* type = Kind == napi_float32_array ? "Float32Array" : "Float64Array";
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Kind) {
    throw Napi::TypeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " must be a " + type);
  }
  auto arr = info[i].As<Napi::TypedArrayOf<T>>();
  if (arr.ElementLength() < need) {
    throw Napi::RangeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " has " + std::to_string(arr.ElementLength()) + " elements, needs " + std::to_string(need));
  }
  return arr.Data();
}

template <typename T>
Napi::TypedArrayOf<T> NewArray(Napi::Env env, size_t n) { return Napi::TypedArrayOf<T>::New(env, n); }

void Check(lapack_int info, const char* what) {
  if (info < 0) throw JobError(std::string(what) + ": illegal argument #" + std::to_string(-info));
  if (info > 0) throw JobError(std::string(what) + " did not converge (info = " + std::to_string(info) + ")");
}

// ---------------------------------------------------------------------------------------------
// gemm: C = op(A)·op(B), op(A) m×k, op(B) k×n

template <typename T>
class GemmJob : public Job {
 public:
  GemmJob(const Napi::CallbackInfo& info) {
    constexpr auto kind = std::is_same<T, float>::value ? napi_float32_array : napi_float64_array;
    m_ = Dim(info, 2, "m"); n_ = Dim(info, 3, "n"); k_ = Dim(info, 4, "k");
    ta_ = info[5].ToBoolean(); tb_ = info[6].ToBoolean();
    a_ = Array<T, kind>(info, 0, "a", m_ * k_);
    b_ = Array<T, kind>(info, 1, "b", k_ * n_);
    KeepAlive(info[0]); KeepAlive(info[1]);
    auto c = NewArray<T>(info.Env(), m_ * n_);
    c_ = c.Data();
    SetResult(c);
  }
  void Run() override {
    if (m_ == 0 || n_ == 0) return;
    std::lock_guard<std::mutex> lock(g_blas_mutex);
    const auto ta = ta_ ? CblasTrans : CblasNoTrans, tb = tb_ ? CblasTrans : CblasNoTrans;
    const int lda = ta_ ? int(m_) : int(k_), ldb = tb_ ? int(k_) : int(n_);
    if (k_ == 0) { std::fill(c_, c_ + m_ * n_, T(0)); return; }
    if constexpr (std::is_same<T, float>::value) {
      cblas_sgemm(CblasRowMajor, ta, tb, int(m_), int(n_), int(k_), 1.0f, a_, lda, b_, ldb, 0.0f, c_, int(n_));
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, int(m_), int(n_), int(k_), 1.0, a_, lda, b_, ldb, 0.0, c_, int(n_));
    }
  }

 private:
  size_t m_, n_, k_; bool ta_, tb_;
  const T* a_; const T* b_; T* c_;
};

// ---------------------------------------------------------------------------------------------
// dsyevd: symmetric eigendecomposition (lower triangle), values ascending, vectors in columns

class SyevdJob : public Job {
 public:
  SyevdJob(const Napi::CallbackInfo& info) {
    n_ = Dim(info, 1, "n");
    a_ = Array<double, napi_float64_array>(info, 0, "a", n_ * n_);
    KeepAlive(info[0]);
    auto env = info.Env();
    auto values = NewArray<double>(env, n_), vectors = NewArray<double>(env, n_ * n_);
    w_ = values.Data(); z_ = vectors.Data();
    auto out = Napi::Object::New(env);
    out.Set("values", values); out.Set("vectors", vectors);
    SetResult(out);
  }
  void Run() override {
    if (n_ == 0) return;
    std::memcpy(z_, a_, n_ * n_ * sizeof(double));  // dsyevd overwrites its input with the vectors
    std::lock_guard<std::mutex> lock(g_blas_mutex);
    Check(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', lapack_int(n_), z_, lapack_int(n_), w_), "dsyevd");
  }

 private:
  size_t n_; const double* a_; double* w_; double* z_;
};

// ---------------------------------------------------------------------------------------------
// dgesdd: thin SVD, U m×r, S r, Vt r×n

class GesddJob : public Job {
 public:
  GesddJob(const Napi::CallbackInfo& info) {
    m_ = Dim(info, 1, "m"); n_ = Dim(info, 2, "n"); r_ = std::min(m_, n_);
    a_ = Array<double, napi_float64_array>(info, 0, "a", m_ * n_);
    KeepAlive(info[0]);
    auto env = info.Env();
    auto U = NewArray<double>(env, m_ * r_), S = NewArray<double>(env, r_), Vt = NewArray<double>(env, r_ * n_);
    u_ = U.Data(); s_ = S.Data(); vt_ = Vt.Data();
    auto out = Napi::Object::New(env);
    out.Set("U", U); out.Set("S", S); out.Set("Vt", Vt);
    SetResult(out);
  }
  void Run() override {
    if (r_ == 0) return;
    std::vector<double> work(a_, a_ + m_ * n_);  // gesdd destroys A; the caller's data stays intact
    std::lock_guard<std::mutex> lock(g_blas_mutex);
    Check(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', lapack_int(m_), lapack_int(n_), work.data(), lapack_int(n_), s_, u_,
                         lapack_int(r_), vt_, lapack_int(n_)), "dgesdd");
  }

 private:
  size_t m_, n_, r_; const double* a_; double* u_; double* s_; double* vt_;
};

// ---------------------------------------------------------------------------------------------
// Cholesky solve: dpotrf + dpotrs; resolves to null when A is not numerically positive definite

class CholSolveJob : public Job {
 public:
  CholSolveJob(const Napi::CallbackInfo& info) {
    n_ = Dim(info, 1, "n"); nrhs_ = Dim(info, 3, "nrhs");
    a_ = Array<double, napi_float64_array>(info, 0, "a", n_ * n_);
    b_ = Array<double, napi_float64_array>(info, 2, "b", n_ * nrhs_);
    KeepAlive(info[0]); KeepAlive(info[2]);
    auto x = NewArray<double>(info.Env(), n_ * nrhs_);
    xp_ = x.Data();
    SetResult(x);
  }
  void Run() override {
    std::vector<double> l(a_, a_ + n_ * n_);
    std::memcpy(xp_, b_, n_ * nrhs_ * sizeof(double));
    double maxDiag = 0;
    for (size_t i = 0; i < n_; i++) maxDiag = std::max(maxDiag, std::fabs(a_[i * n_ + i]));
    // same relative pivot floor as the TypeScript fallback (impl.ts cholPivotFloor)
    const double floor = double(n_) * std::numeric_limits<double>::epsilon() * maxDiag;
    std::lock_guard<std::mutex> lock(g_blas_mutex);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', lapack_int(n_), l.data(), lapack_int(n_));
    if (info < 0) throw JobError("dpotrf: illegal argument #" + std::to_string(-info));
    if (info > 0) { notPd_ = true; return; }
    for (size_t i = 0; i < n_; i++) {
      const double p = l[i * n_ + i] * l[i * n_ + i];
      if (!(p > floor)) { notPd_ = true; return; }
    }
    Check(LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', lapack_int(n_), lapack_int(nrhs_), l.data(), lapack_int(n_), xp_, lapack_int(nrhs_)), "dpotrs");
  }
  bool NotPd() const { return notPd_; }

 private:
  size_t n_, nrhs_; const double* a_; const double* b_;
  double* xp_;
  bool notPd_ = false;
};

// ---------------------------------------------------------------------------------------------
// QR: dgeqrf + dorgqr, thin Q m×r, R r×n

class QrJob : public Job {
 public:
  QrJob(const Napi::CallbackInfo& info) {
    m_ = Dim(info, 1, "m"); n_ = Dim(info, 2, "n"); r_ = std::min(m_, n_);
    a_ = Array<double, napi_float64_array>(info, 0, "a", m_ * n_);
    KeepAlive(info[0]);
    auto env = info.Env();
    auto Q = NewArray<double>(env, m_ * r_), R = NewArray<double>(env, r_ * n_);
    q_ = Q.Data(); rr_ = R.Data();
    auto out = Napi::Object::New(env);
    out.Set("Q", Q); out.Set("R", R);
    SetResult(out);
  }
  void Run() override {
    if (r_ == 0) return;
    std::vector<double> w(a_, a_ + m_ * n_), tau(r_);
    std::lock_guard<std::mutex> lock(g_blas_mutex);
    Check(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, lapack_int(m_), lapack_int(n_), w.data(), lapack_int(n_), tau.data()), "dgeqrf");
    for (size_t i = 0; i < r_; i++) {
      for (size_t j = 0; j < n_; j++) rr_[i * n_ + j] = j >= i ? w[i * n_ + j] : 0.0;
    }
    // the reflectors sit in the first r columns; orgqr forms Q there (leading dimension stays n)
    Check(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, lapack_int(m_), lapack_int(r_), lapack_int(r_), w.data(), lapack_int(n_), tau.data()), "dorgqr");
    for (size_t i = 0; i < m_; i++) std::memcpy(q_ + i * r_, w.data() + i * n_, r_ * sizeof(double));
  }

 private:
  size_t m_, n_, r_; const double* a_; double* q_; double* rr_;
};

// ---------------------------------------------------------------------------------------------

template <typename J>
Napi::Value RunSync(const Napi::CallbackInfo& info) {
  J job(info);
  try { job.Run(); } catch (const std::exception& e) { throw Napi::Error::New(info.Env(), std::string("amalgam_linalg: ") + e.what()); }
  if constexpr (std::is_same<J, CholSolveJob>::value) { if (job.NotPd()) return info.Env().Null(); }
  return job.Result(info.Env());
}

// CholSolve's "not PD → null" outcome needs its own async resolution
class CholAsync : public Napi::AsyncWorker {
 public:
  CholAsync(Napi::Env env, std::unique_ptr<CholSolveJob> job)
      : Napi::AsyncWorker(env, "amalgam_linalg"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { try { job_->Run(); } catch (const std::exception& e) { SetError(e.what()); } }
  void OnOK() override { deferred_.Resolve(job_->NotPd() ? Env().Null() : job_->Result(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::unique_ptr<CholSolveJob> job_;
  Napi::Promise::Deferred deferred_;
};

template <typename J>
Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<J>(info);
  if constexpr (std::is_same<J, CholSolveJob>::value) {
    auto* w = new CholAsync(info.Env(), std::move(job));
    auto p = w->Promise(); w->Queue(); return p;
  } else {
    auto* w = new AsyncJob(info.Env(), std::move(job));
    auto p = w->Promise(); w->Queue(); return p;
  }
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const size_t n = Dim(info, 0, "threads");
  if (n < 1) throw Napi::RangeError::New(info.Env(), "amalgam_linalg: threads must be ≥ 1");
  std::lock_guard<std::mutex> lock(g_blas_mutex);
  openblas_set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), openblas_get_num_threads()); }

Napi::Value BlasConfig(const Napi::CallbackInfo& info) {
  const char* c = openblas_get_config();
  return Napi::String::New(info.Env(), c ? c : "OpenBLAS");
}

// ---------------------------------------------------------------------------------------------
// Streaming kernels over float32 (memory-bound): the same per-element arithmetic as
// main/engine/kernels/core.mjs — sums in double, one rounding to float on store — so results
// are bit-identical to the JavaScript loops (built with -ffp-contract=off: no FMA contraction).
// Split across `threads` std::threads in contiguous ranges; runs synchronously.

// A Float32Array argument (a kernel's output or its input chunk), with a clear error otherwise.
Napi::Float32Array F32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " must be a Float32Array");
  }
  return info[i].As<Napi::Float32Array>();
}

// The array a kernel writes into and its length (which sets the length of the other arguments).
struct OutArray { float* data; size_t n; };
OutArray OutF32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  auto a = F32Arg(info, i, name);
  return {a.Data(), a.ElementLength()};
}

std::vector<const float*> F32List(const Napi::CallbackInfo& info, size_t i, const char* name, size_t n) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), std::string("amalgam_linalg: ") + name + " must be an array of Float32Array");
  auto arr = info[i].As<Napi::Array>();
  std::vector<const float*> out;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(info.Env(), std::string("amalgam_linalg: ") + name + "[" + std::to_string(k) + "] must be a Float32Array");
    }
    auto t = v.As<Napi::Float32Array>();
    if (t.ElementLength() != n) throw Napi::RangeError::New(info.Env(), std::string("amalgam_linalg: ") + name + "[" + std::to_string(k) + "] has " + std::to_string(t.ElementLength()) + " elements, out has " + std::to_string(n));
    out.push_back(t.Data());
  }
  return out;
}

template <typename F>
void Split(size_t n, size_t threads, F&& body) {
  threads = std::max<size_t>(1, std::min<size_t>(threads, n / 65536 + 1));
  if (threads == 1) { body(size_t(0), n); return; }
  const size_t per = ((n + threads - 1) / threads + 1023) / 1024 * 1024;
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; t++) {
    const size_t s = std::min(n, t * per), e = std::min(n, s + per);
    if (s < e) pool.emplace_back([&body, s, e] { body(s, e); });
  }
  body(0, std::min(n, per));
  for (auto& th : pool) th.join();
}

// Block loops of the streaming kernels, compiled twice (AVX2 and baseline x86-64) and picked at
// load time by the dynamic loader (GCC target_clones), so one binary uses 4-wide double vectors
// where the CPU has them. No "fma" target: results stay bit-identical to the JS loops.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define AMALGAM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AMALGAM_CLONES
#endif

AMALGAM_CLONES void BlockLoad(double* acc, const float* m, size_t len) { for (size_t j = 0; j < len; j++) acc[j] = double(m[j]); }
AMALGAM_CLONES void BlockAdd(double* acc, const float* m, size_t len) { for (size_t j = 0; j < len; j++) acc[j] += double(m[j]); }
AMALGAM_CLONES void BlockScaleLoad(double* acc, const float* m, double w, size_t len) { for (size_t j = 0; j < len; j++) acc[j] = w * double(m[j]); }
AMALGAM_CLONES void BlockScaleAdd(double* acc, const float* m, double w, size_t len) { for (size_t j = 0; j < len; j++) acc[j] += w * double(m[j]); }
AMALGAM_CLONES void BlockTaStore(float* o, const float* bb, const double* acc, double lambda, double kd, size_t len) {
  for (size_t j = 0; j < len; j++) { const double b = bb[j]; o[j] = float(b + lambda * (acc[j] - kd * b)); }
}
AMALGAM_CLONES void BlockStore(float* o, const double* acc, size_t len) { for (size_t j = 0; j < len; j++) o[j] = float(acc[j]); }

// out = base + lambda * (sum_i models_i - k * base)
Napi::Value StreamTaskArithmetic(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OutArray o = OutF32(info, 0, "out");
  float* out = o.data;
  const size_t n = o.n;
  const float* base = Array<float, napi_float32_array>(info, 1, "base", n);
  auto models = F32List(info, 2, "models", n);
  const double lambda = info[3].As<Napi::Number>().DoubleValue();
  const size_t threads = Dim(info, 4, "threads");
  const size_t k = models.size();
  const double kd = double(k);
  Split(n, threads, [&](size_t s, size_t e) {
    constexpr size_t B = 2048;
    double acc[B];
    for (size_t b0 = s; b0 < e; b0 += B) {
      const size_t len = std::min(B, e - b0);
      if (k == 0) { for (size_t j = 0; j < len; j++) acc[j] = 0; }
      else BlockLoad(acc, models[0] + b0, len);
      for (size_t i = 1; i < k; i++) BlockAdd(acc, models[i] + b0, len);
      BlockTaStore(out + b0, base + b0, acc, lambda, kd, len);
    }
  });
  return env.Undefined();
}

// out = sum_i w_i * arrays_i (+ out when accumulate)
Napi::Value StreamWeightedSum(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OutArray o = OutF32(info, 0, "out");
  float* out = o.data;
  const size_t n = o.n;
  auto arrays = F32List(info, 1, "arrays", n);
  const double* w = Array<double, napi_float64_array>(info, 2, "weights", arrays.size());
  const bool accumulate = info[3].ToBoolean();
  const size_t threads = Dim(info, 4, "threads");
  const size_t k = arrays.size();
  Split(n, threads, [&](size_t s, size_t e) {
    constexpr size_t B = 2048;
    double acc[B];
    for (size_t b0 = s; b0 < e; b0 += B) {
      const size_t len = std::min(B, e - b0);
      size_t i = 0;
      // start from the first term (not 0.0) so −0 survives, exactly like the JS expression
      if (accumulate) BlockLoad(acc, out + b0, len);
      else if (k > 0) { BlockScaleLoad(acc, arrays[0] + b0, w[0], len); i = 1; }
      else { for (size_t j = 0; j < len; j++) acc[j] = 0; }
      for (; i < k; i++) BlockScaleAdd(acc, arrays[i] + b0, w[i], len);
      BlockStore(out + b0, acc, len);
    }
  });
  return env.Undefined();
}

// Radix-select histograms over |v| bits (main/engine/kernels/select.ts): NaN is skipped.
// absHistHigh(chunk, hist) adds (bits & 0x7fffffff) >> 16 counts and returns the NaN count;
// absHistLow(chunk, hist, high) adds the low 16 bits of the values whose high half is `high`.
Napi::Value AbsHistHigh(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto chunk = F32Arg(info, 0, "chunk");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || info[1].As<Napi::Uint32Array>().ElementLength() != 65536) throw Napi::TypeError::New(env, "amalgam_linalg: hist must be a Uint32Array(65536)");
  uint32_t* h = info[1].As<Napi::Uint32Array>().Data();
  const size_t n = chunk.ElementLength();
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(chunk.Data());
  size_t nan = 0;
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = bits[i] & 0x7fffffffu;
    if (u > 0x7f800000u) { nan++; continue; }
    h[u >> 16]++;
  }
  return Napi::Number::New(env, double(nan));
}

Napi::Value AbsHistLow(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto chunk = F32Arg(info, 0, "chunk");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || info[1].As<Napi::Uint32Array>().ElementLength() != 65536) throw Napi::TypeError::New(env, "amalgam_linalg: hist must be a Uint32Array(65536)");
  uint32_t* h = info[1].As<Napi::Uint32Array>().Data();
  const uint32_t high = uint32_t(Dim(info, 2, "high"));
  const size_t n = chunk.ElementLength();
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(chunk.Data());
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = bits[i] & 0x7fffffffu;
    if ((u >> 16) == high && u <= 0x7f800000u) h[u & 0xffffu]++;
  }
  return env.Undefined();
}

// HistFine: the TIES selection histogram, 2^k bins over the top k bits of |v| (exponent + k − 8
// mantissa bits), so the bucket that holds the k-th
// magnitude is narrow enough that the exact value can be settled later from the few entries in
// it. With `base`, v = chunk − base (float) is formed on the fly (τ = θ − θ0 without
// materialising it). Counts NaN instead.
void HistFine(const float* x, const float* base, size_t n, uint32_t* h, unsigned shift, size_t& nan) {
  for (size_t i = 0; i < n; i++) {
    float v = base ? x[i] - base[i] : x[i];  // float − float rounds like JS's fround(x − b)
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u &= 0x7fffffffu;
    if (u > 0x7f800000u) { nan++; continue; }
    h[u >> shift]++;
  }
}

// absHistFine(chunks, hists, base, threads): chunk t into hists[t] (Uint32Array(2^k) each), the
// tasks spread over `threads` std::threads (histograms are per task, so no sharing). Returns the
// NaN count per task (Float64Array).
Napi::Value AbsHistFine(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (!info[0].IsArray() || !info[1].IsArray()) throw Napi::TypeError::New(env, "amalgam_linalg: absHistFine(chunks[], hists[], base?, threads)");
  auto ca = info[0].As<Napi::Array>(), ha = info[1].As<Napi::Array>();
  if (ca.Length() != ha.Length()) throw Napi::RangeError::New(env, "amalgam_linalg: absHistFine needs one histogram per chunk");
  const size_t N = ca.Length();
  std::vector<const float*> xs(N);
  std::vector<uint32_t*> hs(N);
  size_t n = 0, hbins = 0;
  for (uint32_t t = 0; t < N; t++) {
    Napi::Value c = ca.Get(t), h = ha.Get(t);
    if (!c.IsTypedArray() || c.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: chunks must be Float32Arrays");
    if (!h.IsTypedArray() || h.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "amalgam_linalg: hists must be Uint32Arrays");
    const size_t bins = h.As<Napi::Uint32Array>().ElementLength();
    if (bins < (1u << 16) || bins > (1u << 24) || (bins & (bins - 1)) != 0) throw Napi::RangeError::New(env, "amalgam_linalg: a histogram must have 2^16 … 2^24 bins");
    if (t > 0 && bins != hbins) throw Napi::RangeError::New(env, "amalgam_linalg: the histograms differ in size");
    hbins = bins;
    const size_t len = c.As<Napi::Float32Array>().ElementLength();
    if (t > 0 && len != n) throw Napi::RangeError::New(env, "amalgam_linalg: absHistFine chunks differ in length");
    n = len;
    xs[t] = c.As<Napi::Float32Array>().Data();
    hs[t] = h.As<Napi::Uint32Array>().Data();
  }
  const float* base = !info[2].IsUndefined() && !info[2].IsNull() ? Array<float, napi_float32_array>(info, 2, "base", n) : nullptr;
  const size_t threads = std::max<size_t>(1, std::min(N, Dim(info, 3, "threads")));
  std::vector<size_t> nan(N, 0);
  unsigned shift = 31;  // |v| has 31 significant bits: 2^k bins take the top k
  for (size_t b = hbins; b > 1; b >>= 1) shift--;
  // one task at a time over the whole chunk: its histogram's hot region stays in L2 (interleaving
  // the tasks of a thread per block, to reuse the base block, measured 30 % slower)
  auto work = [&](size_t first) { for (size_t t = first; t < N; t += threads) HistFine(xs[t], base, n, hs[t], shift, nan[t]); };
  if (threads == 1 || n < 65536) { for (size_t t = 0; t < N; t++) HistFine(xs[t], base, n, hs[t], shift, nan[t]); }
  else {
    std::vector<std::thread> pool;
    for (size_t p = 1; p < threads; p++) pool.emplace_back(work, p);
    work(0);
    for (auto& th : pool) th.join();
  }
  auto out = Napi::Float64Array::New(env, N);
  for (size_t t = 0; t < N; t++) out[t] = double(nan[t]);
  return out;
}

// absHistSegments(chunks, base, offsets, hists, threads): like absHistFine, but chunk t is cut at
// offsets[0 … G] into G segments, segment g going into hists[t·G + g] — the sampled TIES plan's
// interleaved sub-samples in one call, spread over the tasks. Returns NaN counts (Float64Array(N·G)).
Napi::Value AbsHistSegments(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (!info[0].IsArray() || !info[3].IsArray()) throw Napi::TypeError::New(env, "amalgam_linalg: absHistSegments(chunks[], base?, offsets, hists[], threads)");
  auto ca = info[0].As<Napi::Array>(), ha = info[3].As<Napi::Array>();
  const size_t N = ca.Length();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "amalgam_linalg: offsets must be a Uint32Array");
  auto offs = info[2].As<Napi::Uint32Array>();
  if (offs.ElementLength() < 2) throw Napi::RangeError::New(env, "amalgam_linalg: offsets needs at least 2 entries");
  const size_t G = offs.ElementLength() - 1;
  if (ha.Length() != N * G) throw Napi::RangeError::New(env, "amalgam_linalg: absHistSegments needs one histogram per chunk and segment");
  std::vector<const float*> xs(N);
  std::vector<uint32_t*> hs(N * G);
  size_t n = 0, hbins = 0;
  for (uint32_t t = 0; t < N; t++) {
    Napi::Value c = ca.Get(t);
    if (!c.IsTypedArray() || c.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: chunks must be Float32Arrays");
    const size_t len = c.As<Napi::Float32Array>().ElementLength();
    if (t > 0 && len != n) throw Napi::RangeError::New(env, "amalgam_linalg: absHistSegments chunks differ in length");
    n = len;
    xs[t] = c.As<Napi::Float32Array>().Data();
  }
  for (uint32_t k = 0; k < N * G; k++) {
    Napi::Value h = ha.Get(k);
    if (!h.IsTypedArray() || h.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "amalgam_linalg: hists must be Uint32Arrays");
    const size_t bins = h.As<Napi::Uint32Array>().ElementLength();
    if (bins < (1u << 16) || bins > (1u << 24) || (bins & (bins - 1)) != 0 || (k > 0 && bins != hbins)) throw Napi::RangeError::New(env, "amalgam_linalg: histograms must all have the same 2^16 … 2^24 bins");
    hbins = bins;
    hs[k] = h.As<Napi::Uint32Array>().Data();
  }
  for (size_t g = 0; g < G; g++) if (offs[g] > offs[g + 1] || offs[g + 1] > n) throw Napi::RangeError::New(env, "amalgam_linalg: offsets must ascend within the chunk length");
  const float* base = !info[1].IsUndefined() && !info[1].IsNull() ? Array<float, napi_float32_array>(info, 1, "base", n) : nullptr;
  const size_t threads = std::max<size_t>(1, std::min(N, Dim(info, 4, "threads")));
  unsigned shift = 31;
  for (size_t b = hbins; b > 1; b >>= 1) shift--;
  std::vector<size_t> nan(N * G, 0);
  auto task = [&](size_t t) {
    for (size_t g = 0; g < G; g++) HistFine(xs[t] + offs[g], base ? base + offs[g] : nullptr, offs[g + 1] - offs[g], hs[t * G + g], shift, nan[t * G + g]);
  };
  if (threads == 1 || n < 16384) { for (size_t t = 0; t < N; t++) task(t); }
  else {
    std::vector<std::thread> pool;
    for (size_t p = 1; p < threads; p++) pool.emplace_back([&, p] { for (size_t t = p; t < N; t += threads) task(t); });
    for (size_t t = 0; t < N; t += threads) task(t);
    for (auto& th : pool) th.join();
  }
  auto out = Napi::Float64Array::New(env, N * G);
  for (size_t k = 0; k < N * G; k++) out[k] = double(nan[k]);
  return out;
}

// A byte offset into a file: multi-GB shards exceed Dim's 2^31, so it is read as a double (exact to 2^53).
size_t FileOffset(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "amalgam_linalg: offset must be a number");
  const double off = info[i].As<Napi::Number>().DoubleValue();
  if (!(off >= 0) || off != std::floor(off) || off > 9007199254740992.0) throw Napi::RangeError::New(info.Env(), "amalgam_linalg: offset must be a non-negative integer");
  return size_t(off);
}

// The sampled TIES plan's block position: which `take` values of block b are read. The same
// integer hash as main/engine/tensors/block-sample.ts (blockPhase), so every source samples alike.
inline uint32_t BlockPhase(uint32_t seed, uint32_t b, uint32_t span) {
  uint32_t h = (seed + 1u) * 0x9e3779b1u ^ (b + 1u) * 0x85ebca6bu;
  h ^= h >> 15; h *= 0x2c1b3c6du; h ^= h >> 12;
  return h % span;
}

// sampleMapped(fd, offset, dtype, n, block, runs, run, seed, out): the block sample of a tensor
// of n values (dtype 0 = F32, 1 = BF16) stored at file offset `offset`, read through a shared
// read-only mapping (main/engine/tensors/block-sample.ts, bit for bit). Each whole block of
// `block` values is cut into `runs` equal parts; `run` consecutive values are read from each at
// a pseudo-random run-aligned place, and the run from part r of block b goes to sub-sample
// (r + rot(b)) mod runs, at position b of it. out = sub-sample 0, 1, …, runs − 1 (blocks·run values each), then the tail
// past the last whole block verbatim. Every page of the tensor is touched once, so every row of
// a weight matrix is represented, and every sub-sample covers every block: they differ only by
// the random places, which is the error the spread between them measures.
Napi::Value SampleMapped(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const int fd = int(Dim(info, 0, "fd"));
  const size_t offset = FileOffset(info, 1);
  const size_t dtype = Dim(info, 2, "dtype"), n = Dim(info, 3, "n"), block = Dim(info, 4, "block"), runs = Dim(info, 5, "runs"), run = Dim(info, 6, "run");
  const uint32_t seed = uint32_t(Dim(info, 7, "seed"));
  if (dtype > 1) throw Napi::RangeError::New(env, "amalgam_linalg: sampleMapped reads F32 (0) or BF16 (1)");
  if (runs == 0 || run == 0 || block % runs != 0 || (block / runs) % run != 0) throw Napi::RangeError::New(env, "amalgam_linalg: sampleMapped needs runs | block and run | block/runs");
  const size_t part = block / runs;
  const uint32_t span = uint32_t(part / run);
  const size_t blocks = n / block, tail = n - blocks * block;
  const OutArray o = OutF32(info, 8, "out");
  if (o.n < blocks * runs * run + tail) throw Napi::RangeError::New(env, "amalgam_linalg: sampleMapped out is too small");
  if (n == 0) return env.Undefined();
  const size_t esize = dtype == 0 ? 4 : 2;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t start = offset / page * page, end = offset + n * esize;
  void* map = mmap(nullptr, end - start, PROT_READ, MAP_SHARED, fd, off_t(start));
  if (map == MAP_FAILED) throw Napi::Error::New(env, std::string("amalgam_linalg: sampleMapped mmap: ") + std::strerror(errno));
  const uint8_t* data = static_cast<const uint8_t*>(map) + (offset - start);
  auto copy = [&](size_t from, size_t count, float* dst) {
    if (dtype == 0) { std::memcpy(dst, data + from * 4, count * 4); return; }
    const uint16_t* h = reinterpret_cast<const uint16_t*>(data + from * 2);
    for (size_t i = 0; i < count; i++) { const uint32_t u = uint32_t(h[i]) << 16; std::memcpy(dst + i, &u, 4); }
  };
  const size_t groupLen = blocks * run;
  for (size_t b = 0; b < blocks; b++) {
    // one hash per block, then an LCG stream for the places (blockPlaces in block-sample.ts)
    uint32_t x = BlockPhase(seed, uint32_t(b), 0xffffffffu);
    const size_t rot = x % runs;
    for (size_t r = 0; r < runs; r++) {
      x = x * 1664525u + 1013904223u;
      copy(b * block + r * part + size_t((x >> 8) % span) * run, run, o.data + ((r + rot) % runs) * groupLen + b * run);
    }
  }
  copy(blocks * block, tail, o.data + runs * groupLen);
  munmap(map, end - start);
  return env.Undefined();
}

// patchMapped(fd, offset, size, index, bytes): element index[i] (ascending) of the array of
// `size`-byte elements at file offset `offset` gets bytes[i·size …], written through a shared
// mapping of just the stretch they span: the pages are page-cache hits, and touching them in
// place costs a fraction of reading the stretch back and writing it again. The file's fsync
// (at commit) writes them out like any other dirty page.
Napi::Value PatchMapped(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const int fd = int(Dim(info, 0, "fd"));
  const size_t offset = FileOffset(info, 1), size = Dim(info, 2, "size");
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "amalgam_linalg: index must be a Uint32Array");
  if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) throw Napi::TypeError::New(env, "amalgam_linalg: bytes must be a Uint8Array");
  auto index = info[3].As<Napi::Uint32Array>();
  auto bytes = info[4].As<Napi::Uint8Array>();
  const size_t count = index.ElementLength();
  if (size == 0 || bytes.ElementLength() != count * size) throw Napi::RangeError::New(env, "amalgam_linalg: patchMapped needs size bytes per index");
  if (count == 0) return env.Undefined();
  for (size_t i = 1; i < count; i++) if (index[i] <= index[i - 1]) throw Napi::RangeError::New(env, "amalgam_linalg: patchMapped indices must ascend");
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t first = offset + size_t(index[0]) * size, end = offset + (size_t(index[count - 1]) + 1) * size;
  const size_t start = first / page * page;
  void* map = mmap(nullptr, end - start, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(start));
  if (map == MAP_FAILED) throw Napi::Error::New(env, std::string("amalgam_linalg: patchMapped mmap: ") + std::strerror(errno));
  uint8_t* m = static_cast<uint8_t*>(map);
  const uint8_t* src = bytes.Data();
  for (size_t i = 0; i < count; i++) std::memcpy(m + (offset + size_t(index[i]) * size - start), src + i * size, size);
  if (munmap(map, end - start) != 0) throw Napi::Error::New(env, std::string("amalgam_linalg: patchMapped munmap: ") + std::strerror(errno));
  return env.Undefined();
}

// One block of tiesMerge, written as task-outer loops over contiguous arrays so that each loop is
// a simple select/add the compiler vectorises (the per-coordinate form with a task loop inside
// ran at ~100 ns per coordinate for 8 tasks). Selections add +0 where the JS loop adds y·0 = ±0:
// the same sums, because the accumulator starts at +0 and x + (−x) rounds to +0, so it is never −0.
constexpr size_t kTiesBlock = 1024;
inline float AsFloat(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
struct TiesBlockScratch {
  float mass[kTiesBlock], sgn[kTiesBlock], acc[kTiesBlock], b[kTiesBlock];
  uint32_t cnt[kTiesBlock], neg[kTiesBlock];
  uint8_t undecided[kTiesBlock], zero[kTiesBlock], any[kTiesBlock], settled[kTiesBlock];
};
// Y: N × kTiesBlock trimmed values. kept[t] counts every keep of the block; the caller takes back
// those of the unsettled coordinates (rare). counts[t] gets |x_t| < lo_t and counts[N + t]
// |x_t| ≥ hi_t over every coordinate of the block.
AMALGAM_CLONES void TiesBlock(float* out, const float* base, const std::vector<const float*>& vs, size_t k0, bool fromModels,
                              const float* lo, const float* hi, float lambda, bool mean, size_t N, size_t len,
                              float* Y, double* kept, double* counts, TiesBlockScratch& S) {
  for (size_t j = 0; j < len; j++) { S.b[j] = base[j]; S.undecided[j] = 0; S.any[j] = 0; S.mass[j] = 0.0f; }
  for (size_t t = 0; t < N; t++) {
    const float* v = vs[t] + k0;
    float* y = Y + t * kTiesBlock;
    const float l = lo[t], h = hi[t];
    uint32_t c = 0, under = 0;
    // trim, undecided flag and the float mass in task order, in one loop (task 0 starts the
    // mass from its own value, not 0 + y, so that −0 survives as in the JS loop)
    for (size_t j = 0; j < len; j++) {
      const float x = fromModels ? v[j] - S.b[j] : v[j];
      const float a = std::fabs(x);
      const uint32_t keep = a >= h;
      c += keep;
      under += uint32_t(a < l);
      S.undecided[j] |= uint8_t((keep ^ 1u) & uint32_t(a >= l));
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      bits &= 0u - keep;
      float yk;
      std::memcpy(&yk, &bits, 4);
      y[j] = yk;
      S.any[j] |= uint8_t(yk != 0.0f);
      S.mass[j] = t == 0 ? yk : S.mass[j] + yk;
    }
    kept[t] += c;
    counts[t] += under;
    counts[N + t] += c;
  }
  for (size_t j = 0; j < len; j++) {
    const float m = S.mass[j];
    S.sgn[j] = m < 0.0f ? -1.0f : 1.0f;  // a zero mass provisionally takes +1
    S.zero[j] = uint8_t((m == 0.0f) & (S.any[j] != 0));
    S.settled[j] = uint8_t((S.zero[j] | S.undecided[j]) ^ 1);
    S.acc[j] = 0.0f; S.cnt[j] = 0;
  }
  // agreement with the elected sign in integer form (vectorises; y is never NaN here):
  // y agrees when it is non-zero and its sign bit equals the mass's (a zero mass counts as +)
  for (size_t j = 0; j < len; j++) S.neg[j] = S.mass[j] < 0.0f ? 0x80000000u : 0u;
  for (size_t t = 0; t < N; t++) {
    const uint32_t* y = reinterpret_cast<const uint32_t*>(Y + t * kTiesBlock);
    if (mean) {
      for (size_t j = 0; j < len; j++) {
        const uint32_t u = y[j];
        const uint32_t agree = (((u ^ S.neg[j]) >> 31) ^ 1u) & uint32_t((u & 0x7fffffffu) != 0);
        S.acc[j] = S.acc[j] + AsFloat(u & (0u - agree));
        S.cnt[j] += agree;
      }
    } else {
      // sum: a disagreeing or zero entry adds +0 (a zero adds itself, ±0, which leaves acc as is:
      // acc is never −0), so only the sign test masks
      for (size_t j = 0; j < len; j++) {
        const uint32_t u = y[j];
        S.acc[j] = S.acc[j] + AsFloat(u & (((u ^ S.neg[j]) >> 31) - 1u));
      }
    }
  }
  if (mean) for (size_t j = 0; j < len; j++) S.acc[j] = S.cnt[j] > 1 ? S.acc[j] / float(S.cnt[j]) : S.acc[j];
  for (size_t j = 0; j < len; j++) out[j] = S.b[j] + lambda * S.acc[j];
}

// tiesMerge(out, base, vs, fromModels, lo, hi, lambda, mean, kept, threads): FusionBench's TIES
// merge of one tensor (main/engine/merge/methods/_ties-core.ts, tiesMergeSplit) with per-task
// trim bounds: |x_t| ≥ hi_t is kept, |x_t| < lo_t dropped, anything between is undecided (the
// exact threshold is not known yet) and the coordinate is deferred to the caller. Coordinates
// whose float mass is exactly 0 while some trimmed entry is not are also returned (their sign
// needs the global majority). `out` is unspecified at both kinds of returned coordinates. Same
// float arithmetic as the JS loop (float ops round like JS's fround of the double op:
// 53 ≥ 2·24 + 2), so outputs are bit-identical.
// `kept[t]` counts |x_t| ≥ hi_t over the coordinates that are neither deferred nor zero-mass;
// `counts` (optional, Float64Array(2N)) gets += |x_t| < lo_t at [t] and |x_t| ≥ hi_t at [N + t]
// over all of them (NaN counts in neither): with the values inside [lo, hi) they place each
// task's bounds in the exact rank order.
// Returns { balance, deferred: Uint32Array, zero: Uint32Array } and, when `gather` (arg 11) is
// set, held: { idx (deferred ∪ zero, ascending), base: θ0 there, vals: τ there, task-major } and
// band: per task, the |x_t| inside [lo_t, hi_t) (all of them: such a coordinate is deferred).
Napi::Value TiesMerge(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OutArray o = OutF32(info, 0, "out");
  float* out = o.data;
  const size_t n = o.n;
  const float* base = Array<float, napi_float32_array>(info, 1, "base", n);
  auto vs = F32List(info, 2, "vs", n);
  const bool fromModels = info[3].ToBoolean();
  const size_t N = vs.size();
  if (N == 0) throw Napi::RangeError::New(env, "amalgam_linalg: tiesMerge needs at least one task array");
  const float* lo = Array<float, napi_float32_array>(info, 4, "lo", N);
  const float* hi = Array<float, napi_float32_array>(info, 5, "hi", N);
  const float lambda = float(info[6].As<Napi::Number>().DoubleValue());
  const bool mean = info[7].ToBoolean();
  double* kept = Array<double, napi_float64_array>(info, 8, "kept", N);
  const size_t threads = Dim(info, 9, "threads");
  double* countsOut = info.Length() > 10 && !info[10].IsUndefined() && !info[10].IsNull() ? Array<double, napi_float64_array>(info, 10, "counts", 2 * N) : nullptr;
  const bool gatherHeld = info.Length() > 11 && info[11].ToBoolean();
  // gathered: for each unsettled coordinate (ascending), θ0 then τ_1 … τ_N, taken while its block is in cache
  struct Part {
    size_t s = 0, e = 0; double bal = 0;
    std::vector<uint32_t> deferred, zero, held; std::vector<float> gathered; std::vector<std::vector<float>> band; std::vector<double> kept, counts;
  };
  const size_t nt = std::max<size_t>(1, std::min<size_t>(threads, n / 65536 + 1));
  std::vector<Part> parts(nt);
  const size_t per = (n + nt - 1) / nt;
  for (size_t p = 0; p < nt; p++) { parts[p].s = std::min(n, p * per); parts[p].e = std::min(n, parts[p].s + per); parts[p].kept.assign(N, 0); parts[p].counts.assign(2 * N, 0); parts[p].band.resize(N); }
  auto body = [&](Part& P) {
    std::vector<float> Y(N * kTiesBlock);
    TiesBlockScratch S;
    for (size_t k0 = P.s; k0 < P.e; k0 += kTiesBlock) {
      const size_t len = std::min(kTiesBlock, P.e - k0);
      TiesBlock(out + k0, base + k0, vs, k0, fromModels, lo, hi, lambda, mean, N, len, Y.data(), P.kept.data(), P.counts.data(), S);
      for (size_t j = 0; j < len; j++) {
        if (S.settled[j]) { P.bal += S.sgn[j] * (S.mass[j] != 0.0f); continue; }
        // unsettled: not counted in kept (a trimmed 0 was kept only when hi ≤ 0: |x| ≥ 0 ≥ hi)
        for (size_t t = 0; t < N; t++) P.kept[t] -= (Y[t * kTiesBlock + j] != 0.0f) | (hi[t] <= 0.0f);
        if (S.undecided[j]) P.deferred.push_back(uint32_t(k0 + j));
        else P.zero.push_back(uint32_t(k0 + j));
        if (gatherHeld) {
          const float b = S.b[j];
          P.held.push_back(uint32_t(k0 + j));
          P.gathered.push_back(b);
          for (size_t t = 0; t < N; t++) {
            const float x = fromModels ? vs[t][k0 + j] - b : vs[t][k0 + j];
            P.gathered.push_back(x);
            const float a = std::fabs(x);
            if (a >= lo[t] && a < hi[t]) P.band[t].push_back(a);
          }
        }
      }
    }
  };
  if (nt == 1) body(parts[0]);
  else {
    std::vector<std::thread> pool;
    for (size_t p = 1; p < nt; p++) pool.emplace_back([&body, &parts, p] { body(parts[p]); });
    body(parts[0]);
    for (auto& th : pool) th.join();
  }
  double bal = 0;
  size_t nd = 0, nz = 0;
  for (auto& P : parts) { bal += P.bal; nd += P.deferred.size(); nz += P.zero.size(); for (size_t t = 0; t < N; t++) kept[t] += P.kept[t]; if (countsOut) for (size_t t = 0; t < 2 * N; t++) countsOut[t] += P.counts[t]; }
  auto deferred = Napi::Uint32Array::New(env, nd);
  auto zero = Napi::Uint32Array::New(env, nz);
  size_t od = 0, oz = 0;
  for (auto& P : parts) {
    if (!P.deferred.empty()) std::memcpy(deferred.Data() + od, P.deferred.data(), P.deferred.size() * 4);
    if (!P.zero.empty()) std::memcpy(zero.Data() + oz, P.zero.data(), P.zero.size() * 4);
    od += P.deferred.size(); oz += P.zero.size();
  }
  auto res = Napi::Object::New(env);
  res.Set("balance", Napi::Number::New(env, bal));
  res.Set("deferred", deferred);
  res.Set("zero", zero);
  if (gatherHeld) {
    const size_t M = nd + nz;
    auto idx = Napi::Uint32Array::New(env, M);
    auto gb = Napi::Float32Array::New(env, M);
    auto gv = Napi::Float32Array::New(env, N * M);  // task-major: τ_t of held coordinate i at t·M + i
    size_t o = 0;
    for (auto& P : parts) {
      for (size_t i = 0; i < P.held.size(); i++, o++) {
        idx[o] = P.held[i];
        const float* g = P.gathered.data() + i * (N + 1);
        gb[o] = g[0];
        for (size_t t = 0; t < N; t++) gv[t * M + o] = g[1 + t];
      }
    }
    auto held = Napi::Object::New(env);
    held.Set("idx", idx);
    held.Set("base", gb);
    held.Set("vals", gv);
    res.Set("held", held);
    auto band = Napi::Array::New(env, N);
    for (size_t t = 0; t < N; t++) {
      size_t m = 0;
      for (auto& P : parts) m += P.band[t].size();
      auto b = Napi::Float32Array::New(env, m);
      size_t o2 = 0;
      for (auto& P : parts) { if (!P.band[t].empty()) std::memcpy(b.Data() + o2, P.band[t].data(), P.band[t].size() * 4); o2 += P.band[t].size(); }
      band.Set(uint32_t(t), b);
    }
    res.Set("band", band);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// DogeTA's optimisation step (main/engine/merge/methods/doge_ta.ts): the fused residual +
// gradient row loop, the float32 PyTorch Adam step and the plain projected SGD step. Same double
// arithmetic as the generated JS loops, in the same order (dot products in index order, task
// sums in task order, float32 rounding exactly where the JS stores into a Float32Array or calls
// Math.fround), so the results are bit-identical. Rows are independent, so they are split
// across std::threads; the loss is summed on the calling thread in the JS order afterwards.

// out[i] = float(scale · acc[i]): the gradient row's store (acc = Σ_j e_j·v_j[i] in task order)
AMALGAM_CLONES void BlockScaleStore(float* o, const double* acc, double scale, size_t len) {
  for (size_t j = 0; j < len; j++) o[j] = float(scale * acc[j]);
}

// N dot products ⟨V_j[o], δ[o]⟩ per row, N independent accumulators held in registers (N fixed).
template <size_t N>
void DogeDotsT(const float* const* V, const float* d, size_t b, size_t cols, double* a) {
  double s[N];
  for (size_t j = 0; j < N; j++) s[j] = 0.0;
  const float* v[N];
  for (size_t j = 0; j < N; j++) v[j] = V[j] + b;
  for (size_t i = 0; i < cols; i++) {
    const double di = d[i];
    for (size_t j = 0; j < N; j++) s[j] += double(v[j][i]) * di;
  }
  for (size_t j = 0; j < N; j++) a[j] = s[j];
}

void DogeDotsAny(const float* const* V, size_t N, const float* d, size_t b, size_t cols, double* a) {
  for (size_t j = 0; j < N; j++) a[j] = 0.0;
  for (size_t i = 0; i < cols; i++) {
    const double di = d[i];
    for (size_t j = 0; j < N; j++) a[j] += double(V[j][b + i]) * di;
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AMALGAM_DOTS4 1
// Four rows at once, one row per double lane, G tasks per pass (G independent accumulator
// chains): each lane still accumulates its own row in index order, exactly as the scalar loop,
// but the products and sums of four rows share one instruction. Rows o..o+3 of V_j are read as
// 4×4 float tiles and transposed so that lane r holds row o+r; Dt holds δ transposed the same
// way (Dt[4i + r] = δ[(o+r)·cols + i]). AVX without FMA: every mul and add rounds as in JS.
template <size_t G>
__attribute__((target("avx2"))) void DogeDots4G(const float* const* v, const double* Dt, size_t cols, size_t stride, double* a /* [G][4] */) {
  __m256d acc[G];
  for (size_t g = 0; g < G; g++) acc[g] = _mm256_setzero_pd();
  const size_t c4 = cols & ~size_t(3);
  for (size_t i = 0; i < c4; i += 4) {
    const __m256d d0 = _mm256_loadu_pd(Dt + 4 * i), d1 = _mm256_loadu_pd(Dt + 4 * i + 4);
    const __m256d d2 = _mm256_loadu_pd(Dt + 4 * i + 8), d3 = _mm256_loadu_pd(Dt + 4 * i + 12);
    for (size_t g = 0; g < G; g++) {
      __m128 r0 = _mm_loadu_ps(v[g] + i), r1 = _mm_loadu_ps(v[g] + stride + i);
      __m128 r2 = _mm_loadu_ps(v[g] + 2 * stride + i), r3 = _mm_loadu_ps(v[g] + 3 * stride + i);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_k now holds element i+k of the four rows
      acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(_mm256_cvtps_pd(r0), d0));
      acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(_mm256_cvtps_pd(r1), d1));
      acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(_mm256_cvtps_pd(r2), d2));
      acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(_mm256_cvtps_pd(r3), d3));
    }
  }
  for (size_t g = 0; g < G; g++) {
    alignas(32) double lane[4];
    _mm256_store_pd(lane, acc[g]);
    for (size_t r = 0; r < 4; r++) {
      double s = lane[r];
      for (size_t i = c4; i < cols; i++) s += double(v[g][r * stride + i]) * Dt[4 * i + r];
      a[g * 4 + r] = s;
    }
  }
}

// a[j·4 + r] = ⟨V_j[o+r], δ[o+r]⟩ for the four rows starting at element b = o·cols.
__attribute__((target("avx2"))) void DogeDots4(const float* const* V, size_t N, const float* delta, size_t b, size_t cols, double* Dt, double* a) {
  for (size_t i = 0; i < cols; i++) for (size_t r = 0; r < 4; r++) Dt[4 * i + r] = double(delta[b + r * cols + i]);
  const float* v[4];
  size_t j = 0;
  for (; j + 4 <= N; j += 4) { for (size_t g = 0; g < 4; g++) v[g] = V[j + g] + b; DogeDots4G<4>(v, Dt, cols, cols, a + 4 * j); }
  const size_t rest = N - j;
  for (size_t g = 0; g < rest; g++) v[g] = V[j + g] + b;
  if (rest == 3) DogeDots4G<3>(v, Dt, cols, cols, a + 4 * j);
  else if (rest == 2) DogeDots4G<2>(v, Dt, cols, cols, a + 4 * j);
  else if (rest == 1) DogeDots4G<1>(v, Dt, cols, cols, a + 4 * j);
}
#else
#define AMALGAM_DOTS4 0
#endif

using DotsFn = void (*)(const float* const*, const float*, size_t, size_t, double*);
DotsFn DogeDotsFor(size_t N) {
  switch (N) {
    case 1: return DogeDotsT<1>; case 2: return DogeDotsT<2>; case 3: return DogeDotsT<3>; case 4: return DogeDotsT<4>;
    case 5: return DogeDotsT<5>; case 6: return DogeDotsT<6>; case 7: return DogeDotsT<7>; case 8: return DogeDotsT<8>;
    case 9: return DogeDotsT<9>; case 10: return DogeDotsT<10>; case 11: return DogeDotsT<11>; case 12: return DogeDotsT<12>;
    case 13: return DogeDotsT<13>; case 14: return DogeDotsT<14>; case 15: return DogeDotsT<15>; case 16: return DogeDotsT<16>;
    default: return nullptr;
  }
}

// dogeGradient(V, delta, c, out, rows, cols, Lambda, e, threads) → loss.
// e[j·rows + o] = c[j·rows + o] − Λ⟨V_j[o], δ[o]⟩; when `out` is not null,
// out[o, :] = float(−2Λ · Σ_j e_{j,o} V_j[o, :]). Returns Σ_o Σ_j e_{j,o}² (row-major order, as the
// JS gradient loop sums it).
Napi::Value DogeGradient(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const size_t rows = Dim(info, 4, "rows"), cols = Dim(info, 5, "cols");
  const size_t n = rows * cols;
  auto V = F32List(info, 0, "V", n);
  const size_t N = V.size();
  if (N == 0) throw Napi::RangeError::New(env, "amalgam_linalg: dogeGradient needs at least one task array");
  const float* delta = Array<float, napi_float32_array>(info, 1, "delta", n);
  const double* c = Array<double, napi_float64_array>(info, 2, "c", N * rows);
  float* out = info[3].IsNull() || info[3].IsUndefined() ? nullptr : Array<float, napi_float32_array>(info, 3, "out", n);
  if (!info[6].IsNumber()) throw Napi::TypeError::New(env, "amalgam_linalg: Lambda must be a number");
  const double Lambda = info[6].As<Napi::Number>().DoubleValue();
  double* e = Array<double, napi_float64_array>(info, 7, "e", N * rows);
  const size_t threads = std::max<size_t>(1, std::min<size_t>(Dim(info, 8, "threads"), n / 65536 + 1));
  const double scale = -2 * Lambda;
  const DotsFn dots = DogeDotsFor(N);
#if AMALGAM_DOTS4
  const bool four = __builtin_cpu_supports("avx2");
#else
  const bool four = false;
#endif
  auto body = [&](size_t r0, size_t r1) {
    std::vector<double> a(4 * N), acc(cols), Dt(four ? 4 * cols : 0);
    for (size_t o = r0; o < r1;) {
      const size_t b = o * cols;
      size_t nr = 1;  // rows done in this pass
#if AMALGAM_DOTS4
      if (four && o + 4 <= r1) {
        DogeDots4(V.data(), N, delta, b, cols, Dt.data(), a.data());
        for (size_t r = 0; r < 4; r++) for (size_t j = 0; j < N; j++) e[j * rows + o + r] = c[j * rows + o + r] - Lambda * a[j * 4 + r];
        nr = 4;
      } else
#endif
      {
        if (dots) dots(V.data(), delta + b, b, cols, a.data());
        else DogeDotsAny(V.data(), N, delta + b, b, cols, a.data());
        for (size_t j = 0; j < N; j++) e[j * rows + o] = c[j * rows + o] - Lambda * a[j];
      }
      for (size_t q = o; out && q < o + nr; q++) {
        const size_t bq = q * cols;
        BlockScaleLoad(acc.data(), V[0] + bq, e[q], cols);
        for (size_t j = 1; j < N; j++) BlockScaleAdd(acc.data(), V[j] + bq, e[j * rows + q], cols);
        BlockScaleStore(out + bq, acc.data(), scale, cols);
      }
      o += nr;
    }
  };
  if (threads == 1) body(0, rows);
  else {
    const size_t per = (rows + threads - 1) / threads;
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; t++) {
      const size_t s = std::min(rows, t * per), f = std::min(rows, s + per);
      if (s < f) pool.emplace_back([&body, s, f] { body(s, f); });
    }
    body(0, std::min(rows, per));
    for (auto& th : pool) th.join();
  }
  double loss = 0;
  for (size_t o = 0; o < rows; o++) for (size_t j = 0; j < N; j++) loss += e[j * rows + o] * e[j * rows + o];
  return Napi::Number::New(env, loss);
}

struct AdamConsts { double stepSize, bc2s, w1, w2, b2, eps; };

// Vectorised only because binding.gyp builds with -fno-math-errno: sqrt's errno check would
// otherwise keep a scalar call in the loop (vk ≥ 0 or NaN here; the square root is IEEE either way).
// One Adam step over [0, len): the JS Adam.stepProjected loop, element by element, on the
// gradient gp (already float(g − p) or g itself). The arrays do not overlap.
AMALGAM_CLONES void AdamBlock(float* __restrict param, const float* __restrict gp, float* __restrict m, float* __restrict v,
                              const AdamConsts k, size_t len) {
  const double w1 = k.w1, w2 = k.w2, b2 = k.b2, bc2s = k.bc2s, eps = k.eps, stepSize = k.stepSize;
  for (size_t i = 0; i < len; i++) {
    const double gk = gp[i];
    const double m0 = m[i];
    const float mk = float(m0 + w1 * (gk - m0));  // exp_avg.lerp_(grad, 1 − β1)
    const float vk = float(double(v[i]) * b2 + w2 * gk * gk);
    m[i] = mk; v[i] = vk;
    const double denom = double(float(std::sqrt(double(vk)) / bc2s)) + eps;
    param[i] = float(double(param[i]) - stepSize * (double(mk) / denom));
  }
}

// gp = float(g − p) over one block (float − float rounds like JS's Math.fround(g − p)).
AMALGAM_CLONES void BlockDiff(float* __restrict o, const float* __restrict g, const float* __restrict p, size_t len) {
  for (size_t i = 0; i < len; i++) o[i] = g[i] - p[i];
}

// adamStep(param, g, p, m, v, stepSize, bc2s, w1, w2, b2, eps, threads): in place on param, m, v;
// the gradient is g − p rounded to float32 (p null: g). The scalars come from the caller so that
// the bias corrections (β^t) are JS's own powers.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OutArray o = OutF32(info, 0, "param");
  float* param = o.data;
  const size_t n = o.n;
  const float* g = Array<float, napi_float32_array>(info, 1, "g", n);
  const float* p = info[2].IsNull() || info[2].IsUndefined() ? nullptr : Array<float, napi_float32_array>(info, 2, "p", n);
  float* m = Array<float, napi_float32_array>(info, 3, "m", n);
  float* v = Array<float, napi_float32_array>(info, 4, "v", n);
  double s[6];
  for (size_t i = 0; i < 6; i++) {
    if (!info[5 + i].IsNumber()) throw Napi::TypeError::New(env, "amalgam_linalg: adamStep constants must be numbers");
    s[i] = info[5 + i].As<Napi::Number>().DoubleValue();
  }
  const AdamConsts k{s[0], s[1], s[2], s[3], s[4], s[5]};
  const size_t threads = Dim(info, 11, "threads");
  Split(n, threads, [&](size_t a, size_t b) {
    if (!p) { AdamBlock(param + a, g + a, m + a, v + a, k, b - a); return; }
    constexpr size_t B = 2048;  // the projected gradient a block at a time, from cache
    float gp[B];
    for (size_t s = a; s < b; s += B) {
      const size_t len = std::min(B, b - s);
      BlockDiff(gp, g + s, p + s, len);
      AdamBlock(param + s, gp, m + s, v + s, k, len);
    }
  });
  return env.Undefined();
}

AMALGAM_CLONES void SgdBlock(float* param, const float* g, const float* p, double lr, size_t len) {
  if (p) for (size_t i = 0; i < len; i++) param[i] = float(double(param[i]) - lr * double(float(double(g[i]) - double(p[i]))));
  else for (size_t i = 0; i < len; i++) param[i] = float(double(param[i]) - lr * double(g[i]));
}

// sgdStep(param, g, p, lr, threads): param ← float(param − lr · float(g − p)) (p null: g).
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OutArray o = OutF32(info, 0, "param");
  float* param = o.data;
  const size_t n = o.n;
  const float* g = Array<float, napi_float32_array>(info, 1, "g", n);
  const float* p = info[2].IsNull() || info[2].IsUndefined() ? nullptr : Array<float, napi_float32_array>(info, 2, "p", n);
  if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "amalgam_linalg: lr must be a number");
  const double lr = info[3].As<Napi::Number>().DoubleValue();
  const size_t threads = Dim(info, 4, "threads");
  Split(n, threads, [&](size_t a, size_t b) { SgdBlock(param + a, g + a, p ? p + a : nullptr, lr, b - a); });
  return env.Undefined();
}

// sgemmInto(a, b, c, m, n, k, transA, transB): sgemm's product written into the caller's c
// (m×n, fully overwritten) instead of a new array, for loops that repeat one product shape.
Napi::Value SgemmInto(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const size_t m = Dim(info, 3, "m"), n = Dim(info, 4, "n"), k = Dim(info, 5, "k");
  const bool ta = info[6].ToBoolean(), tb = info[7].ToBoolean();
  const float* a = Array<float, napi_float32_array>(info, 0, "a", m * k);
  const float* b = Array<float, napi_float32_array>(info, 1, "b", k * n);
  float* c = Array<float, napi_float32_array>(info, 2, "c", m * n);
  if (m == 0 || n == 0) return env.Undefined();
  if (k == 0) { std::fill(c, c + m * n, 0.0f); return env.Undefined(); }
  std::lock_guard<std::mutex> lock(g_blas_mutex);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a,
              ta ? int(m) : int(k), b, tb ? int(k) : int(n), 0.0f, c, int(n));
  return env.Undefined();
}

// firstNonFinite(f32): index of the first ±Inf/NaN, or −1. The export path checks every tensor
// it writes; blocks are tested with a branch-free OR (vectorised) and only a hit is scanned.
AMALGAM_CLONES uint32_t BlockNonFinite(const uint32_t* u, size_t len) {
  uint32_t any = 0;
  for (size_t i = 0; i < len; i++) any |= uint32_t((u[i] & 0x7f800000u) == 0x7f800000u);
  return any;
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto a = F32Arg(info, 0, "firstNonFinite's argument");
  const uint32_t* u = reinterpret_cast<const uint32_t*>(a.Data());
  const size_t n = a.ElementLength();
  constexpr size_t B = 4096;
  for (size_t b0 = 0; b0 < n; b0 += B) {
    const size_t len = std::min(B, n - b0);
    if (!BlockNonFinite(u + b0, len)) continue;
    for (size_t i = 0; i < len; i++) if ((u[b0 + i] & 0x7f800000u) == 0x7f800000u) return Napi::Number::New(env, double(b0 + i));
  }
  return Napi::Number::New(env, -1);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, RunSync<GemmJob<float>>));
  exports.Set("dgemm", Napi::Function::New(env, RunSync<GemmJob<double>>));
  exports.Set("dsyevd", Napi::Function::New(env, RunSync<SyevdJob>));
  exports.Set("dgesdd", Napi::Function::New(env, RunSync<GesddJob>));
  exports.Set("dcholsolve", Napi::Function::New(env, RunSync<CholSolveJob>));
  exports.Set("dqr", Napi::Function::New(env, RunSync<QrJob>));
  exports.Set("sgemmAsync", Napi::Function::New(env, RunAsync<GemmJob<float>>));
  exports.Set("dgemmAsync", Napi::Function::New(env, RunAsync<GemmJob<double>>));
  exports.Set("dsyevdAsync", Napi::Function::New(env, RunAsync<SyevdJob>));
  exports.Set("dgesddAsync", Napi::Function::New(env, RunAsync<GesddJob>));
  exports.Set("dcholsolveAsync", Napi::Function::New(env, RunAsync<CholSolveJob>));
  exports.Set("dqrAsync", Napi::Function::New(env, RunAsync<QrJob>));
  exports.Set("streamTaskArithmetic", Napi::Function::New(env, StreamTaskArithmetic));
  exports.Set("streamWeightedSum", Napi::Function::New(env, StreamWeightedSum));
  exports.Set("absHistHigh", Napi::Function::New(env, AbsHistHigh));
  exports.Set("absHistLow", Napi::Function::New(env, AbsHistLow));
  exports.Set("absHistFine", Napi::Function::New(env, AbsHistFine));
  exports.Set("tiesMerge", Napi::Function::New(env, TiesMerge));
  exports.Set("absHistSegments", Napi::Function::New(env, AbsHistSegments));
  exports.Set("patchMapped", Napi::Function::New(env, PatchMapped));
  exports.Set("sampleMapped", Napi::Function::New(env, SampleMapped));
  exports.Set("dogeGradient", Napi::Function::New(env, DogeGradient));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("sgemmInto", Napi::Function::New(env, SgemmInto));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("blasConfig", Napi::Function::New(env, BlasConfig));
  return exports;
}

}  // namespace

NODE_API_MODULE(amalgam_linalg, Init)
