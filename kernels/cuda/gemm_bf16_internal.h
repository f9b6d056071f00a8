// Host-side pieces shared by the bf16 GEMM files, the CUDA tests and the kernel lab (no CUDA
// headers): the argument checks of gemm_bf16 / gemm_bf16_cublas, and a switch that forces one of
// our tile configurations so that tests and the lab reach every kernel whatever the shape.
#pragma once

#include <cstdint>

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
// Whether `device` is a cc 9.0 GPU (Hopper), and whether this binary runs the wgmma kernel on it
// (false on Hopper when the build lacks sm_90a). Both false without CUDA.
bool cuda_device_is_sm90(int device);
bool gemm_bf16_wgmma_supported(int device);

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
