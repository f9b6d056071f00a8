// C[M, N] = A[M, K] @ W[N, K]^T for f32 A and a bf16/f16 weight W stored row-major ([N, K], as
// Hugging Face stores Linear weights), M <= kGemvHalfMaxM: the decode path of 16-bit models.
#pragma once

#include <cstdint>

namespace rscapret::kernels {

inline constexpr int64_t kGemvHalfMaxM = 8;

void gemv_half(bool bf16, const float* A, int64_t lda, int64_t M, const uint16_t* W, int64_t ldw, int64_t N, int64_t K,
               float* C, int64_t ldc);

}  // namespace rscapret::kernels
