// q8_0 kernels: quantization (row by row, the reference's own loop), dequantization and the
// products with f32 activations. See quant_q8.h for the format.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/quant_q8.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/quant_q8.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 f32 lanes, so two vectors never span more than one block of 32 codes.
using DF = hn::CappedTag<float, 16>;

// 32 / (2 lanes) pairs of vectors per block: w = code * scale, widened in registers.
template <class D>
HWY_INLINE hn::Vec<D> WidenCodes(D d, const int8_t* HWY_RESTRICT q, hn::Vec<D> scale) {
  const hn::RebindToSigned<D> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  return hn::Mul(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, q))), scale);
}

// C[r, n] for r < MR and rows n in [n0, n1) of W: each weight row is read once and used for all
// MR rows of A. Two accumulators per row of A hide the FMA latency when MR is small.
template <int MR>
void GemvRows(const float* HWY_RESTRICT A, int64_t lda, const int8_t* HWY_RESTRICT codes,
              const float* HWY_RESTRICT scales, int64_t K, int64_t n0, int64_t n1, float* HWY_RESTRICT C,
              int64_t ldc) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const int64_t blocks = (K + 31) / 32, full = K / 32 * 32;
  for (int64_t n = n0; n < n1; ++n) {
    const int8_t* q = codes + n * K;
    const float* s = scales + n * blocks;
    hn::Vec<DF> acc0[MR], acc1[MR];
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = hn::Zero(d);
    for (int64_t b0 = 0; b0 < full; b0 += 32) {
      const auto scale = hn::Set(d, s[b0 / 32]);
      for (int64_t j = b0; j < b0 + 32; j += 2 * L) {
        const auto w0 = WidenCodes(d, q + j, scale);
        const auto w1 = WidenCodes(d, q + j + L, scale);
        for (int r = 0; r < MR; ++r) {
          acc0[r] = hn::MulAdd(hn::LoadU(d, A + r * lda + j), w0, acc0[r]);
          acc1[r] = hn::MulAdd(hn::LoadU(d, A + r * lda + j + L), w1, acc1[r]);
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0[r], acc1[r])));
      for (int64_t k = full; k < K; ++k) sum += A[r * lda + k] * (float(q[k]) * s[k / 32]);
      C[r * ldc + n] = sum;
    }
  }
}

void GemvQ8(const float* A, int64_t lda, int64_t M, const int8_t* codes, const float* scales, int64_t K,
            int64_t n0, int64_t n1, float* C, int64_t ldc) {
  switch (M) {
    case 1: return GemvRows<1>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 2: return GemvRows<2>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 3: return GemvRows<3>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 4: return GemvRows<4>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 5: return GemvRows<5>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 6: return GemvRows<6>(A, lda, codes, scales, K, n0, n1, C, ldc);
    case 7: return GemvRows<7>(A, lda, codes, scales, K, n0, n1, C, ldc);
    default: return GemvRows<8>(A, lda, codes, scales, K, n0, n1, C, ldc);
  }
}

void DequantizeRows(const int8_t* codes, const float* scales, int64_t K, int64_t n0, int64_t n1, float* out) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const int64_t blocks = (K + 31) / 32, full = K / 32 * 32;
  for (int64_t n = n0; n < n1; ++n) {
    const int8_t* q = codes + n * K;
    const float* s = scales + n * blocks;
    float* o = out + (n - n0) * K;
    for (int64_t b0 = 0; b0 < full; b0 += 32) {
      const auto scale = hn::Set(d, s[b0 / 32]);
      for (int64_t j = b0; j < b0 + 32; j += L) hn::StoreU(WidenCodes(d, q + j, scale), d, o + j);
    }
    for (int64_t k = full; k < K; ++k) o[k] = float(q[k]) * s[k / 32];
  }
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "tensor/error.h"

namespace rscapret::kernels {
HWY_EXPORT(GemvQ8);
HWY_EXPORT(DequantizeRows);

namespace {

// Rows of W dequantized per tile: about 4 M floats (16 MB), wide enough that the f32 GEMM on each
// tile runs at full speed (as gemm()'s own 16-bit tiles).
int64_t tile_rows(int64_t K, int64_t N) { return std::clamp<int64_t>((int64_t(1) << 22) / K / 16 * 16, 16, N); }

void check_matrix(const Q8Matrix& W) {
  RS_ASSERT(W.N >= 0 && W.K >= 0 && (W.N == 0 || W.K == 0 || (W.codes && W.scales)), "q8 matrix");
}

}  // namespace

void quantize_q8(const MatrixOperand& W, int64_t N, int64_t K, int8_t* codes, float* scales) {
  RS_CHECK(W.dtype == DType::f32 || W.dtype == DType::bf16 || W.dtype == DType::f16, DTypeError, "quantize_q8",
           "weights must be f32, bf16 or f16, got ", dtype_name(W.dtype));
  RS_CHECK(W.col_stride == 1 || K <= 1, ValueError, "quantize_q8", "weight rows must be dense");
  const int64_t blocks = q8_blocks(K);
  std::atomic<int64_t> first_bad{N};
  parallel_for(0, N, row_grain(K), [&](int64_t n0, int64_t n1) {
    std::vector<float> row(size_t(W.dtype == DType::f32 ? 0 : K));
    for (int64_t n = n0; n < n1; ++n) {
      const char* src = static_cast<const char*>(W.data) + size_t(n * W.row_stride) * dtype_size(W.dtype);
      const float* w = reinterpret_cast<const float*>(src);
      if (W.dtype != DType::f32) {
        const auto* bits = reinterpret_cast<const uint16_t*>(src);
        if (W.dtype == DType::bf16) simd::bf16_to_f32(bits, row.data(), K);
        else simd::f16_to_f32(bits, row.data(), K);
        w = row.data();
      }
      if (!ref::quantize_q8_row(w, K, codes + n * K, scales + n * blocks)) {
        int64_t seen = first_bad.load();
        while (n < seen && !first_bad.compare_exchange_weak(seen, n)) {
        }
      }
    }
  });
  RS_CHECK(first_bad.load() == N, ValueError, "quantize_q8", "weight row ", first_bad.load(),
           " holds a NaN or an infinity; it cannot be quantized");
}

void dequantize_q8_rows(const Q8Matrix& W, int64_t n0, int64_t n1, float* out) {
  check_matrix(W);
  RS_ASSERT(0 <= n0 && n0 <= n1 && n1 <= W.N, "dequantize_q8_rows range");
  parallel_for(n0, n1, row_grain(W.K), [&](int64_t a, int64_t b) {
    HWY_DYNAMIC_DISPATCH(DequantizeRows)(W.codes, W.scales, W.K, a, b, out + (a - n0) * W.K);
  });
}

void gemm_q8(const float* A, int64_t lda, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  const int64_t N = W.N, K = W.K;
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::memset(C, 0, size_t(M * N) * sizeof(float));
    return;
  }
  if (M <= kGemvQ8MaxM) {
    // Rows of W split over threads in blocks; each output element is one thread's sequential sum.
    parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
      HWY_DYNAMIC_DISPATCH(GemvQ8)(A, lda, M, W.codes, W.scales, K, n0, n1, C, N);
    });
    return;
  }
  if (cpu_has_avx512()) {  // a packed f32 panel of dequantized weights (gemm_packed16.h)
    gemm_f32_q8_weights({A, DType::f32, lda, 1}, W, C, M);
    return;
  }
  gemm_q8_dequantized_tiles(A, lda, W, M, C);
}

void gemm_q8_dequantized_tiles(const float* A, int64_t lda, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  const int64_t N = W.N, K = W.K;
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::memset(C, 0, size_t(M * N) * sizeof(float));
    return;
  }
  const int64_t nt = tile_rows(K, N);
  std::vector<float> tile(size_t(nt * K));
  std::vector<float> c_tile(nt < N ? size_t(M * nt) : 0);
  for (int64_t n0 = 0; n0 < N; n0 += nt) {
    const int64_t nn = std::min(nt, N - n0);
    dequantize_q8_rows(W, n0, n0 + nn, tile.data());  // [nn, K] = B^T
    float* c = nn == N ? C : c_tile.data();
    gemm({A, DType::f32, lda, 1}, {tile.data(), DType::f32, 1, K}, c, M, K, nn);
    if (nn != N)
      for (int64_t i = 0; i < M; ++i) std::memcpy(C + i * N + n0, c + i * nn, size_t(nn) * sizeof(float));
  }
}

void gemm_q8_transposed(const float* G, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  const int64_t N = W.N, K = W.K;
  if (M == 0 || K == 0) return;
  if (N == 0) {
    std::memset(C, 0, size_t(M * K) * sizeof(float));
    return;
  }
  const int64_t nt = tile_rows(K, N);
  std::vector<float> tile(size_t(nt * K));
  std::vector<float> partial(nt < N ? size_t(M * K) : 0);
  for (int64_t n0 = 0; n0 < N; n0 += nt) {
    const int64_t nn = std::min(nt, N - n0);
    dequantize_q8_rows(W, n0, n0 + nn, tile.data());  // [nn, K]
    // C (+)= G[:, n0:n0+nn] @ tile: the first tile writes C, the others are added to it.
    float* c = n0 == 0 ? C : partial.data();
    gemm({G + n0, DType::f32, N, 1}, {tile.data(), DType::f32, K, 1}, c, M, nn, K);
    if (n0 > 0) simd::accumulate(C, partial.data(), M * K);
  }
}

}  // namespace rscapret::kernels
#endif  // HWY_ONCE
