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
#include <cstring>
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
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: out must be a Float32Array");
  const size_t n = info[0].As<Napi::Float32Array>().ElementLength();
  float* out = info[0].As<Napi::Float32Array>().Data();
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
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: out must be a Float32Array");
  const size_t n = info[0].As<Napi::Float32Array>().ElementLength();
  float* out = info[0].As<Napi::Float32Array>().Data();
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
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: chunk must be a Float32Array");
  auto chunk = info[0].As<Napi::Float32Array>();
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
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "amalgam_linalg: chunk must be a Float32Array");
  auto chunk = info[0].As<Napi::Float32Array>();
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
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("blasConfig", Napi::Function::New(env, BlasConfig));
  return exports;
}

}  // namespace

NODE_API_MODULE(amalgam_linalg, Init)
