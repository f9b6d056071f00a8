#include "kernels/cpu/gemm_packed16.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"
#include "tensor/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RSCAPRET_PACKED16_X86 1
#define RSCAPRET_BF16_DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define RSCAPRET_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
// GCC 12's own AVX-512 headers start unpack/shuffle intrinsics from _mm512_undefined_*(), which
// its -Wuninitialized reports inside the header: a false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace rscapret::kernels {

namespace {

constexpr int kMR = 6;   // rows of the register tile
constexpr int kNR = 64;  // columns of the register tile and of a packed B panel (4 x 16 lanes)
static_assert(kPacked16Kc % 2 == 0, "K blocks hold whole pairs");
// pack_q8: K blocks start on q8_0 blocks of 32, and its 16-row chunks fill whole panels.
static_assert(kPacked16Kc % kQ8Block == 0, "K blocks hold whole q8_0 blocks");

// Element (r, c) of an operand as bf16 bits (rounded to nearest even from f32 and f16).
uint16_t element_bf16(const MatrixOperand& op, int64_t r, int64_t c) {
  const int64_t i = r * op.row_stride + c * op.col_stride;
  switch (op.dtype) {
    case DType::bf16: return static_cast<const uint16_t*>(op.data)[i];
    case DType::f16: return f32_to_bf16(f16_to_f32(static_cast<const uint16_t*>(op.data)[i]));
    default: return f32_to_bf16(static_cast<const float*>(op.data)[i]);
  }
}

// Element (r, c) as pack_b stores it: an f16 operand's own bits with keep_f16, else bf16.
uint16_t element_16(const MatrixOperand& op, int64_t r, int64_t c, bool keep_f16) {
  if (keep_f16 && op.dtype == DType::f16) return static_cast<const uint16_t*>(op.data)[r * op.row_stride + c * op.col_stride];
  return element_bf16(op, r, c);
}

// A (M x K) as dense bf16 rows of Kp = K rounded up to even (the pad is 0).
void round_a(const MatrixOperand& A, int64_t M, int64_t K, int64_t Kp, uint16_t* out) {
  parallel_for(0, M, row_grain(K), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      uint16_t* row = out + m * Kp;
      if (A.col_stride == 1 && A.dtype == DType::f32) {
        simd::f32_to_bf16(static_cast<const float*>(A.data) + m * A.row_stride, row, K);
      } else if (A.col_stride == 1 && A.dtype == DType::bf16) {
        std::memcpy(row, static_cast<const uint16_t*>(A.data) + m * A.row_stride, size_t(K) * 2);
      } else {
        for (int64_t k = 0; k < K; ++k) row[k] = element_bf16(A, m, k);
      }
      if (Kp > K) row[K] = 0;
    }
  });
}

#ifdef RSCAPRET_PACKED16_X86
// dst[i * dst_stride + j] = src[j * src_stride + i] for a 16 x 16 block of u32 (bf16 pairs or f32): 4x4
// transposes inside each 128-bit lane (unpack 32, then 64), then the lanes gathered across
// registers (two rounds of shuffle_i32x4).
RSCAPRET_AVX512_TARGET void transpose_16x16_regs(__m512i (&r)[16], uint32_t* dst, int64_t dst_stride) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + c] holds, for source rows 4g..4g+3, columns c, c + 4, c + 8, c + 12 (one per lane).
  __m512i u[16];
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i even01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);    // lanes 0, 2 of rows 0-3, 4-7
    const __m512i even23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i odd01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);     // lanes 1, 3
    const __m512i odd23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    _mm512_storeu_si512(dst + (c + 0) * dst_stride, _mm512_shuffle_i32x4(even01, even23, 0x88));
    _mm512_storeu_si512(dst + (c + 8) * dst_stride, _mm512_shuffle_i32x4(even01, even23, 0xdd));
    _mm512_storeu_si512(dst + (c + 4) * dst_stride, _mm512_shuffle_i32x4(odd01, odd23, 0x88));
    _mm512_storeu_si512(dst + (c + 12) * dst_stride, _mm512_shuffle_i32x4(odd01, odd23, 0xdd));
  }
}

RSCAPRET_AVX512_TARGET void transpose_16x16(const uint32_t* src, int64_t src_stride, uint32_t* dst,
                                            int64_t dst_stride) {
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + i * src_stride);
  transpose_16x16_regs(r, dst, dst_stride);
}
#endif

// Packs rows [k0, k0 + 2 kp) and columns [n0, n0 + kNR) of B (K x N) as pairs of 16-bit values:
// out[p * kNR + j] = B(k0 + 2p, n0 + j) | B(k0 + 2p + 1, n0 + j) << 16, zero outside B. The values
// are bf16 (B rounded when it is f32 or f16), or with keep_f16 an f16 B's own bits.
void pack_b(const MatrixOperand& B, int64_t K, int64_t N, int64_t k0, int64_t kp, int64_t n0, uint32_t* out,
            bool keep_f16) {
  const int64_t nr = std::min<int64_t>(kNR, N - n0);
  if (nr < kNR) std::memset(out, 0, size_t(kp * kNR) * 4);
  const bool whole_pairs = k0 + 2 * kp <= K;
  const bool bits_as_stored = B.dtype == DType::bf16 || (keep_f16 && B.dtype == DType::f16);
  if (bits_as_stored && B.row_stride == 1 && whole_pairs) {
    // A Linear weight W [N, K] seen as B = W^T: column n is W's row n, dense along K, so each pair
    // is one aligned-or-not 32-bit read.
    const auto* w = static_cast<const uint16_t*>(B.data);
#ifdef RSCAPRET_PACKED16_X86
    if (nr == kNR && kp % 16 == 0 && B.col_stride % 2 == 0 && k0 % 2 == 0 &&
        reinterpret_cast<uintptr_t>(w) % 4 == 0) {
      // Pairs are aligned 32-bit words: 16 x 16 blocks transposed in registers.
      const auto* w32 = reinterpret_cast<const uint32_t*>(w + n0 * B.col_stride + k0);
      const int64_t stride32 = B.col_stride / 2;
      for (int64_t j = 0; j < kNR; j += 16)
        for (int64_t p = 0; p < kp; p += 16) transpose_16x16(w32 + j * stride32 + p, stride32, out + p * kNR + j, kNR);
      return;
    }
#endif
    for (int64_t j = 0; j < nr; ++j) {
      const uint16_t* col = w + (n0 + j) * B.col_stride + k0;
      for (int64_t p = 0; p < kp; ++p) {
        uint32_t pair;
        std::memcpy(&pair, col + 2 * p, 4);
        out[p * kNR + j] = pair;
      }
    }
    return;
  }
  if (bits_as_stored && B.col_stride == 1 && whole_pairs) {
    // Row-major B (dX = dY W in a Linear's backward reads W [N_out, K_in] this way): a pair joins
    // two rows, read contiguously side by side.
    const auto* base = static_cast<const uint16_t*>(B.data) + n0;
    for (int64_t p = 0; p < kp; ++p) {
      const uint16_t* lo = base + (k0 + 2 * p) * B.row_stride;
      const uint16_t* hi = lo + B.row_stride;
      uint32_t* o = out + p * kNR;
      for (int64_t j = 0; j < nr; ++j) o[j] = uint32_t(lo[j]) | uint32_t(hi[j]) << 16;
    }
    return;
  }
  for (int64_t p = 0; p < kp; ++p) {
    const int64_t k = k0 + 2 * p;
    for (int64_t j = 0; j < nr; ++j) {
      const uint32_t lo = k < K ? element_16(B, k, n0 + j, keep_f16) : 0;
      const uint32_t hi = k + 1 < K ? element_16(B, k + 1, n0 + j, keep_f16) : 0;
      out[p * kNR + j] = lo | hi << 16;
    }
  }
}

#ifdef RSCAPRET_PACKED16_X86

// Stores acc (MR x 64) into C rows of ldc, adding C's values when accumulating (K blocks after the
// first). Lanes past nr are neither read nor written.
template <int MR>
RSCAPRET_AVX512_TARGET inline void store_tile(__m512 (&acc)[MR][4], float* c, int64_t ldc, int nr, bool accumulate) {
  for (int j = 0; j < 4; ++j) {
    const int lanes = std::clamp(nr - 16 * j, 0, 16);
    if (lanes == 0) break;
    const __mmask16 mask = lanes == 16 ? __mmask16(0xffff) : __mmask16((1u << lanes) - 1);
    for (int r = 0; r < MR; ++r) {
      float* cp = c + r * ldc + 16 * j;
      __m512 v = acc[r][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, cp));
      _mm512_mask_storeu_ps(cp, mask, v);
    }
  }
}

// bf16 products: C[MR x nr] (+)= a[MR rows of lda bf16, kp pairs] . b[kp][kNR], one vdpbf16ps per
// 16 columns and pair.
template <int MR>
RSCAPRET_BF16_DOT_TARGET void tile(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t kp, float* c,
                                   int64_t ldc, int nr, bool accumulate) {
  __m512 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const uint32_t* bp = b + p * kNR;
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
    const __m512bh b2 = (__m512bh)_mm512_loadu_si512(bp + 32);
    const __m512bh b3 = (__m512bh)_mm512_loadu_si512(bp + 48);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, a + r * lda + 2 * p, 4);
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(pair);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
      acc[r][2] = _mm512_dpbf16_ps(acc[r][2], ar, b2);
      acc[r][3] = _mm512_dpbf16_ps(acc[r][3], ar, b3);
    }
  }
  store_tile<MR>(acc, c, ldc, nr, accumulate);
}

// The two rows of 16 packed pairs as f32 (exact for both types). bf16: the low half shifted up,
// the high half masked; f16: each half narrowed out of its 32-bit lane, then vcvtph2ps.
template <bool kF16>
RSCAPRET_AVX512_TARGET inline __m512 widen_low(__m512i pairs) {
  if constexpr (kF16) return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(pairs));
  return _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
}
template <bool kF16>
RSCAPRET_AVX512_TARGET inline __m512 widen_high(__m512i pairs) {
  if constexpr (kF16) return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(pairs, 16)));
  return _mm512_castsi512_ps(_mm512_and_si512(pairs, _mm512_set1_epi32(int32_t(0xFFFF0000u))));
}

// f32 products: C[MR x nr] (+)= a[MR rows of lda f32, 2 kp columns] . B, B's 16-bit pairs (bf16, or
// f16 with kF16) widened in registers, then f32 FMAs: the same products as widening the weight to
// f32 first, without writing the widened copy.
template <int MR, bool kF16>
RSCAPRET_AVX512_TARGET void tile(const float* a, int64_t lda, const uint32_t* b, int64_t kp, float* c, int64_t ldc,
                                 int nr, bool accumulate) {
  __m512 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const uint32_t* bp = b + p * kNR;
    __m512i pairs[4];
    __m512 w[4];
    for (int j = 0; j < 4; ++j) {
      pairs[j] = _mm512_loadu_si512(bp + 16 * j);
      w[j] = widen_low<kF16>(pairs[j]);  // row k = 2p
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * lda + 2 * p]);
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_fmadd_ps(ar, w[j], acc[r][j]);
    }
    for (int j = 0; j < 4; ++j) w[j] = widen_high<kF16>(pairs[j]);  // row 2p + 1
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * lda + 2 * p + 1]);
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_fmadd_ps(ar, w[j], acc[r][j]);
    }
  }
  store_tile<MR>(acc, c, ldc, nr, accumulate);
}

// f32 products over an f32 panel (dequantized q8_0 weights): C[MR x nr] (+)= a . b, rows 2p and
// 2p + 1 of the panel at b + (2p) kNR and b + (2p + 1) kNR.
template <int MR>
RSCAPRET_AVX512_TARGET void tile(const float* a, int64_t lda, const float* b, int64_t kp, float* c, int64_t ldc, int nr,
                                 bool accumulate) {
  __m512 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < 2 * kp; ++k) {
    const float* bp = b + k * kNR;
    __m512 w[4];
    for (int j = 0; j < 4; ++j) w[j] = _mm512_loadu_ps(bp + 16 * j);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * lda + k]);
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_fmadd_ps(ar, w[j], acc[r][j]);
    }
  }
  store_tile<MR>(acc, c, ldc, nr, accumulate);
}

// The register tiles, as types for packed_gemm: A's element type, the panel's word (Panel, with
// PanelWords of them per pair of K rows and 64 columns), and the tile for MR rows.
struct Bf16Products {
  using A = uint16_t;
  using Panel = uint32_t;
  static constexpr int64_t kPanelWords = kNR;
  template <int MR>
  static void run(const A* a, int64_t lda, const Panel* b, int64_t kp, float* c, int64_t ldc, int nr, bool acc) {
    tile<MR>(a, lda, b, kp, c, ldc, nr, acc);
  }
};
template <bool kF16>
struct F32Products {
  using A = float;
  using Panel = uint32_t;
  static constexpr int64_t kPanelWords = kNR;
  template <int MR>
  static void run(const A* a, int64_t lda, const Panel* b, int64_t kp, float* c, int64_t ldc, int nr, bool acc) {
    tile<MR, kF16>(a, lda, b, kp, c, ldc, nr, acc);
  }
};
struct F32Panel {
  using A = float;
  using Panel = float;
  static constexpr int64_t kPanelWords = 2 * kNR;
  template <int MR>
  static void run(const A* a, int64_t lda, const Panel* b, int64_t kp, float* c, int64_t ldc, int nr, bool acc) {
    tile<MR>(a, lda, b, kp, c, ldc, nr, acc);
  }
};

// Packs rows [k0, k0 + 2 kp) and columns [n0, n0 + kNR) of B = dequant(W)^T (W a q8_0 [N, K]) as f32
// rows of kNR: out[k * kNR + j] = W[n0 + j, k0 + k], zero outside W. 16 weight rows by 16 codes at
// a time are widened in registers (code * scale) and transposed there. `out` holds kPacked16Kc
// rows: the last 16-row chunk may write rows past 2 kp (never read).
RSCAPRET_AVX512_TARGET void pack_q8(const Q8Matrix& W, int64_t k0, int64_t kp, int64_t n0, float* out) {
  const int64_t kk = 2 * kp, nr = std::min<int64_t>(kNR, W.N - n0), blocks = q8_blocks(W.K);
  const int64_t valid = std::min(W.K, k0 + kk) - k0;  // k0 is a multiple of kPacked16Kc, so of 32
  for (int64_t k = 0; k < kk; k += 16) {
    const __mmask16 mask = valid - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << std::max<int64_t>(valid - k, 0)) - 1);
    for (int64_t j = 0; j < kNR; j += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t n = n0 + j + i;
        if (j + i >= nr) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const __m128i codes = _mm_maskz_loadu_epi8(mask, W.codes + n * W.K + k0 + k);
        const __m512 w = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)),
                                       _mm512_set1_ps(W.scales[n * blocks + (k0 + k) / kQ8Block]));
        r[i] = _mm512_castps_si512(w);
      }
      transpose_16x16_regs(r, reinterpret_cast<uint32_t*>(out + k * kNR + j), kNR);
    }
  }
}

// Packs rows [k0, k0 + 2 kp) and columns [c0, c0 + kNR) of B = dequant(W) itself (W a q8_0 [N, K]
// read as B [N, K]: the input gradient G @ dequant(W)): out[r * kNR + j] = W[k0 + r, c0 + j], zero
// outside W. A panel row is 64 consecutive codes of one weight row (two blocks: c0 is a multiple of
// 64), widened in registers; no transpose.
RSCAPRET_AVX512_TARGET void pack_q8_rows(const Q8Matrix& W, int64_t k0, int64_t kp, int64_t c0, float* out) {
  const int64_t blocks = q8_blocks(W.K), cols = std::min<int64_t>(kNR, W.K - c0);
  for (int64_t r = 0; r < 2 * kp; ++r) {
    float* o = out + r * kNR;
    const int64_t n = k0 + r;
    if (n >= W.N) {  // the pad row of an odd N
      for (int j = 0; j < kNR; j += 16) _mm512_storeu_ps(o + j, _mm512_setzero_ps());
      continue;
    }
    const int8_t* q = W.codes + n * W.K + c0;
    for (int64_t j = 0; j < kNR; j += 16) {
      const int64_t left = std::clamp<int64_t>(cols - j, 0, 16);
      const __m128i codes = _mm_maskz_loadu_epi8(__mmask16((1u << left) - 1), q + j);
      const float scale = left > 0 ? W.scales[n * blocks + (c0 + j) / kQ8Block] : 0.0f;
      _mm512_storeu_ps(o + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)), _mm512_set1_ps(scale)));
    }
  }
}

// Packs rows [k0, k0 + 2 kp) and columns [n0, n0 + kNR) of B = dequant(W)^T as bf16 pairs, as pack_b
// does for a bf16 B: out[p * kNR + j] = bf16(W[n0 + j, k0 + 2p]) | bf16(W[n0 + j, k0 + 2p + 1]) << 16,
// each weight code * scale in f32 rounded to bf16 (nearest even), zero outside W. 32 codes of 16
// weight rows at a time: widened, scaled, converted two vectors to one (vcvtne2ps2bf16 keeps k
// order, so 32-bit lanes are the pairs), then transposed in registers. `out` holds kPacked16Kc / 2
// pair rows: the last 16-pair chunk may write pair rows past kp (never read).
// Up to 16 codes (a mask of the valid ones; the rest read as 0) times their scale, as f32.
RSCAPRET_AVX512_TARGET inline __m512 widen_codes(const int8_t* q, __mmask16 valid, float scale) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(valid, q))), _mm512_set1_ps(scale));
}

// The first min(16, max(0, n)) lanes.
inline __mmask16 first_lanes(int64_t n) {
  const int64_t lanes = std::clamp<int64_t>(n, 0, 16);
  return __mmask16(lanes == 16 ? 0xffffu : (1u << lanes) - 1);
}

RSCAPRET_BF16_DOT_TARGET void pack_q8_bf16(const Q8Matrix& W, int64_t k0, int64_t kp, int64_t n0, uint32_t* out) {
  const int64_t kk = 2 * kp, nr = std::min<int64_t>(kNR, W.N - n0), blocks = q8_blocks(W.K);
  const int64_t valid = std::min(W.K, k0 + kk) - k0;  // k0 is a multiple of kPacked16Kc, so of 32
  for (int64_t k = 0; k < kk; k += 32) {
    const __mmask16 lo_mask = first_lanes(valid - k), hi_mask = first_lanes(valid - k - 16);
    for (int64_t j = 0; j < kNR; j += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t n = n0 + j + i;
        if (j + i >= nr) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const int8_t* q = W.codes + n * W.K + k0 + k;
        const float scale = W.scales[n * blocks + (k0 + k) / kQ8Block];
        const __m512 lo = widen_codes(q, lo_mask, scale), hi = widen_codes(q + 16, hi_mask, scale);
        r[i] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // 16 pairs (k, k + 1) in k order
      }
      transpose_16x16_regs(r, out + (k / 2) * kNR + j, kNR);
    }
  }
}

template <class Kernel>
void tile_rows(int mr, const typename Kernel::A* a, int64_t lda, const typename Kernel::Panel* b, int64_t kp, float* c,
               int64_t ldc, int nr, bool accumulate) {
  switch (mr) {
    case 6: return Kernel::template run<6>(a, lda, b, kp, c, ldc, nr, accumulate);
    case 5: return Kernel::template run<5>(a, lda, b, kp, c, ldc, nr, accumulate);
    case 4: return Kernel::template run<4>(a, lda, b, kp, c, ldc, nr, accumulate);
    case 3: return Kernel::template run<3>(a, lda, b, kp, c, ldc, nr, accumulate);
    case 2: return Kernel::template run<2>(a, lda, b, kp, c, ldc, nr, accumulate);
    default: return Kernel::template run<1>(a, lda, b, kp, c, ldc, nr, accumulate);
  }
}

// C = A (rows of lda, Kp = K rounded up to even columns readable, the pad 0) . B, over B packed
// per thread in kNR-column panels by pack(k0, kp, n0, panel) (kp pairs of K rows from k0, columns
// from n0). Work items: (panel) x (block of rows): whole-height row blocks unless there are too few
// panels to occupy every thread (then B panels are packed once per row block). Each C element is
// summed in one order by one thread.
template <class Kernel, class Pack>
void packed_gemm(const typename Kernel::A* a, int64_t lda, const Pack& pack, float* C, int64_t M, int64_t K,
                 int64_t N) {
  const int64_t Kp = (K + 1) / 2 * 2;
  const int64_t panels = (N + kNR - 1) / kNR;
  const int64_t want = 4 * int64_t(num_threads());
  int64_t row_blocks = panels >= want ? 1 : std::min((want + panels - 1) / panels, (M + 8 * kMR - 1) / (8 * kMR));
  row_blocks = std::max<int64_t>(row_blocks, 1);
  const int64_t block_rows = ((M + row_blocks - 1) / row_blocks + kMR - 1) / kMR * kMR;
  row_blocks = (M + block_rows - 1) / block_rows;

  parallel_for(0, panels * row_blocks, 1, [&](int64_t w0, int64_t w1) {
    thread_local std::vector<typename Kernel::Panel> packed;
    packed.resize(size_t(kPacked16Kc / 2 * Kernel::kPanelWords));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t n0 = (w % panels) * kNR, m_begin = (w / panels) * block_rows;
      const int64_t m_end = std::min(M, m_begin + block_rows);
      const int nr = int(std::min<int64_t>(kNR, N - n0));
      for (int64_t k0 = 0; k0 < Kp; k0 += kPacked16Kc) {
        const int64_t kp = std::min(kPacked16Kc, Kp - k0) / 2;
        pack(k0, kp, n0, packed.data());
        for (int64_t m = m_begin; m < m_end; m += kMR)
          tile_rows<Kernel>(int(std::min<int64_t>(kMR, m_end - m)), a + m * lda + k0, lda, packed.data(), kp,
                            C + m * N + n0, N, nr, k0 > 0);
      }
    }
  });
}

#endif

}  // namespace

bool cpu_has_avx512() {
#ifdef RSCAPRET_PACKED16_X86
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

bool cpu_has_bf16_dot() {
#ifdef RSCAPRET_PACKED16_X86
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

void gemm_bf16_dot(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N) {
  RS_CHECK(cpu_has_bf16_dot(), Error, "gemm_bf16_dot", "this CPU has no AVX-512 BF16 dot products");
  if (empty_product(C, M, K, N)) return;
#ifdef RSCAPRET_PACKED16_X86
  const int64_t Kp = (K + 1) / 2 * 2;
  // bf16(A), rows of Kp; every element is written by round_a (no zero fill first).
  const std::unique_ptr<uint16_t[]> a16(new uint16_t[size_t(M * Kp)]);
  round_a(A, M, K, Kp, a16.get());
  packed_gemm<Bf16Products>(
      a16.get(), Kp, [&](int64_t k0, int64_t kp, int64_t n0, uint32_t* out) { pack_b(B, K, N, k0, kp, n0, out, false); },
      C, M, K, N);
#else
  (void)A;
  (void)B;
  (void)C;
#endif
}

void gemm_bf16_dot_q8(const MatrixOperand& A, const Q8Matrix& W, float* C, int64_t M) {
  RS_CHECK(cpu_has_bf16_dot(), Error, "gemm_bf16_dot_q8", "this CPU has no AVX-512 BF16 dot products");
  if (empty_product(C, M, W.K, W.N)) return;
#ifdef RSCAPRET_PACKED16_X86
  const int64_t Kp = (W.K + 1) / 2 * 2;
  const std::unique_ptr<uint16_t[]> a16(new uint16_t[size_t(M * Kp)]);
  round_a(A, M, W.K, Kp, a16.get());
  packed_gemm<Bf16Products>(
      a16.get(), Kp, [&](int64_t k0, int64_t kp, int64_t n0, uint32_t* out) { pack_q8_bf16(W, k0, kp, n0, out); }, C,
      M, W.K, W.N);
#else
  (void)A;
  (void)W;
  (void)C;
#endif
}

namespace {

// Calls run(a, lda) with A's rows as the f32 tiles read them: dense along K and of even length
// (the tiles read columns in pairs); otherwise from a copy padded with a zero column.
template <class Run>
void with_even_f32_rows(const MatrixOperand& A, int64_t M, int64_t K, const Run& run) {
  if (A.col_stride == 1 && K % 2 == 0 && A.row_stride >= K) {
    run(static_cast<const float*>(A.data), A.row_stride);
    return;
  }
  const int64_t Kp = (K + 1) / 2 * 2;
  const std::unique_ptr<float[]> a32(new float[size_t(M * Kp)]);
  parallel_for(0, M, row_grain(K), [&](int64_t m0, int64_t m1) {
    const auto* x = static_cast<const float*>(A.data);
    for (int64_t m = m0; m < m1; ++m) {
      for (int64_t k = 0; k < K; ++k) a32[size_t(m * Kp + k)] = x[m * A.row_stride + k * A.col_stride];
      if (Kp > K) a32[size_t(m * Kp + K)] = 0.0f;
    }
  });
  run(a32.get(), Kp);
}

}  // namespace

void gemm_f32_16bit_weights(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N) {
  RS_CHECK(cpu_has_avx512(), Error, "gemm_f32_16bit_weights", "this CPU has no AVX-512");
  RS_CHECK(A.dtype == DType::f32 && (B.dtype == DType::bf16 || B.dtype == DType::f16), DTypeError,
           "gemm_f32_16bit_weights", "needs f32 A and a bf16 or f16 B, got ", dtype_name(A.dtype), " and ",
           dtype_name(B.dtype));
  if (empty_product(C, M, K, N)) return;
#ifdef RSCAPRET_PACKED16_X86
  const bool f16 = B.dtype == DType::f16;
  with_even_f32_rows(A, M, K, [&](const float* a, int64_t lda) {
    const auto pack = [&](int64_t k0, int64_t kp, int64_t n0, uint32_t* out) { pack_b(B, K, N, k0, kp, n0, out, f16); };
    if (f16) packed_gemm<F32Products<true>>(a, lda, pack, C, M, K, N);
    else packed_gemm<F32Products<false>>(a, lda, pack, C, M, K, N);
  });
#else
  (void)A;
  (void)B;
  (void)C;
#endif
}

namespace {

// f32 products over f32 panels of dequantized q8_0 weights: C[M, N] = A[M, K] (f32) . B, with B's
// panels written by pack (pack_q8: B = dequant(W)^T; pack_q8_rows: B = dequant(W)).
#ifdef RSCAPRET_PACKED16_X86
template <class Pack>
void f32_panel_gemm(const char* what, const MatrixOperand& A, int64_t K, int64_t N, const Pack& pack, float* C,
                    int64_t M) {
  RS_CHECK(cpu_has_avx512(), Error, what, "this CPU has no AVX-512");
  RS_CHECK(A.dtype == DType::f32, DTypeError, what, "needs f32 A, got ", dtype_name(A.dtype));
  if (empty_product(C, M, K, N)) return;
  with_even_f32_rows(A, M, K, [&](const float* a, int64_t lda) { packed_gemm<F32Panel>(a, lda, pack, C, M, K, N); });
}
#endif

}  // namespace

// (Without the x86 kernels both entry points only refuse: cpu_has_avx512() is false there.)
void gemm_f32_q8_weights_nn(const MatrixOperand& G, const Q8Matrix& W, float* C, int64_t M) {
#ifdef RSCAPRET_PACKED16_X86
  const auto pack = [&](int64_t k0, int64_t kp, int64_t c0, float* out) { pack_q8_rows(W, k0, kp, c0, out); };
  f32_panel_gemm("gemm_f32_q8_weights_nn", G, W.N, W.K, pack, C, M);
#else
  (void)G, (void)W, (void)C, (void)M;
  RS_CHECK(cpu_has_avx512(), Error, "gemm_f32_q8_weights_nn", "this CPU has no AVX-512");
#endif
}

void gemm_f32_q8_weights(const MatrixOperand& A, const Q8Matrix& W, float* C, int64_t M) {
#ifdef RSCAPRET_PACKED16_X86
  const auto pack = [&](int64_t k0, int64_t kp, int64_t n0, float* out) { pack_q8(W, k0, kp, n0, out); };
  f32_panel_gemm("gemm_f32_q8_weights", A, W.K, W.N, pack, C, M);
#else
  (void)A, (void)W, (void)C, (void)M;
  RS_CHECK(cpu_has_avx512(), Error, "gemm_f32_q8_weights", "this CPU has no AVX-512");
#endif
}

}  // namespace rscapret::kernels
