// q8_0 weights: 8-bit codes with one f32 scale per block of 32 weights, for running large frozen
// decoders on the CPU in 1.125 bytes a weight (a 7B decoder's layers in 7.4 GB instead of 13.2 GB
// in bf16: bench/RESULTS.md), and decoding faster, since decode time is the time to read the weights.
//
// Layout of a weight W [N, K] (a Linear's [out, in]): codes i8 [N, K] and scales f32
// [N, q8_blocks(K)]. Row n, block b covers k in [32 b, min(K, 32 b + 32)); there
// W[n, k] ~ scales[n, b] * codes[n, k], scale = max|w| / 127, code = round(w / scale) (nearest
// even), so |W - dequant(W)| <= scale / 2 element by element, up to the division's own rounding
// (kernels/cpu/ref/quant_ref.cpp).
// The scales are f32, not f16 as in the format this is modelled on: f16 would save 6% of the
// bytes but lose precision for blocks whose largest weight is under ~1e-2 (subnormal scales).
//
// Products keep the activations in f32: each weight is widened to f32 (code * scale) in registers
// and multiplied in f32, so the only error beside f32 summation is the weights' rounding.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace rscapret::kernels {

inline constexpr int64_t kQ8Block = 32;
inline int64_t q8_blocks(int64_t K) { return (K + kQ8Block - 1) / kQ8Block; }

// A q8_0 matrix [N, K]: codes dense row-major [N, K], scales dense [N, q8_blocks(K)].
struct Q8Matrix {
  const int8_t* codes;
  const float* scales;
  int64_t N, K;
};

// Quantizes W [N, K] (f32, bf16 or f16; rows dense: col_stride 1) into codes and scales. A NaN or
// an infinity in W is a ValueError naming the row (nothing sensible can be stored for it).
void quantize_q8(const MatrixOperand& W, int64_t N, int64_t K, int8_t* codes, float* scales);

// Rows [n0, n1) of dequant(W) as dense f32 rows of K.
void dequantize_q8_rows(const Q8Matrix& W, int64_t n0, int64_t n1, float* out);

// C[M, N] = A[M, K] @ dequant(W)^T: A f32 with dense rows of stride lda, C dense [M, N].
// M <= kGemvQ8MaxM streams W once, widening in registers (decode); larger M multiplies over
// packed panels of dequantized weights (gemm_f32_q8_weights) with AVX-512, else dequantizes tiles
// of W into f32 and multiplies them with gemm(). Under MatmulPrecision::bf16, larger M takes bf16
// products (gemm_bf16_dot_q8) where the CPU has AVX-512 BF16, as 16-bit weights do.
inline constexpr int64_t kGemvQ8MaxM = 8;
void gemm_q8(const float* A, int64_t lda, const Q8Matrix& W, int64_t M, float* C);
// The portable path gemm_q8 takes for M > kGemvQ8MaxM without AVX-512 (any M).
void gemm_q8_dequantized_tiles(const float* A, int64_t lda, const Q8Matrix& W, int64_t M, float* C);

// MatmulPrecision::int8 (gemm.h) for decode rows: each activation row is quantized to q8_0 as the
// weights are (32 per block, scale max|a| / 127), and the codes are multiplied with AVX-512 VNNI
// integer dot products (vpdpbusd, 64 per instruction), the exact integer block sums then scaled
// and summed in f32. Changes results by the activations' rounding (|a - a_q s| <= s / 2), as the
// format's origin does; a weight byte costs a fraction of an instruction, so decoding runs at the
// weights' read rate. gemm_q8 takes it when asked and the CPU has VNNI; false (nothing written)
// when a row holds a NaN or an infinity, which the f32 path then propagates. M <= kGemvQ8MaxM.
bool cpu_has_vnni();
bool gemv_q8_int8_activations(const float* A, int64_t lda, int64_t M, const Q8Matrix& W, float* C);

// C[M, K] = G[M, N] @ dequant(W): a Linear's input gradient. G dense [M, N], C dense [M, K].
// With AVX-512 over packed panels of W's rows (gemm_f32_q8_weights_nn), else the portable path.
void gemm_q8_transposed(const float* G, const Q8Matrix& W, int64_t M, float* C);
void gemm_q8_transposed_dequantized_tiles(const float* G, const Q8Matrix& W, int64_t M, float* C);

}  // namespace rscapret::kernels
