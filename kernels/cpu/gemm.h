// GEMM on the CPU through OpenBLAS: C[M,N] (f32, row-major, dense) = A[M,K] @ B[K,N].
// A and B may be f32, bf16 or f16 with any layout whose rows or columns are dense; 16-bit
// operands are converted to f32 one tile at a time, so a 7B weight never gets an f32 copy.
#pragma once

#include <cstdint>

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

void gemm(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N);

// Wall time spent inside gemm() since the last reset, all threads' calls summed (benchmarks use
// it for "share of time in matmul"; two clock reads per call cost nothing beside a GEMM).
int64_t gemm_nanoseconds();
void reset_gemm_nanoseconds();

}  // namespace rscapret::kernels
