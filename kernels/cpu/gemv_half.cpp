// Small-M products with 16-bit weights: C[M, N] = A[M, K] (f32) @ W[N, K]^T (bf16 or f16), M <= 8.
// Decoding is bound by reading the weights, so each weight row is read once, widened to f32 in
// registers and used for all M rows of A; nothing is converted to an f32 buffer first.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/gemv_half.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/parallel.h"
#include "tensor/dtype.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename Half>
void GemvRows(const float* HWY_RESTRICT A, int64_t lda, int64_t M, const uint16_t* HWY_RESTRICT W, int64_t ldw,
              int64_t n0, int64_t n1, int64_t K, float* HWY_RESTRICT C, int64_t ldc) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<Half, decltype(d)> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  if (M == 1) {  // decode: four independent accumulators, so the FMA latency never limits the stream
    for (int64_t n = n0; n < n1; ++n) {
      const Half* w = reinterpret_cast<const Half*>(W + n * ldw);
      auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
      int64_t k = 0;
      for (; k + 4 * N <= K; k += 4 * N) {
        a0 = hn::MulAdd(hn::LoadU(d, A + k), hn::PromoteTo(d, hn::LoadU(dh, w + k)), a0);
        a1 = hn::MulAdd(hn::LoadU(d, A + k + N), hn::PromoteTo(d, hn::LoadU(dh, w + k + N)), a1);
        a2 = hn::MulAdd(hn::LoadU(d, A + k + 2 * N), hn::PromoteTo(d, hn::LoadU(dh, w + k + 2 * N)), a2);
        a3 = hn::MulAdd(hn::LoadU(d, A + k + 3 * N), hn::PromoteTo(d, hn::LoadU(dh, w + k + 3 * N)), a3);
      }
      for (; k + N <= K; k += N) a0 = hn::MulAdd(hn::LoadU(d, A + k), hn::PromoteTo(d, hn::LoadU(dh, w + k)), a0);
      float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
      for (; k < K; ++k) {
        const uint16_t bits = W[n * ldw + k];
        s += A[k] * (std::is_same_v<Half, hwy::bfloat16_t> ? bf16_to_f32(bits) : f16_to_f32(bits));
      }
      C[n] = s;
    }
    return;
  }
  for (int64_t n = n0; n < n1; ++n) {
    const Half* w = reinterpret_cast<const Half*>(W + n * ldw);
    hn::Vec<decltype(d)> acc[kGemvHalfMaxM];
    for (int64_t m = 0; m < M; ++m) acc[m] = hn::Zero(d);
    int64_t k = 0;
    for (; k + N <= K; k += N) {
      const auto wv = hn::PromoteTo(d, hn::LoadU(dh, w + k));
      for (int64_t m = 0; m < M; ++m) acc[m] = hn::MulAdd(hn::LoadU(d, A + m * lda + k), wv, acc[m]);
    }
    for (int64_t m = 0; m < M; ++m) {
      float s = hn::GetLane(hn::SumOfLanes(d, acc[m]));
      for (int64_t kk = k; kk < K; ++kk) {
        const uint16_t bits = W[n * ldw + kk];
        s += A[m * lda + kk] * (std::is_same_v<Half, hwy::bfloat16_t> ? bf16_to_f32(bits) : f16_to_f32(bits));
      }
      C[m * ldc + n] = s;
    }
  }
}

void GemvHalfF32(bool bf16, const float* A, int64_t lda, int64_t M, const uint16_t* W, int64_t ldw, int64_t n0,
                 int64_t n1, int64_t K, float* C, int64_t ldc) {
  if (bf16) GemvRows<hwy::bfloat16_t>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
  else GemvRows<hwy::float16_t>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(GemvHalfF32);

void gemv_half(bool bf16, const float* A, int64_t lda, int64_t M, const uint16_t* W, int64_t ldw, int64_t N, int64_t K,
               float* C, int64_t ldc) {
  // Rows of W split over threads in blocks; each output element is one thread's sequential sum.
  parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    HWY_DYNAMIC_DISPATCH(GemvHalfF32)(bf16, A, lda, M, W, ldw, n0, n1, K, C, ldc);
  });
}

}  // namespace rscapret::kernels
#endif  // HWY_ONCE
