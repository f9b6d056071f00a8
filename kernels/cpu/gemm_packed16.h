// CPU GEMMs over a packed B: C[M,N] (f32, dense row-major) = A[M,K] @ B[K,N]. B is packed per
// thread, 64 columns by up to kPacked16Kc rows at a time (as pairs of 16-bit values along K,
// [K/2][64] u32, 128 KB; or as f32 rows, 256 KB: either stays in L2), then a 6 x 64 register tile
// (24 accumulators) multiplies rows of A against it, broadcasting A one row at a time. Each C
// element is summed in one fixed order by one thread, so results never depend on the thread
// count. Three products:
//
// - gemm_bf16_dot, bf16 products: both operands rounded to bf16 (nearest even), products summed in
//   f32 with AVX-512 BF16 dot products (vdpbf16ps: two bf16 products per f32 lane, twice the f32
//   FMA rate on Zen 4). Rounding the activations is what the GPU's bf16 GEMM and PyTorch's bf16
//   models do; it changes results at bf16 precision, so it runs only when asked
//   (kernels::set_matmul_precision(MatmulPrecision::bf16), `--matmul-precision bf16`).
// - gemm_f32_16bit_weights, f32 products: A stays f32, a bf16 or f16 B is widened to f32 in
//   registers (exact), f32 FMAs. The default for 16-bit weights (gemm.h).
// - gemm_f32_q8_weights, f32 products with q8_0 weights (quant_q8.h): the panel holds the weights
//   dequantized to f32 (code * scale, as dequantize_q8_rows computes them), f32 FMAs.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/quant_q8.h"

namespace rscapret::kernels {

inline constexpr int64_t kPacked16Kc = 1024;  // K rows per packed B block (even)

// True when this CPU has AVX-512 BF16 (and the build targets x86-64): gemm_bf16_dot may run.
bool cpu_has_bf16_dot();

// Any dtypes (f32, bf16, f16) and any layout gemm_layout_ok accepts. Needs cpu_has_bf16_dot().
void gemm_bf16_dot(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N);

// f32 products with a 16-bit B: C = A (f32) @ B (bf16 or f16), B packed as above (keeping an f16
// B's own bits) and widened to f32 in registers, f32 FMAs (the 6 x 64 tile at the f32 rate). The
// products are those of widening the weight to f32 first (exact for both types), which the tile
// path before it did into f32 tiles for OpenBLAS: at tens to hundreds of rows that widening pass,
// not the products, set its pace. Needs cpu_has_avx512().
bool cpu_has_avx512();
void gemm_f32_16bit_weights(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N);

// C[M, N] = A[M, K] (f32, any layout gemm accepts) @ dequant(W)^T for a q8_0 W [N, K]: each panel
// holds kPacked16Kc rows of dequantized weights as f32 (256 KB). Needs cpu_has_avx512().
void gemm_f32_q8_weights(const MatrixOperand& A, const Q8Matrix& W, float* C, int64_t M);
// bf16 products with q8_0 weights (MatmulPrecision::bf16): A rounded to bf16, each weight's
// code * scale (f32) rounded to bf16 while packing, vdpbf16ps as gemm_bf16_dot. Needs cpu_has_bf16_dot().
void gemm_bf16_dot_q8(const MatrixOperand& A, const Q8Matrix& W, float* C, int64_t M);
// C[M, K] = G[M, N] (f32) @ dequant(W) [N, K]: the input gradient, over panels of W's own rows.
void gemm_f32_q8_weights_nn(const MatrixOperand& G, const Q8Matrix& W, float* C, int64_t M);

}  // namespace rscapret::kernels
