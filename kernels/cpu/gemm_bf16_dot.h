// GEMM with bf16 products on the CPU: C[M,N] (f32, dense row-major) = bf16(A) @ bf16(B), each
// operand rounded to bf16 (nearest even) and the products summed in f32 with AVX-512 BF16 dot
// products (vdpbf16ps: two bf16 products per f32 lane, twice the f32 FMA rate on Zen 4).
//
// Why: a frozen bf16 backbone is an inference workload where the f32 path spends its time
// widening weights and multiplying at the f32 rate; rounding the activations to bf16 too is what
// the GPU's bf16 GEMM (and PyTorch's bf16 models) do. It changes results at bf16 precision, so it
// only runs when asked (kernels::set_matmul_precision(MatmulPrecision::bf16), `--matmul-precision
// bf16` on the model commands); the default stays exact f32.
//
// Layout: A is rounded once into a dense bf16 copy [M][K rounded up to even]. B is packed per
// thread, 64 columns by up to kBf16DotKc rows at a time, as bf16 pairs along K ([K/2][64] u32, the
// vdpbf16ps operand, 128 KB: stays in L2), then a 6 x 64 register tile (24 accumulators)
// multiplies rows of A, broadcasting one A pair per row and k-pair. Each C element is summed in one
// fixed order by one thread, so results never depend on the thread count.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace rscapret::kernels {

inline constexpr int64_t kBf16DotKc = 1024;  // K rows per packed B block (even)

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

}  // namespace rscapret::kernels
