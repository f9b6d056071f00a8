// gemm_bf16: the process-wide backend choice (ours or cuBLASLt), and the choice among our
// kernels by shape: the mma.sync kernel in three tile configurations (gemm_bf16_kernel.cuh) and
// the streaming kernel for decode-shaped products (gemm_bf16_skinny.cuh).
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "kernels/cuda/gemm_bf16_kernel.cuh"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/gemm_bf16_skinny.cuh"
#include "kernels/cuda/gemm_bf16_wgmma.cuh"
#include "kernels/cuda/launch.cuh"
#include "tensor/feature_switch.h"

namespace rscapret::kernels::cuda {

namespace {

using gemm::MmaConfig;
using gemm::CfgK32;  // the production tile configurations (gemm_bf16_kernel.cuh)
using gemm::CfgK64;
using gemm::CfgSmall;
// K from which k64 replaces k32: measured faster at 8192, slower at 1024; between, a guess.
constexpr int64_t kLongK = 4096;

std::atomic<GemmBackend>& backend_slot() {
  static std::atomic<GemmBackend> slot{[] {
    const char* env = std::getenv("RSCAPRET_GEMM");
    return env && std::strcmp(env, "cublas") == 0 ? GemmBackend::cublas : GemmBackend::ours;
  }()};
  return slot;
}

std::atomic<int64_t>& gemv_rms_norm_count() {
  static std::atomic<int64_t> n{0};
  return n;
}

std::atomic<bool>& norm_in_gemv_slot() {
  static std::atomic<bool> slot{feature_enabled_by_env("norm_in_gemv")};
  return slot;
}

std::atomic<bool>& wgmma_kn_slot() {
  static std::atomic<bool> slot{feature_enabled_by_env("wgmma_kn")};
  return slot;
}

std::atomic<GemmTiles>& tiles_slot() {
  static std::atomic<GemmTiles> slot{GemmTiles::automatic};
  return slot;
}

int sm_count(int device) {
  static std::array<std::atomic<int>, 64> cache{};
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable) {
    const int n = cache[size_t(device)].load(std::memory_order_relaxed);
    if (n > 0) return n;
  }
  int n = 0;
  check_cuda(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "gemm_bf16: multiprocessor count");
  if (cacheable) cache[size_t(device)].store(n, std::memory_order_relaxed);
  return n;
}

// Estimated time of a config, up to a common factor: waves of resident blocks times the time of
// one wave (a block's tile area times the blocks sharing an SM, over the tile shape's relative
// efficiency). Small tiles win only where 128x128 tiles leave much of the last wave idle.
template <class Cfg>
double tile_cost(int64_t M, int64_t N, int sms, double efficiency) {
  const int64_t slots = int64_t(sms) * Cfg::MIN_BLOCKS;
  const int64_t waves = (gemm::mma_tiles<Cfg>(M, N) + slots - 1) / slots;
  return double(waves) * Cfg::BM * Cfg::BN * Cfg::MIN_BLOCKS / efficiency;
}

GemmTiles pick_tiles(int64_t M, int64_t N, int64_t K, int device) {
  const int sms = sm_count(device);
  // Relative efficiency of small tiles: 153 / 279 and 148 / 242 TFLOP/s on the H100 (run 1).
  const double big = tile_cost<CfgK32>(M, N, sms, 1.0), small = tile_cost<CfgSmall>(M, N, sms, 0.58);
  if (small < big) return GemmTiles::small;
  return K >= kLongK ? GemmTiles::k64 : GemmTiles::k32;
}

// Whether the wgmma kernel takes 128x256 tiles (else 128x128). Per tile the wide one runs faster
// (a 128x128 tile ran at 0.88 of its speed over four shapes on the H200, gemm_wgmma_lab), but a
// product with few tiles leaves much of its last wave idle: 512 x 11008 is 172 wide tiles on 132
// SMs (2 waves, 65% busy) or 344 narrow ones (3 waves, 87%). Fraction of the waves' slots used,
// times the tile's relative speed, picks the faster.
bool wgmma_wide_tiles(int64_t M, int64_t N, int sms) {
  if (N < 256) return false;
  auto busy = [sms](int64_t tiles) {
    const int64_t waves = (tiles + sms - 1) / sms;
    return double(tiles) / double(waves * sms);
  };
  const int64_t tm = (M + 127) / 128;
  return busy(tm * ((N + 255) / 256)) >= 0.88 * busy(tm * ((N + 127) / 128));
}

bool aligned16(const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; }

bool skinny_ok(const gemm::SkinnyArgs& s, bool b_is_nk) {
  // f32 A: 8 elements are two 16-byte loads, so rows must start 16-byte aligned (lda % 4 would
  // do; lda % 8 keeps one rule for both types).
  const void* a = s.A32 ? static_cast<const void*>(s.A32) : static_cast<const void*>(s.A);
  return b_is_nk && s.M >= 1 && s.M <= 8 && s.K % 8 == 0 && s.lda % 8 == 0 && s.ldb % 8 == 0 && aligned16(a) &&
         aligned16(s.B);
}

// The products the automatic choice gives the wgmma kernel (see gemm_bf16_ours).
bool wgmma_automatic_shape(int64_t M, int64_t N, int64_t K) { return M > 8 && N % 256 == 0 && K % 64 == 0; }

// The wgmma kernel at the tile width wgmma_wide_tiles picks; a launch is counted
// (gemm_bf16_wgmma_launches). False where the kernel does not apply (nothing launched).
bool launch_wgmma(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk,
                  const gemm::EpilogueArgs& epi, int64_t K, int device, cudaStream_t stream) {
  const bool ran = wgmma_wide_tiles(epi.M, epi.N, sm_count(device))
                       ? wgmma_tma::gemm_bf16_wgmma<256>(A, lda, B, ldb, b_is_nk, epi, K, stream)
                       : wgmma_tma::gemm_bf16_wgmma<128>(A, lda, B, ldb, b_is_nk, epi, K, stream);
  if (ran) wgmma_tma::host::launches().fetch_add(1, std::memory_order_relaxed);
  return ran;
}

void gemm_bf16_ours(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
                    DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N,
                    int64_t K, int device) {
  check_gemm_bf16_args("gemm_bf16", lda, ldb, b_is_nk, c_dtype, ldc, M, N, K);
  if (M == 0 || N == 0) return;
  cudaStream_t stream = stream_for(device);
  const bool c_bf16 = c_dtype == DType::bf16;
  const gemm::EpilogueArgs epi{C,    ldc, c_bf16, gemm::epilogue_pair_aligned(C, ldc, c_bf16), bias, act,
                               int(M), int(N)};

  GemmTiles tiles = gemm_tiles();
  // Hopper: TMA + wgmma, measured at 0.91-1.06 of cuBLASLt on the H100 and 0.74-0.99 at every lab
  // shape on the H200 (bench/RESULTS.md), with the same fused epilogue as the mma.sync kernels
  // (bias, activation, f32 or bf16 output).
  // Automatic use is limited to what the H100 runs validated: any M (partial 128-row tiles
  // included), N a multiple of the 256-column tile, K of the 64-deep k-tile. Partial N and K
  // tiles (TMA zero fill) are reached only when forced, until a GPU run of the tests covers them.
  // B [K,N] (the backward's dY W) takes the same kernel with an MN-major B operand where the
  // device passed that variant's self-check (wgmma_kn_verified).
  if ((tiles == GemmTiles::automatic && wgmma_automatic_shape(M, N, K)) || tiles == GemmTiles::wgmma) {
    const bool layout_ok = b_is_nk || (gemm_wgmma_kn() && gemm_bf16_wgmma_kn_verified(device));
    if (layout_ok && launch_wgmma(A, lda, B, ldb, b_is_nk, epi, K, device, stream)) return;
    if (tiles == GemmTiles::wgmma) tiles = GemmTiles::automatic;
  }
  const gemm::SkinnyArgs s{A, lda, B, ldb, int(M), int(N), int(K), epi};
  if ((tiles == GemmTiles::automatic || tiles == GemmTiles::skinny) && skinny_ok(s, b_is_nk))
    return gemm::launch_skinny(s, stream);
  if (tiles == GemmTiles::automatic || tiles == GemmTiles::skinny) tiles = pick_tiles(M, N, K, device);

  const gemm::MmaArgs p{A, lda, B, ldb, int(M), int(N), int(K), epi};
  switch (tiles) {
    case GemmTiles::k64:
      // The bounds-checked loads of the slow path would spill at k64's 128-register cap (2 blocks
      // per SM); that path serves odd shapes, where k32 does as well.
      if (gemm::mma_vec_ok(p, b_is_nk)) {
        if (b_is_nk) return gemm::launch_mma_variant<CfgK64, true, true>(p, stream, device);
        return gemm::launch_mma_variant<CfgK64, false, true>(p, stream, device);
      }
      return gemm::launch_mma<CfgK32>(p, b_is_nk, stream, device);
    case GemmTiles::k32: return gemm::launch_mma<CfgK32>(p, b_is_nk, stream, device);
    default: return gemm::launch_mma<CfgSmall>(p, b_is_nk, stream, device);
  }
}

}  // namespace

GemmBackend gemm_backend() { return backend_slot().load(std::memory_order_relaxed); }
void set_gemm_backend(GemmBackend backend) { backend_slot().store(backend, std::memory_order_relaxed); }
GemmTiles gemm_tiles() { return tiles_slot().load(std::memory_order_relaxed); }
void set_gemm_tiles(GemmTiles tiles) { tiles_slot().store(tiles, std::memory_order_relaxed); }
int64_t gemm_bf16_wgmma_launches() { return wgmma_tma::host::launches().load(std::memory_order_relaxed); }
bool cuda_device_is_sm90(int device) {
  cudaDeviceProp prop{};
  return cudaGetDeviceProperties(&prop, device) == cudaSuccess && prop.major == 9 && prop.minor == 0;
}
void set_gemm_wgmma_kn(bool on) { wgmma_kn_slot().store(on, std::memory_order_relaxed); }
void set_cuda_norm_in_gemv(bool on) { norm_in_gemv_slot().store(on, std::memory_order_relaxed); }
bool cuda_norm_in_gemv() { return norm_in_gemv_slot().load(std::memory_order_relaxed); }
int64_t gemv_rms_norm_launches() { return gemv_rms_norm_count().load(std::memory_order_relaxed); }
// The kernel reproduces the bits of rms_norm's block-per-row kernel only (norm_row_order.cuh).
bool gemv_takes_rms_norm(int64_t K) { return cuda_norm_in_gemv() && norm_order::block_owns_row(K); }

void rms_norm_rstd_as_gemv(const float* x, float* rstd, int64_t rows, int64_t cols, float eps, int device) {
  RS_CHECK(rows >= 0 && rows <= 0x7fffffff && norm_order::block_owns_row(cols), ValueError, "rms_norm_rstd_as_gemv",
           "rows ", rows, " and cols ", cols, " out of range");
  if (rows == 0) return;
  launch_plain(norm_order::rstd_in_block_order_kernel<>, dim3(unsigned(rows)), dim3(gemm::kSkinnyThreads), 0, stream_for(device),
               "rms_norm_rstd_as_gemv", x, rstd, cols, eps);
}
bool gemm_wgmma_kn() { return wgmma_kn_slot().load(std::memory_order_relaxed); }

// The wgmma kernel with B [K,N] was written without a GPU to run it on (its MN-major descriptor and
// transposed instruction follow the PTX canonical layouts, unmeasured). Before production uses it on
// a device, both tile widths compute one small exact product there (integer-valued operands, so f32
// accumulation in any order gives the host's values exactly: wgmma_kn_self_check_case); a
// mismatch keeps every B [K,N] product on the mma.sync kernels and says so once on stderr.
bool gemm_bf16_wgmma_kn_verified(int device) {
  static std::array<std::atomic<int>, 64> cache{};  // 0 unknown, 1 passed, 2 failed or unavailable
  if (device < 0 || device >= 64) return false;
  const int known = cache[size_t(device)].load(std::memory_order_acquire);
  if (known != 0) return known == 1;
  const bool ok = gemm_bf16_wgmma_supported(device) && [device] {
    const WgmmaKnSelfCheck c = wgmma_kn_self_check_case();
    uint16_t *dA = nullptr, *dB = nullptr;
    float* dC = nullptr;
    const size_t c_bytes = c.expected.size() * sizeof(float);
    cudaStream_t stream = stream_for(device);
    // Uploads on the project's stream (a non-blocking one): cudaMemcpy from pageable memory on the
    // legacy stream may return before the data has landed, and would not order the kernel after it.
    bool passed = cudaMalloc(&dA, c.a.size() * 2) == cudaSuccess && cudaMalloc(&dB, c.b.size() * 2) == cudaSuccess &&
                  cudaMalloc(&dC, c_bytes) == cudaSuccess &&
                  cudaMemcpyAsync(dA, c.a.data(), c.a.size() * 2, cudaMemcpyHostToDevice, stream) == cudaSuccess &&
                  cudaMemcpyAsync(dB, c.b.data(), c.b.size() * 2, cudaMemcpyHostToDevice, stream) == cudaSuccess &&
                  cudaStreamSynchronize(stream) == cudaSuccess;
    std::vector<float> got(c.expected.size());
    for (int width : {128, 256}) {
      if (!passed) break;
      passed = cudaMemsetAsync(dC, 0xFF, c_bytes, stream) == cudaSuccess;  // NaN: unwritten outputs show
      passed = passed && (width == 256 ? wgmma_tma::gemm_bf16_wgmma_f32<256>(dA, c.K, dB, c.N, false, dC, c.N, c.M,
                                                                               c.N, c.K, stream)
                                       : wgmma_tma::gemm_bf16_wgmma_f32<128>(dA, c.K, dB, c.N, false, dC, c.N, c.M,
                                                                               c.N, c.K, stream));
      passed = passed && cudaStreamSynchronize(stream) == cudaSuccess &&
               cudaMemcpyAsync(got.data(), dC, c_bytes, cudaMemcpyDeviceToHost, stream) == cudaSuccess &&
               cudaStreamSynchronize(stream) == cudaSuccess &&
               wgmma_kn_self_check_passes(c, got);
    }
    if (!passed) {
      (void)cudaGetLastError();  // a failed allocation or launch is this check's answer, not a later call's error
      std::fprintf(stderr,
                   "[wgmma] the B [K,N] variant failed its self-check on device %d: products with B [K,N] "
                   "stay on the mma.sync kernels\n",
                   device);
    }
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dC);
    return passed;
  }();
  cache[size_t(device)].store(ok ? 1 : 2, std::memory_order_release);
  return ok;
}

bool gemm_bf16_wgmma_supported(int device) {
  int current = 0;
  check_cuda(cudaGetDevice(&current), "gemm_bf16_wgmma_supported: current device");
  if (current != device) check_cuda(cudaSetDevice(device), "gemm_bf16_wgmma_supported: set device");
  const bool ok = wgmma_tma::host::wgmma_available(device);  // the probe launches on the current device
  if (current != device) check_cuda(cudaSetDevice(current), "gemm_bf16_wgmma_supported: restore device");
  return ok;
}

namespace {

// The f32-activation entry points run on our kernels with the automatic choice only (a forced
// tile choice or the cuBLASLt backend takes the caller's general path).
bool f32a_allowed() { return gemm_backend() == GemmBackend::ours && gemm_tiles() == GemmTiles::automatic; }

// Their shared tail: f32 A in s (with the RMSNorm to apply as it loads, if any), then the skinny
// kernel where it applies.
bool launch_f32a(gemm::SkinnyArgs s, const float* A, int device, const RmsNormOnLoad* norm = nullptr) {
  s.A32 = A;
  if (norm) {
    const void* w = norm->w ? static_cast<const void*>(norm->w) : static_cast<const void*>(norm->w_bf16);
    if (!gemv_takes_rms_norm(s.K) || !w || !aligned16(w)) return false;
    s.norm_w = norm->w;
    s.norm_w16 = norm->w ? nullptr : norm->w_bf16;
    s.norm_eps = norm->eps;
  }
  if (!skinny_ok(s, true)) return false;
  gemm::launch_skinny(s, stream_for(device));
  if (norm) gemv_rms_norm_count().fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace

bool gemm_bf16_f32a(const float* A, int64_t lda, const uint16_t* B, int64_t ldb, void* C, DType c_dtype,
                    int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N, int64_t K, int device) {
  if (!f32a_allowed()) return false;
  check_gemm_bf16_args("gemm_bf16_f32a", lda, ldb, true, c_dtype, ldc, M, N, K);
  if (M == 0 || N == 0) return false;  // the caller's general path handles empty products
  const bool c_bf16 = c_dtype == DType::bf16;
  const gemm::EpilogueArgs epi{C,    ldc, c_bf16, gemm::epilogue_pair_aligned(C, ldc, c_bf16), bias, act,
                               int(M), int(N)};
  return launch_f32a(gemm::SkinnyArgs{nullptr, lda, B, ldb, int(M), int(N), int(K), epi}, A, device);
}

namespace {

// The epilogue of the residual entry points (f32 C = residual + A B^T + bias), after their shared
// checks; nullopt where they decline (not our kernels' automatic choice, no residual, an empty product).
std::optional<gemm::EpilogueArgs> residual_epilogue(const char* op, int64_t lda, int64_t ldb, float* C, int64_t ldc,
                                                    const float* bias, const float* residual, int64_t ldr, int64_t M,
                                                    int64_t N, int64_t K) {
  if (!f32a_allowed() || !residual) return std::nullopt;
  check_gemm_bf16_args(op, lda, ldb, true, DType::f32, ldc, M, N, K);
  RS_CHECK(ldr >= N, ValueError, op, "residual leading dimension ", ldr, " < N = ", N);
  if (M == 0 || N == 0) return std::nullopt;
  gemm::EpilogueArgs epi{C, ldc, false, gemm::epilogue_pair_aligned(C, ldc, false), bias, GemmActivation::none,
                         int(M), int(N)};
  epi.residual = residual;
  epi.ldr = ldr;
  return epi;
}

}  // namespace

bool gemm_bf16_f32a_residual(const float* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc,
                             const float* bias, const float* residual, int64_t ldr, int64_t M, int64_t N, int64_t K,
                             int device) {
  const auto epi = residual_epilogue("gemm_bf16_f32a_residual", lda, ldb, C, ldc, bias, residual, ldr, M, N, K);
  return epi && launch_f32a(gemm::SkinnyArgs{nullptr, lda, B, ldb, int(M), int(N), int(K), *epi}, A, device);
}

bool gemm_bf16_residual(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc,
                        const float* bias, const float* residual, int64_t ldr, int64_t M, int64_t N, int64_t K,
                        int device) {
  const auto epi = residual_epilogue("gemm_bf16_residual", lda, ldb, C, ldc, bias, residual, ldr, M, N, K);
  if (!epi) return false;
  cudaStream_t stream = stream_for(device);
  // The shapes the automatic choice sends to wgmma (gemm_bf16_ours), then the decode kernel.
  if (wgmma_automatic_shape(M, N, K) && launch_wgmma(A, lda, B, ldb, true, *epi, K, device, stream)) return true;
  const gemm::SkinnyArgs s{A, lda, B, ldb, int(M), int(N), int(K), *epi};
  if (!skinny_ok(s, true)) return false;
  gemm::launch_skinny(s, stream);
  return true;
}

bool gemm_bf16_f32a_glu(const float* A, int64_t lda, const uint16_t* B_gate, const uint16_t* B_up, int64_t ldb,
                        float* C, int64_t ldc, GemmActivation act, int64_t M, int64_t N, int64_t K, int device,
                        const RmsNormOnLoad* norm) {
  if (!f32a_allowed()) return false;
  check_gemm_bf16_args("gemm_bf16_f32a_glu", lda, ldb, true, DType::f32, ldc, M, N, K);
  if (M == 0 || N == 0 || !aligned16(B_up)) return false;
  const gemm::EpilogueArgs epi{C, ldc, false, gemm::epilogue_pair_aligned(C, ldc, false), nullptr, act,
                               int(M), int(N)};
  gemm::SkinnyArgs s{nullptr, lda, B_gate, ldb, int(M), int(N), int(K), epi};
  s.B_up = B_up;
  return launch_f32a(s, A, device, norm);
}

bool gemm_bf16_f32a_concat(const float* A, int64_t lda, const uint16_t* const* B, const int64_t* N, int count,
                           int64_t ldb, float* C, int64_t M, int64_t K, int device, const RmsNormOnLoad* norm) {
  if (!f32a_allowed() || count < 1 || count > 3) return false;
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    if (N[i] <= 0 || !aligned16(B[i])) return false;
    total += N[i];
  }
  check_gemm_bf16_args("gemm_bf16_f32a_concat", lda, ldb, true, DType::f32, total, M, total, K);
  if (M == 0) return false;
  const gemm::EpilogueArgs epi{C,      total, false, gemm::epilogue_pair_aligned(C, total, false), nullptr,
                               GemmActivation::none, int(M), int(total)};
  gemm::SkinnyArgs s{nullptr, lda, B[0], ldb, int(M), int(total), int(K), epi};
  if (count > 1) s.B_seg1 = B[1], s.seg1 = int(N[0]);
  if (count > 2) s.B_seg2 = B[2], s.seg2 = int(N[0] + N[1]);
  return launch_f32a(s, A, device, norm);
}

void gemm_bf16(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
               DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N, int64_t K,
               int device) {
  if (gemm_backend() == GemmBackend::cublas)
    return gemm_bf16_cublas(A, lda, B, ldb, b_is_nk, C, c_dtype, ldc, bias, act, M, N, K, device);
  gemm_bf16_ours(A, lda, B, ldb, b_is_nk, C, c_dtype, ldc, bias, act, M, N, K, device);
}

}  // namespace rscapret::kernels::cuda
