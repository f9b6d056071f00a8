// q8_0 quantization and the product with q8_0 weights, as plainly as they can be written.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

namespace {
constexpr int64_t kBlock = 32;  // kQ8Block of kernels/cpu/quant_q8.h
}

bool quantize_q8_row(const float* w, int64_t K, int8_t* codes, float* scales) {
  for (int64_t b0 = 0; b0 < K; b0 += kBlock) {
    const int64_t b1 = std::min(K, b0 + kBlock);
    float amax = 0.0f;
    for (int64_t k = b0; k < b1; ++k) {
      if (!std::isfinite(w[k])) return false;
      amax = std::max(amax, std::fabs(w[k]));
    }
    // d is what dequantization multiplies by; dividing by the stored d (not multiplying by a
    // rounded 1/d) makes each code the nearest one to w / d for the d that is kept.
    const float d = amax / 127.0f;
    scales[b0 / kBlock] = d;
    for (int64_t k = b0; k < b1; ++k)
      codes[k] = d == 0.0f ? int8_t(0) : int8_t(std::clamp(std::nearbyint(w[k] / d), -127.0f, 127.0f));
  }
  return true;
}

template <typename T>
void matmul_q8(const T* A, int64_t lda, const int8_t* codes, const float* scales, T* C, int64_t M, int64_t N,
               int64_t K) {
  const int64_t blocks = (K + kBlock - 1) / kBlock;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(A[m * lda + k]) * double(T(codes[n * K + k]) * T(scales[n * blocks + k / kBlock]));
      C[m * N + n] = T(acc);
    }
}

template void matmul_q8<float>(const float*, int64_t, const int8_t*, const float*, float*, int64_t, int64_t, int64_t);
template void matmul_q8<double>(const double*, int64_t, const int8_t*, const float*, double*, int64_t, int64_t,
                                int64_t);

}  // namespace rscapret::kernels::ref
