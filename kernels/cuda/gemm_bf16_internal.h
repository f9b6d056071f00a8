// Host-side pieces shared by the bf16 GEMM files, the CUDA tests and the kernel lab (no CUDA
// headers): the argument checks of gemm_bf16 / gemm_bf16_cublas, and a switch that forces one of
// our tile configurations so that tests and the lab reach every kernel whatever the shape.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace rscapret::kernels::cuda {

// Our kernels for gemm_bf16 (backend ours): automatic picks by shape; the others force one:
// k64 = 128x128 tiles, K steps of 64, 3 stages; k32 = 128x128, K steps of 32, 4 stages;
// small = 64x64, K steps of 32, 4 stages; skinny = the decode kernel, which applies only where its
// preconditions hold (M <= 8, B [N, K], K % 8 == 0, 16-byte aligned rows; elsewhere a forced
// skinny falls back to automatic). Process-wide.
enum class GemmTiles : uint8_t { automatic, k64, k32, small, skinny, wgmma };
void set_gemm_tiles(GemmTiles tiles);
GemmTiles gemm_tiles();

// Launches of the Hopper wgmma kernel so far in this process (0 without CUDA): a forced wgmma whose
// preconditions fail falls back to the mma.sync kernels silently, so tests count launches to know
// which kernel they checked.
int64_t gemm_bf16_wgmma_launches();
// Launches of the decode GEMVs that applied an RmsNormOnLoad (0 without CUDA): a declined norm is
// applied by rms_norm instead with the same bits, so tests count launches to know which ran.
int64_t gemv_rms_norm_launches();
// Whether `device` is a cc 9.0 GPU (Hopper), and whether this binary runs the wgmma kernel on it
// (false on Hopper when the build lacks sm_90a). Both false without CUDA.
bool cuda_device_is_sm90(int device);
bool gemm_bf16_wgmma_supported(int device);

// The wgmma kernel also takes B [K,N] (row-major, the backward's dY W with W [N_out, K_in] read in
// place), as an MN-major operand. Automatic and forced use both require that the device passed this
// variant's self-check (run once per device on first use; false without CUDA or off Hopper), and
// that the switch (process-wide, on by default; off sends B [K,N] products to the mma.sync kernels,
// for before/after timings) is on.
bool gemm_bf16_wgmma_kn_verified(int device);
void set_gemm_wgmma_kn(bool on);
bool gemm_wgmma_kn();

// The self-check's product: C [M,N] = A [M,K] @ B [K,N] with small integer operands (bf16 bits), so
// every partial sum is an integer below 2^24 and f32 accumulation in any order is exact: the device
// result must equal `expected` bit for bit. Two M tiles (the second partial), N tails for both tile
// widths, nine K tiles (more than the 4 or 6 pipeline stages, so the stage ring wraps as at the
// model's K = 4096); the values depend on row and column through a mixing term, so a permuted or
// transposed read of B gives other sums.
struct WgmmaKnSelfCheck {
  int64_t M = 192, N = 320, K = 576;
  std::vector<uint16_t> a, b;  // bf16 bits, A [M,K], B [K,N], dense rows
  std::vector<float> expected;  // [M,N]
};
inline WgmmaKnSelfCheck wgmma_kn_self_check_case() {
  WgmmaKnSelfCheck c;
  auto value = [](int64_t i, int64_t j, int64_t salt) { return int((i * 131 + j * 71 + (i * j + salt) % 13) % 7) - 3; };
  auto bf16_bits = [](int v) {  // a small integer in bf16: exact (|v| <= 3)
    const float f = float(v);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return uint16_t(u >> 16);
  };
  c.a.resize(size_t(c.M * c.K));
  c.b.resize(size_t(c.K * c.N));
  c.expected.assign(size_t(c.M * c.N), 0.0f);
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t k = 0; k < c.K; ++k) c.a[size_t(m * c.K + k)] = bf16_bits(value(m, k, 5));
  for (int64_t k = 0; k < c.K; ++k)
    for (int64_t n = 0; n < c.N; ++n) c.b[size_t(k * c.N + n)] = bf16_bits(value(k, n, 11));
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      int64_t acc = 0;
      for (int64_t k = 0; k < c.K; ++k) acc += int64_t(value(m, k, 5)) * value(k, n, 11);
      c.expected[size_t(m * c.N + n)] = float(acc);
    }
  return c;
}

// The self-check's verdict on the device's result: every value equal to the expected one, compared
// as floats, not bytes: a NaN (an output the kernel did not write) fails, and a zero the tensor
// cores happen to write as -0.0 passes (bytes would lose the fast path to a sign bit).
inline bool wgmma_kn_self_check_passes(const WgmmaKnSelfCheck& c, const std::vector<float>& got) {
  if (got.size() != c.expected.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == c.expected[i])) return false;
  return true;
}

// Throws DTypeError / ValueError for arguments no GEMM can run with.
inline void check_gemm_bf16_args(const char* op, int64_t lda, int64_t ldb, bool b_is_nk, DType c_dtype,
                                 int64_t ldc, int64_t M, int64_t N, int64_t K) {
  RS_CHECK(c_dtype == DType::f32 || c_dtype == DType::bf16, DTypeError, op, "output must be f32 or bf16, got ",
           dtype_name(c_dtype));
  RS_CHECK(M >= 0 && N >= 0 && K >= 0, ValueError, op, "negative size M=", M, " N=", N, " K=", K);
  // 2^30 keeps every tile index and row + 16 inside int in the kernels.
  constexpr int64_t kMax = int64_t(1) << 30;
  RS_CHECK(M < kMax && N < kMax && K < kMax, ValueError, op, "size too large M=", M, " N=", N, " K=", K);
  RS_CHECK(lda >= K && ldb >= (b_is_nk ? K : N) && ldc >= N, ValueError, op,
           "a leading dimension is shorter than its row: lda=", lda, " (K=", K, "), ldb=", ldb,
           (b_is_nk ? " (K=" : " (N="), (b_is_nk ? K : N), "), ldc=", ldc, " (N=", N, ")");
}

}  // namespace rscapret::kernels::cuda
