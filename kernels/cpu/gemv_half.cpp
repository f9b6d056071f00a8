// Small-M products with 16-bit weights: C[M, N] = A[M, K] (f32) @ W[N, K]^T (bf16 or f16), M <= 8.
// Decoding is bound by reading the weights, so each weight row is read once, widened to f32 in
// registers and used for all M rows of A; nothing is converted to an f32 buffer first. A row's
// result is the same bits whatever M (DotTile), so batched decoding equals one-row decoding.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/gemv_half.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <type_traits>

#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/parallel.h"
#include "tensor/dtype.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A pass multiplies MR rows of A by NR weight rows at once, one accumulator per output: per vector
// of K, MR + NR loads feed MR x NR FMAs (a load per FMA when one weight row met all rows of A, which
// held 4-8 decode rows to a third of the FMA rate). Accumulators + weight vectors + one A vector must
// fit the registers: 32 with AVX-512, 16 on the other x86 targets.
constexpr bool kSixteenRegisters = HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3;  // x86 below AVX-512
constexpr int kMaxRowsPerPass = kSixteenRegisters ? 2 : 4;
template <int MR>
constexpr int kWeightRowsPerPass = kSixteenRegisters ? 4 : MR <= 2 ? 8 : MR == 3 ? 6 : 4;

template <typename Half>
float WidenOne(uint16_t bits) {
  return std::is_same_v<Half, hwy::bfloat16_t> ? bf16_to_f32(bits) : f16_to_f32(bits);
}

// C[r, j] = A[r, :] . W[j, :] for r < MR, j < NR (C at ldc, W at ldw). Each output is summed the
// same way whatever MR and NR: one accumulator, the K vectors in order, then its lanes, then the
// scalar tail in order. So a row's result never depends on the rows beside it, and batched decoding
// gives the bits of one-row decoding. MR and NR are template arguments so the accumulators stay in
// registers.
template <typename Half, int MR, int NR>
void DotTile(const float* HWY_RESTRICT A, int64_t lda, const uint16_t* HWY_RESTRICT W, int64_t ldw, int64_t K,
             float* HWY_RESTRICT C, int64_t ldc) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<Half, decltype(d)> dh;
  const int64_t L = int64_t(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = hn::Zero(d);
  int64_t k = 0;
  for (; k + L <= K; k += L) {
    hn::Vec<decltype(d)> w[NR];
    for (int j = 0; j < NR; ++j) w[j] = hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const Half*>(W + j * ldw + k)));
    for (int r = 0; r < MR; ++r) {
      const auto a = hn::LoadU(d, A + r * lda + k);
      for (int j = 0; j < NR; ++j) acc[r][j] = hn::MulAdd(a, w[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(d, acc[r][j]));
      for (int64_t kk = k; kk < K; ++kk) s += A[r * lda + kk] * WidenOne<Half>(W[j * ldw + kk]);
      C[r * ldc + j] = s;
    }
}

// The (MR, NR) pairs the dispatch can reach have MR x NR <= 18; the others (a wider NR with more
// rows) would spill and are never instantiated.
template <typename Half, int MR, int NR>
void DotTileIfReachable(const float* A, int64_t lda, const uint16_t* W, int64_t ldw, int64_t K, float* C,
                        int64_t ldc) {
  if constexpr (MR * NR <= 18) DotTile<Half, MR, NR>(A, lda, W, ldw, K, C, ldc);
  else HWY_ASSERT(false);
}

// All M rows of A against NR weight rows, kMaxRowsPerPass rows of A per pass (the next pass finds
// those weight rows in L1).
template <typename Half, int NR>
void TileColumn(const float* A, int64_t lda, int64_t M, const uint16_t* W, int64_t ldw, int64_t K, float* C,
                int64_t ldc) {
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRowsPerPass) {
    const float* a = A + m0 * lda;
    float* c = C + m0 * ldc;
    switch (std::min<int64_t>(kMaxRowsPerPass, M - m0)) {
      case 1: DotTileIfReachable<Half, 1, NR>(a, lda, W, ldw, K, c, ldc); break;
      case 2: DotTileIfReachable<Half, 2, NR>(a, lda, W, ldw, K, c, ldc); break;
      case 3: if constexpr (!kSixteenRegisters) DotTileIfReachable<Half, 3, NR>(a, lda, W, ldw, K, c, ldc); break;
      default: if constexpr (!kSixteenRegisters) DotTileIfReachable<Half, 4, NR>(a, lda, W, ldw, K, c, ldc); break;
    }
  }
}

// Weight rows [n0, n1), NR at a time (the last few one at a time), against all M rows of A.
template <typename Half, int NR>
void WeightRowsByTiles(const float* A, int64_t lda, int64_t M, const uint16_t* W, int64_t ldw, int64_t n0,
                       int64_t n1, int64_t K, float* C, int64_t ldc) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) TileColumn<Half, NR>(A, lda, M, W + n * ldw, ldw, K, C + n, ldc);
  for (; n < n1; ++n) TileColumn<Half, 1>(A, lda, M, W + n * ldw, ldw, K, C + n, ldc);
}

// The tile width follows the widest pass of rows of A.
template <typename Half>
void GemvRows(const float* HWY_RESTRICT A, int64_t lda, int64_t M, const uint16_t* HWY_RESTRICT W, int64_t ldw,
              int64_t n0, int64_t n1, int64_t K, float* HWY_RESTRICT C, int64_t ldc) {
  switch (std::min<int64_t>(kMaxRowsPerPass, M)) {
    case 1: return WeightRowsByTiles<Half, kWeightRowsPerPass<1>>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
    case 2: return WeightRowsByTiles<Half, kWeightRowsPerPass<2>>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
    case 3: return WeightRowsByTiles<Half, kWeightRowsPerPass<3>>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
    default: return WeightRowsByTiles<Half, kWeightRowsPerPass<4>>(A, lda, M, W, ldw, n0, n1, K, C, ldc);
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
