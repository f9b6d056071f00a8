// q8_0 kernels: quantization (row by row, the reference's own loop), dequantization and the
// products with f32 activations. See quant_q8.h for the format.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/quant_q8.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>

#include "kernels/cpu/quant_q8.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 f32 lanes, so two vectors never span more than one block of 32 codes.
using DF = hn::CappedTag<float, 16>;

// w = code * scale for one vector of codes (all in one block of 32), widened in registers.
template <class D>
HWY_INLINE hn::Vec<D> WidenCodes(D d, const int8_t* HWY_RESTRICT q, hn::Vec<D> scale) {
  const hn::RebindToSigned<D> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  return hn::Mul(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, q))), scale);
}

// A pass multiplies MR rows of A by NR weight rows, one accumulator per output: per vector of codes,
// MR + NR loads feed MR x NR FMAs (as gemv_half.cpp). Accumulators, widened weights and one A vector
// fit AVX-512's 32 registers, or the 16 of the other x86 targets.
constexpr bool kSixteenRegisters = HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3;  // x86 below AVX-512
constexpr int kMaxRowsPerPass = kSixteenRegisters ? 2 : 4;
template <int MR>
constexpr int kWeightRowsPerPass = kSixteenRegisters ? 4 : MR == 1 ? 8 : MR == 2 ? 6 : 4;

// The (MR, NR) pairs the dispatch can reach have MR x NR <= 16; the others (a wider NR with more
// rows) would spill and are never instantiated.
template <int MR, int NR>
void DotTileQ8(const float* HWY_RESTRICT A, int64_t lda, const int8_t* HWY_RESTRICT codes,
               const float* HWY_RESTRICT scales, int64_t K, float* HWY_RESTRICT C, int64_t ldc);
template <int MR, int NR>
void DotTileQ8IfReachable(const float* A, int64_t lda, const int8_t* codes, const float* scales, int64_t K, float* C,
                          int64_t ldc) {
  if constexpr (MR * NR <= 16) DotTileQ8<MR, NR>(A, lda, codes, scales, K, C, ldc);
  else HWY_ASSERT(false);
}

// C[r, j] = A[r, :] . dequant(W[j, :]) for r < MR, j < NR (codes and scales of weight row j at
// codes + j K, scales + j blocks). Each output is summed the same way whatever MR and NR (one
// accumulator over the vectors in order, its lanes, then the scalar tail), so a row's result never
// depends on the rows beside it: batched decoding gives one-row decoding's bits.
template <int MR, int NR>
void DotTileQ8(const float* HWY_RESTRICT A, int64_t lda, const int8_t* HWY_RESTRICT codes,
               const float* HWY_RESTRICT scales, int64_t K, float* HWY_RESTRICT C, int64_t ldc) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const int64_t blocks = q8_blocks(K), full = K / kQ8Block * kQ8Block;
  hn::Vec<DF> acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = hn::Zero(d);
  for (int64_t b0 = 0; b0 < full; b0 += 32) {
    for (int64_t k = b0; k < b0 + 32; k += L) {
      hn::Vec<DF> w[NR];
      for (int j = 0; j < NR; ++j) w[j] = WidenCodes(d, codes + j * K + k, hn::Set(d, scales[j * blocks + b0 / 32]));
      for (int r = 0; r < MR; ++r) {
        const auto a = hn::LoadU(d, A + r * lda + k);
        for (int j = 0; j < NR; ++j) acc[r][j] = hn::MulAdd(a, w[j], acc[r][j]);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) {
      const int8_t* q = codes + j * K;
      const float* s = scales + j * blocks;
      float sum = hn::GetLane(hn::SumOfLanes(d, acc[r][j]));
      for (int64_t k = full; k < K; ++k) sum += A[r * lda + k] * (float(q[k]) * s[k / 32]);
      C[r * ldc + j] = sum;
    }
}

// All M rows of A against NR weight rows (from n), kMaxRowsPerPass rows of A per pass.
template <int NR>
void TileColumnQ8(const float* A, int64_t lda, int64_t M, const int8_t* codes, const float* scales, int64_t K,
                  int64_t n, float* C, int64_t ldc) {
  const int8_t* q = codes + n * K;
  const float* s = scales + n * q8_blocks(K);
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRowsPerPass) {
    const float* a = A + m0 * lda;
    float* c = C + m0 * ldc + n;
    switch (std::min<int64_t>(kMaxRowsPerPass, M - m0)) {
      case 1: DotTileQ8IfReachable<1, NR>(a, lda, q, s, K, c, ldc); break;
      case 2: DotTileQ8IfReachable<2, NR>(a, lda, q, s, K, c, ldc); break;
      case 3: if constexpr (!kSixteenRegisters) DotTileQ8IfReachable<3, NR>(a, lda, q, s, K, c, ldc); break;
      default: if constexpr (!kSixteenRegisters) DotTileQ8IfReachable<4, NR>(a, lda, q, s, K, c, ldc); break;
    }
  }
}

// Weight rows [n0, n1), NR at a time (the last few one at a time), against all M rows of A.
template <int NR>
void GemvTiles(const float* A, int64_t lda, int64_t M, const int8_t* codes, const float* scales, int64_t K,
               int64_t n0, int64_t n1, float* C, int64_t ldc) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) TileColumnQ8<NR>(A, lda, M, codes, scales, K, n, C, ldc);
  for (; n < n1; ++n) TileColumnQ8<1>(A, lda, M, codes, scales, K, n, C, ldc);
}

// The tile width follows the widest pass of rows of A.
void GemvQ8(const float* A, int64_t lda, int64_t M, const int8_t* codes, const float* scales, int64_t K,
            int64_t n0, int64_t n1, float* C, int64_t ldc) {
  switch (std::min<int64_t>(kMaxRowsPerPass, M)) {
    case 1: return GemvTiles<kWeightRowsPerPass<1>>(A, lda, M, codes, scales, K, n0, n1, C, ldc);
    case 2: return GemvTiles<kWeightRowsPerPass<2>>(A, lda, M, codes, scales, K, n0, n1, C, ldc);
    case 3: return GemvTiles<kWeightRowsPerPass<3>>(A, lda, M, codes, scales, K, n0, n1, C, ldc);
    default: return GemvTiles<kWeightRowsPerPass<4>>(A, lda, M, codes, scales, K, n0, n1, C, ldc);
  }
}

void DequantizeRows(const int8_t* codes, const float* scales, int64_t K, int64_t n0, int64_t n1, float* out) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const int64_t blocks = q8_blocks(K), full = K / kQ8Block * kQ8Block;
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

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RSCAPRET_Q8_VNNI 1
#define RSCAPRET_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

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
int64_t dequantized_tile_rows(int64_t K, int64_t N) {
  return std::min(N, std::max<int64_t>((int64_t(1) << 22) / K / 16 * 16, 16));
}

void check_matrix(const Q8Matrix& W) {
  RS_ASSERT(W.N >= 0 && W.K >= 0 && (W.N == 0 || W.K == 0 || (W.codes && W.scales)), "q8 matrix");
}

// ---- int8 activations (MatmulPrecision::int8): VNNI dot products of q8_0 codes ----

// One activation row quantized to q8_0 and laid out for the dot products: 64 codes (two blocks) per
// step, one 32-bit lane per 4 codes. VNNI multiplies unsigned by signed bytes, so the weight codes
// enter as code + 128 (a flipped sign bit) and each lane starts from -128 x (its 4 activation
// codes' sum), which removes what the +128 added: the lane then holds the exact integer sum of
// code_w x code_a.
// Per pair of blocks, 192 bytes: the 64 codes, then the 16 lanes' starts (-128 x the lane's 4 codes'
// sum, int32), then the 16 lanes' scales (f32; lanes 0-7: block 2p, 8-15: block 2p + 1). One buffer,
// so a pass over 4 rows needs 4 pointers, not 12 (the general registers ran out and spilled).
struct Q8Row {
  static constexpr int64_t kPairBytes = 192;
  std::vector<uint8_t> data;  // [pairs * 192]; codes 0 past K
  const int8_t* codes(int64_t p) const { return reinterpret_cast<const int8_t*>(data.data() + kPairBytes * p); }
  const int32_t* start(int64_t p) const { return reinterpret_cast<const int32_t*>(data.data() + kPairBytes * p + 64); }
  const float* scales(int64_t p) const { return reinterpret_cast<const float*>(data.data() + kPairBytes * p + 128); }
};

// False when the row holds a NaN or an infinity (the f32 path then computes, so it propagates).
bool quantize_activation_row(const float* a, int64_t K, Q8Row& r) {
  const int64_t pairs = (K + 63) / 64, blocks = q8_blocks(K);
  std::vector<int8_t> codes(size_t(pairs * 64), 0);
  std::vector<float> block_scales(static_cast<size_t>(blocks));
  if (!ref::quantize_q8_row(a, K, codes.data(), block_scales.data())) return false;
  r.data.assign(size_t(pairs * Q8Row::kPairBytes), 0);
  for (int64_t p = 0; p < pairs; ++p) {
    uint8_t* base = r.data.data() + Q8Row::kPairBytes * p;
    std::memcpy(base, codes.data() + 64 * p, 64);
    for (int64_t lane = 0; lane < 16; ++lane) {
      int32_t sum = 0;
      for (int i = 0; i < 4; ++i) sum += codes[size_t(64 * p + 4 * lane + i)];
      const int32_t start = -128 * sum;
      const int64_t block = 2 * p + lane / 8;
      const float scale = block < blocks ? block_scales[size_t(block)] : 0.0f;
      std::memcpy(base + 64 + 4 * lane, &start, 4);
      std::memcpy(base + 128 + 4 * lane, &scale, 4);
    }
  }
  return true;
}

#ifdef RSCAPRET_Q8_VNNI
// C[m, n] for the quantized activation rows and rows n of W: per pair of blocks, one vpdpbusd per
// (row of A, row of W) gives 16 exact integer lane sums, converted and scaled by the lane's
// activation scale times its weight scale, then summed in f32. A pass multiplies MR rows of A by NR
// rows of W, so each row of A's codes, starts and scales are loaded once for NR weight rows (as the
// f32 GEMVs above). One accumulator per output, pairs in order: a row's result does not depend on
// the rows beside it. MR and NR are template parameters so the accumulators stay in registers.

// sw[0] in lanes 0-7 and sw[1] in lanes 8-15, from one 64-bit load.
RSCAPRET_VNNI_TARGET inline __m512 pair_scales(const float* sw) {
  double two;
  std::memcpy(&two, sw, 8);
  const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(_mm_castpd_ps(_mm_set_sd(two))));
}

// acc[m][j] += the lane sums of pair p of row m of A with weight bytes w[j] (already code + 128)
// and weight scales ws[j].
template <int MR, int NR>
RSCAPRET_VNNI_TARGET inline void vnni_step(const Q8Row* rows, int64_t p, const __m512i (&w)[NR], const __m512 (&ws)[NR],
                                           __m512 (&acc)[MR][NR]) {
  for (int m = 0; m < MR; ++m) {
    const Q8Row& r = rows[m];
    const __m512i start = _mm512_loadu_si512(r.start(p));
    const __m512i codes = _mm512_loadu_si512(r.codes(p));
    const __m512 scales = _mm512_loadu_ps(r.scales(p));
    for (int j = 0; j < NR; ++j) {
      const __m512i d = _mm512_dpbusd_epi32(start, w[j], codes);
      acc[m][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(ws[j], scales), acc[m][j]);
    }
  }
}

// Rows [0, MR) of A against weight rows [n, n + NR).
template <int MR, int NR>
RSCAPRET_VNNI_TARGET void vnni_tile(const Q8Row* rows, const Q8Matrix& W, int64_t n, float* C) {
  const int64_t K = W.K, blocks = q8_blocks(K), full_pairs = K / 64, pairs = (K + 63) / 64;
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  __m512 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < NR; ++j) acc[m][j] = _mm512_setzero_ps();
  __m512i w[NR];
  __m512 ws[NR];
  for (int64_t p = 0; p < full_pairs; ++p) {
    for (int j = 0; j < NR; ++j) {
      const int8_t* q = W.codes + (n + j) * K + 64 * p;
      _mm_prefetch(reinterpret_cast<const char*>(q + 2048), _MM_HINT_T0);
      w[j] = _mm512_xor_si512(_mm512_loadu_si512(q), flip);  // code + 128, as unsigned bytes
      ws[j] = pair_scales(W.scales + (n + j) * blocks + 2 * p);
    }
    vnni_step<MR, NR>(rows, p, w, ws, acc);
  }
  if (full_pairs < pairs) {  // the last, partial pair: bytes past K read as 0 (their activation codes are 0)
    const int64_t p = full_pairs, left = K - 64 * p;
    for (int j = 0; j < NR; ++j) {
      const float* sw = W.scales + (n + j) * blocks;
      w[j] = _mm512_xor_si512(_mm512_maskz_loadu_epi8((__mmask64(1) << left) - 1, W.codes + (n + j) * K + 64 * p), flip);
      ws[j] = _mm512_mask_blend_ps(__mmask16(0xFF00), _mm512_set1_ps(sw[2 * p]),
                                   _mm512_set1_ps(2 * p + 1 < blocks ? sw[2 * p + 1] : 0.0f));
    }
    vnni_step<MR, NR>(rows, p, w, ws, acc);
  }
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < NR; ++j) C[m * W.N + n + j] = _mm512_reduce_add_ps(acc[m][j]);
}

// Weight rows per pass for MR rows of A: accumulators, weights, weight scales and the row's three
// vectors within the 32 registers.
template <int MR>
constexpr int kVnniWeightRows = MR == 1 ? 1 : MR <= 2 ? 4 : 3;

// The (MR, NR) pairs the dispatch reaches have MR x NR <= 12; the others are never instantiated.
template <int MR, int NR>
RSCAPRET_VNNI_TARGET void vnni_tile_if_reachable(const Q8Row* rows, const Q8Matrix& W, int64_t n, float* C) {
  if constexpr (MR * NR <= 12) vnni_tile<MR, NR>(rows, W, n, C);
  else RS_ASSERT(false, "vnni tile ", MR, " x ", NR, " is not dispatched");
}

// Weight rows [n, n + NR) against all M rows of A, 4 rows of A per pass.
template <int NR>
RSCAPRET_VNNI_TARGET void vnni_column(const Q8Row* rows, int64_t M, const Q8Matrix& W, int64_t n, float* C) {
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const Q8Row* r = rows + m0;
    float* c = C + m0 * W.N;
    switch (std::min<int64_t>(4, M - m0)) {
      case 1: vnni_tile_if_reachable<1, NR>(r, W, n, c); break;
      case 2: vnni_tile_if_reachable<2, NR>(r, W, n, c); break;
      case 3: vnni_tile_if_reachable<3, NR>(r, W, n, c); break;
      default: vnni_tile_if_reachable<4, NR>(r, W, n, c); break;
    }
  }
}

template <int NR>
RSCAPRET_VNNI_TARGET void vnni_rows(const Q8Row* rows, int64_t M, const Q8Matrix& W, int64_t n0, int64_t n1,
                                    float* C) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) vnni_column<NR>(rows, M, W, n, C);
  for (; n < n1; ++n) vnni_column<1>(rows, M, W, n, C);
}

void gemv_vnni(const Q8Row* rows, int64_t M, const Q8Matrix& W, int64_t n0, int64_t n1, float* C) {
  switch (std::min<int64_t>(4, M)) {
    case 1: return vnni_rows<kVnniWeightRows<1>>(rows, M, W, n0, n1, C);
    case 2: return vnni_rows<kVnniWeightRows<2>>(rows, M, W, n0, n1, C);
    case 3: return vnni_rows<kVnniWeightRows<3>>(rows, M, W, n0, n1, C);
    default: return vnni_rows<kVnniWeightRows<4>>(rows, M, W, n0, n1, C);
  }
}
#endif

}  // namespace

bool cpu_has_vnni() {
#ifdef RSCAPRET_Q8_VNNI
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

bool gemv_q8_int8_activations(const float* A, int64_t lda, int64_t M, const Q8Matrix& W, float* C) {
  check_matrix(W);
  RS_CHECK(cpu_has_vnni(), Error, "gemv_q8_int8_activations", "this CPU has no AVX-512 VNNI");
  RS_CHECK(M >= 0 && M <= kGemvQ8MaxM, ValueError, "gemv_q8_int8_activations", "at most ", kGemvQ8MaxM,
           " rows, got ", M);
  std::vector<Q8Row> rows(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m)
    if (!quantize_activation_row(A + m * lda, W.K, rows[size_t(m)])) return false;
  if (M == 0 || W.N == 0) return true;
#ifdef RSCAPRET_Q8_VNNI
  parallel_for(0, W.N, 64, [&](int64_t n0, int64_t n1) { gemv_vnni(rows.data(), M, W, n0, n1, C); });
#endif
  return true;
}

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
  if (empty_product(C, M, K, N)) return;
  // Decode rows with f32 activations. Rows of W split over threads in blocks; each output element is
  // one thread's sequential sum.
  const auto f32_rows = [&](const float* a, int64_t rows, float* c) {
    parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
      HWY_DYNAMIC_DISPATCH(GemvQ8)(a, lda, rows, W.codes, W.scales, K, n0, n1, c, N);
    });
  };
  if (M <= kGemvQ8MaxM && matmul_precision() == MatmulPrecision::int8 && cpu_has_vnni()) {
    if (gemv_q8_int8_activations(A, lda, M, W, C)) return;
    // A row holds a NaN or an infinity: each row alone, the int8 path where it can and the f32 path
    // (which propagates them) where not, so every row keeps the bits it has alone.
    for (int64_t m = 0; m < M; ++m)
      if (!gemv_q8_int8_activations(A + m * lda, lda, 1, W, C + m * N)) f32_rows(A + m * lda, 1, C + m * N);
    return;
  }
  if (M <= kGemvQ8MaxM) {
    f32_rows(A, M, C);
    return;
  }
  if (matmul_precision() == MatmulPrecision::bf16 && cpu_has_bf16_dot()) {  // bf16 products, as for bf16 weights
    gemm_bf16_dot_q8({A, DType::f32, lda, 1}, W, C, M);
    return;
  }
  if (cpu_has_avx512()) {  // a packed f32 panel of dequantized weights (gemm_packed16.h)
    gemm_f32_q8_weights({A, DType::f32, lda, 1}, W, C, M);
    return;
  }
  gemm_q8_dequantized_tiles(A, lda, W, M, C);
}

namespace {

// Calls fn(n0, nn, tile) for consecutive blocks of rows [n0, n0 + nn) of dequant(W), the tile
// holding them as dense f32 rows of K.
template <class Fn>
void for_each_dequantized_tile(const Q8Matrix& W, Fn&& fn) {
  const int64_t nt = dequantized_tile_rows(W.K, W.N);
  std::vector<float> tile(size_t(nt * W.K));
  for (int64_t n0 = 0; n0 < W.N; n0 += nt) {
    const int64_t nn = std::min(nt, W.N - n0);
    dequantize_q8_rows(W, n0, n0 + nn, tile.data());
    fn(n0, nn, tile.data());
  }
}

}  // namespace

void gemm_q8_dequantized_tiles(const float* A, int64_t lda, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  const int64_t N = W.N, K = W.K;
  if (empty_product(C, M, K, N)) return;
  std::vector<float> c_tile;
  for_each_dequantized_tile(W, [&](int64_t n0, int64_t nn, const float* tile) {  // tile [nn, K] = B^T
    if (nn == N) {
      gemm({A, DType::f32, lda, 1}, {tile, DType::f32, 1, K}, C, M, K, nn);
      return;
    }
    c_tile.resize(size_t(M * nn));
    gemm({A, DType::f32, lda, 1}, {tile, DType::f32, 1, K}, c_tile.data(), M, K, nn);
    for (int64_t i = 0; i < M; ++i) std::memcpy(C + i * N + n0, c_tile.data() + i * nn, size_t(nn) * sizeof(float));
  });
}

void gemm_q8_transposed(const float* G, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  if (cpu_has_avx512()) {  // packed f32 panels of W's rows (gemm_packed16.h)
    gemm_f32_q8_weights_nn({G, DType::f32, W.N, 1}, W, C, M);
    return;
  }
  gemm_q8_transposed_dequantized_tiles(G, W, M, C);
}

void gemm_q8_transposed_dequantized_tiles(const float* G, const Q8Matrix& W, int64_t M, float* C) {
  check_matrix(W);
  const int64_t N = W.N, K = W.K;
  if (empty_product(C, M, N, K)) return;
  std::vector<float> partial;
  for_each_dequantized_tile(W, [&](int64_t n0, int64_t nn, const float* tile) {  // tile [nn, K]
    // C (+)= G[:, n0:n0+nn] @ tile: the first tile writes C, the others are added to it.
    if (n0 == 0) {
      gemm({G, DType::f32, N, 1}, {tile, DType::f32, K, 1}, C, M, nn, K);
      return;
    }
    partial.resize(size_t(M * K));
    gemm({G + n0, DType::f32, N, 1}, {tile, DType::f32, K, 1}, partial.data(), M, nn, K);
    simd::accumulate(C, partial.data(), M * K);
  });
}

}  // namespace rscapret::kernels
#endif  // HWY_ONCE
