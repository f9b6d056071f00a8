// gemm_bf16_cublas: the cuBLASLt baseline of gemm_bf16 (bf16 operands, f32 compute, f32 or bf16 out).
//
// Row-major C [M, N] = A [M, K] @ op(B) runs as the column-major product C^T [N, M] =
// op(B)^T [N, K] @ A^T [K, M]: a row-major matrix with leading dimension ld is, read column-major
// with the same ld, its transpose, so no data moves. In cuBLAS terms (m, n, k) = (N, M, K):
//   cuBLAS "A" = our B: B [N, K] is column-major [K, N] (ldb), used transposed (op T);
//                       B [K, N] is column-major [N, K] (ldb), used as is (op N);
//   cuBLAS "B" = our A: column-major [K, M] (lda), op N;   D = our C: column-major [N, M] (ldc).
// The bias [N] is per row of D, which is cuBLASLt's CUBLASLT_EPILOGUE_BIAS broadcast.
//
// Epilogues: bias and gelu_tanh (cuBLASLt's GELU is the tanh approximation) are fused where the
// heuristic finds an algorithm for them; otherwise, and for gelu_erf, quick_gelu and silu, cuBLASLt
// writes the plain product in f32 (into C itself for f32 output, into a temporary for bf16) and a
// small kernel adds the bias, applies the activation and rounds, so bf16 output is rounded once.
//
// Per device, created once: the cuBLASLt handle and a 32 MiB workspace. Descriptors and the
// chosen algorithm are cached per shape; one mutex guards all of it and each call (a cached
// descriptor carries the bias pointer a call sets), which is cheap next to a GEMM.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <map>
#include <mutex>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's recommendation for Hopper
constexpr int kMaxDevices = 64;

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw DeviceError(cat("[cuda] gemm_bf16_cublas: ", what, " failed: ", cublasLtGetStatusName(status), " (",
                          cublasLtGetStatusString(status), ")"));
}

// out = act(src + bias) over [M, N]; src [M, N] f32 with leading dimension ld_src, or null for 0.
// src may be the output itself (f32, ld_src = ldc): each element is read before it is written.
__global__ void bias_act_kernel(const float* src, int64_t ld_src, gemm::EpilogueArgs e) {
  const int64_t total = int64_t(e.M) * e.N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int row = int(i / e.N), col = int(i % e.N);
    gemm::store_one(e, row, col, src ? src[row * ld_src + col] : 0.0f);
  }
}

void launch_bias_act(const float* src, int64_t ld_src, const gemm::EpilogueArgs& e, cudaStream_t stream) {
  const int threads = 256;
  bias_act_kernel<<<grid_for(int64_t(e.M) * e.N, threads), threads, 0, stream>>>(src, ld_src, e);
  check_launch("gemm_bf16_cublas (bias and activation)");
}

// Largest power of two (at most 256) dividing the address: the alignment cuBLASLt may assume.
uint32_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

struct DeviceLt {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

// What a cached plan depends on (every value that goes into a descriptor or a preference).
using PlanKey = std::array<int64_t, 14>;

// Descriptors and algorithm for one shape. Never destroyed: the cache lives as long as the
// process, and destroying at exit could run after the CUDA context is gone.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;  // the heuristic returned an algorithm
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;  // the heuristic's answer, for the error message
};

std::mutex& lt_mutex() {
  static std::mutex m;
  return m;
}

// Caller holds lt_mutex(); `device` is current.
DeviceLt& device_lt(int device) {
  static std::array<DeviceLt, kMaxDevices> table{};
  RS_CHECK(device >= 0 && device < kMaxDevices, DeviceError, "gemm_bf16_cublas", "device ", device, " out of range");
  DeviceLt& lt = table[size_t(device)];
  if (!lt.handle) {
    check_cublas(cublasLtCreate(&lt.handle), "cublasLtCreate");
    check_cuda(cudaMalloc(&lt.workspace, kWorkspaceBytes), "gemm_bf16_cublas: cudaMalloc(workspace)");
  }
  return lt;
}

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value, const char* what) {
  check_cublas(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)), what);
}
template <typename T>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const T& value,
              const char* what) {
  check_cublas(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), what);
}

struct LtCall {
  const uint16_t* A;
  int64_t lda;
  const uint16_t* B;
  int64_t ldb;
  bool b_is_nk;
  void* D;  // what cuBLASLt writes: C itself, or the f32 temporary
  int64_t ldd;
  cudaDataType_t d_type;
  const float* bias;  // fused bias, or null
  cublasLtEpilogue_t epilogue;
  int64_t M, N, K;
};

// Caller holds lt_mutex().
Plan& plan_for(int device, DeviceLt& lt, const LtCall& c) {
  static std::map<PlanKey, Plan> cache;
  const PlanKey key{device,         c.M,       c.N,         c.K,          c.lda,
                    c.ldb,          c.ldd,     c.b_is_nk,   c.d_type,     int64_t(c.epilogue),
                    alignment(c.A), alignment(c.B), alignment(c.D), c.bias ? alignment(c.bias) : 0};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  Plan plan;
  check_cublas(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t trans_a = c.b_is_nk ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  set_desc(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, trans_a, "set TRANSA");
  set_desc(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, trans_b, "set TRANSB");
  set_desc(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, c.epilogue, "set EPILOGUE");
  if (c.bias) {
    const int32_t bias_type = CUDA_R_32F;  // our bias is f32 whatever the output type
    set_desc(plan.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type, "set BIAS_DATA_TYPE");
    // The heuristic reads the pointer for its alignment; each call sets its own.
    set_desc(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(c.bias), "set BIAS_POINTER");
  }
  // Column-major layouts (rows, cols, ld), as in the header comment.
  if (c.b_is_nk)
    check_cublas(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, uint64_t(c.K), uint64_t(c.N), c.ldb),
                 "layout of B [N, K]");
  else
    check_cublas(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, uint64_t(c.N), uint64_t(c.K), c.ldb),
                 "layout of B [K, N]");
  check_cublas(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_16BF, uint64_t(c.K), uint64_t(c.M), c.lda), "layout of A");
  check_cublas(cublasLtMatrixLayoutCreate(&plan.d, c.d_type, uint64_t(c.N), uint64_t(c.M), c.ldd), "layout of C");

  cublasLtMatmulPreference_t pref = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
  const uint64_t ws = kWorkspaceBytes;
  set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, "set MAX_WORKSPACE_BYTES");
  // Views can start anywhere: tell the heuristic the alignment we really have (default 256).
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(c.B), "set MIN_ALIGNMENT_A_BYTES");
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(c.A), "set MIN_ALIGNMENT_B_BYTES");
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(c.D), "set MIN_ALIGNMENT_C_BYTES");
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(c.D), "set MIN_ALIGNMENT_D_BYTES");
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt.handle, plan.op, plan.a, plan.b, plan.d, plan.d,
                                                           pref, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  // A failure here (NOT_SUPPORTED, or INVALID_VALUE for an epilogue this version lacks) means no
  // algorithm for this combination: the caller falls back to the unfused epilogue, or reports it.
  plan.status = st;
  plan.found = st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS;
  if (plan.found) plan.algo = result.algo;
  return cache.emplace(key, plan).first->second;
}

// Caller holds lt_mutex(). Returns false when no algorithm exists for this call (the
// heuristic's status in *why).
bool run_lt(int device, DeviceLt& lt, const LtCall& c, cudaStream_t stream, cublasStatus_t* why) {
  Plan& plan = plan_for(device, lt, c);
  *why = plan.status;
  if (!plan.found) return false;
  if (c.bias)
    set_desc(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(c.bias), "set BIAS_POINTER");
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(cublasLtMatmul(lt.handle, plan.op, &alpha, c.B, plan.a, c.A, plan.b, &beta, c.D, plan.d, c.D, plan.d,
                              &plan.algo, lt.workspace, kWorkspaceBytes, stream),
               "cublasLtMatmul");
  return true;
}

// Device memory from the caching allocator for the f32 product before the bf16 epilogue. Freed
// right after the epilogue is queued: work on the device's one stream runs in issue order.
struct TempBuffer {
  void* ptr = nullptr;
  int device = 0;
  TempBuffer(size_t bytes, int dev) : ptr(cuda_runtime::allocate(bytes, dev)), device(dev) {}
  ~TempBuffer() { cuda_runtime::release(ptr, device); }
  TempBuffer(const TempBuffer&) = delete;
  TempBuffer& operator=(const TempBuffer&) = delete;
};

}  // namespace

void gemm_bf16_cublas(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
                      DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N,
                      int64_t K, int device) {
  check_gemm_bf16_args("gemm_bf16_cublas", lda, ldb, b_is_nk, c_dtype, ldc, M, N, K);
  if (M == 0 || N == 0) return;
  cudaStream_t stream = stream_for(device);
  const bool c_bf16 = c_dtype == DType::bf16;
  const gemm::EpilogueArgs epi{C, ldc, c_bf16, gemm::epilogue_pair_aligned(C, ldc, c_bf16), bias, act,
                               int(M), int(N)};
  if (K == 0) return launch_bias_act(nullptr, 0, epi, stream);  // an empty sum: act(bias)

  std::lock_guard<std::mutex> lock(lt_mutex());
  DeviceLt& lt = device_lt(device);
  const cudaDataType_t c_type = c_bf16 ? CUDA_R_16BF : CUDA_R_32F;

  // 1. Fully fused, where cuBLASLt has the epilogue.
  if (act == GemmActivation::none || act == GemmActivation::gelu_tanh) {
    cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_DEFAULT;
    if (act == GemmActivation::none && bias) e = CUBLASLT_EPILOGUE_BIAS;
    if (act == GemmActivation::gelu_tanh) e = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    const LtCall call{A, lda, B, ldb, b_is_nk, C, ldc, c_type, bias, e, M, N, K};
    cublasStatus_t why;
    if (run_lt(device, lt, call, stream, &why)) return;
    if (e == CUBLASLT_EPILOGUE_DEFAULT)
      throw DeviceError(cat("[cuda] gemm_bf16_cublas: no cuBLASLt algorithm for M=", M, " N=", N, " K=", K,
                            " lda=", lda, " ldb=", ldb, " ldc=", ldc, " (heuristic: ", cublasLtGetStatusName(why),
                            ")"));
  }

  // 2. Plain product in f32, then bias + activation + rounding in our kernel.
  auto plain = [&](void* D, int64_t ldd) {
    const LtCall call{A, lda, B, ldb, b_is_nk, D, ldd, CUDA_R_32F, nullptr, CUBLASLT_EPILOGUE_DEFAULT, M, N, K};
    cublasStatus_t why;
    if (!run_lt(device, lt, call, stream, &why))
      throw DeviceError(cat("[cuda] gemm_bf16_cublas: no cuBLASLt algorithm for M=", M, " N=", N, " K=", K,
                            " lda=", lda, " ldb=", ldb, " (heuristic: ", cublasLtGetStatusName(why), ")"));
  };
  if (!c_bf16) {
    plain(C, ldc);
    launch_bias_act(static_cast<const float*>(C), ldc, epi, stream);  // in place
  } else {
    TempBuffer tmp(size_t(M) * size_t(N) * sizeof(float), device);
    plain(tmp.ptr, N);
    launch_bias_act(static_cast<const float*>(tmp.ptr), N, epi, stream);
  }
}

}  // namespace rscapret::kernels::cuda
