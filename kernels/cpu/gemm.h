// GEMM on the CPU: C[M,N] (f32, row-major, dense) = A[M,K] @ B[K,N]. A and B may be f32, bf16 or
// f16 with any layout whose rows or columns are dense; a 7B weight never gets an f32 copy.
//   f32 operands: OpenBLAS.
//   f32 A with a bf16 or f16 B (a 16-bit model's weights), M > 8, AVX-512: our kernel, B packed
//     in 16 bits and widened in registers (gemm_packed16.h), f32 products.
//   other 16-bit operands (a 16-bit A, or no AVX-512): converted to f32 one tile at a time, then
//     OpenBLAS.
//   M <= 8 with a 16-bit [N, K] weight: the GEMV that streams it (gemv_half.h).
#pragma once

#include <cstdint>
#include <string_view>

#include "tensor/dtype.h"

namespace rscapret::kernels {

struct MatrixOperand {
  const void* data;
  DType dtype;          // f32, bf16 or f16
  int64_t row_stride;   // elements between (i, k) and (i+1, k)
  int64_t col_stride;   // elements between (i, k) and (i, k+1); one of the two strides must be 1
};

// True when the operand's layout is one gemm accepts without a copy.
bool gemm_layout_ok(const MatrixOperand& op, int64_t rows, int64_t cols);

// How gemm may compute its products (the role of PyTorch's float32 matmul precision), process-wide:
//   f32  - every product in f32: the default, and what every reference comparison holds;
//   bf16 - both operands rounded to bf16, products summed in f32 (gemm_packed16.h), where the CPU
//          has AVX-512 BF16 and M > kGemvHalfMaxM (q8_0 weights too: code * scale rounded to
//          bf16); elsewhere the f32 path runs as before.
//   int8 - decode rows (M <= 8) against q8_0 weights quantize the activations to q8_0 too and
//          multiply with AVX-512 VNNI integer dot products (quant_q8.h), as the format's origin
//          does; every other product as f32.
enum class MatmulPrecision : uint8_t { f32, bf16, int8 };
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
// "f32", "bf16" or "int8"; anything else is a ValueError.
MatmulPrecision matmul_precision_from_name(std::string_view name);
// Sets a precision for a scope (tests, benchmarks) and restores the previous one.
class MatmulPrecisionGuard {
 public:
  explicit MatmulPrecisionGuard(MatmulPrecision p) : previous_(matmul_precision()) { set_matmul_precision(p); }
  ~MatmulPrecisionGuard() { set_matmul_precision(previous_); }
  MatmulPrecisionGuard(const MatmulPrecisionGuard&) = delete;
  MatmulPrecisionGuard& operator=(const MatmulPrecisionGuard&) = delete;

 private:
  MatmulPrecision previous_;
};

void gemm(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N);

// For every product kernel: nothing to multiply when M or N is 0 (C has no element) or K is 0
// (C is an empty sum: written as zeros, C dense [M, N]). True when the product is done.
bool empty_product(float* C, int64_t M, int64_t K, int64_t N);

// Wall time spent inside gemm() since the last reset, all threads' calls summed (benchmarks use
// it for "share of time in matmul"; two clock reads per call cost nothing beside a GEMM).
int64_t gemm_nanoseconds();
void reset_gemm_nanoseconds();

}  // namespace rscapret::kernels
