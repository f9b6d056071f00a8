// The GEMM epilogue shared by our bf16 kernels and the cuBLASLt fallback: activation in f32,
// round-to-nearest-even bf16, and bounds-checked stores of one row's column pair.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::kernels::cuda::gemm {

// The same formulas as kernels::ref::unary (elementwise_ref.cpp), evaluated in f32.
__device__ __forceinline__ float activate(float x, GemmActivation act) {
  switch (act) {
    case GemmActivation::none: return x;
    case GemmActivation::gelu_erf: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case GemmActivation::gelu_tanh: {
      const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);  // sqrt(2/pi)(x + 0.044715 x^3)
      return 0.5f * x * (1.0f + tanhf(u));
    }
    case GemmActivation::quick_gelu: return x / (1.0f + expf(-1.702f * x));
    case GemmActivation::silu: return x / (1.0f + expf(-x));
  }
  return x;
}

// Round to nearest even; NaN stays NaN (the intrinsic returns the canonical quiet NaN).
__device__ __forceinline__ uint16_t to_bf16_bits(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }

// Where and how the epilogue writes C [M, N] (leading dimension ldc, f32 or bf16).
struct EpilogueArgs {
  void* C;
  int64_t ldc;
  bool c_bf16;
  bool pair_aligned;  // C and ldc allow one 8-byte (f32) or 4-byte (bf16) store per column pair
  const float* bias;  // [N] or null
  GemmActivation act;
  int M, N;
};

// Host side: whether paired stores are aligned for every even column of every row.
inline bool epilogue_pair_aligned(const void* C, int64_t ldc, bool c_bf16) {
  const uintptr_t bytes = c_bf16 ? 4 : 8;
  return reinterpret_cast<uintptr_t>(C) % bytes == 0 && ldc % 2 == 0;
}

// Writes act(v0 + bias[col]), act(v1 + bias[col + 1]) at (row, col), (row, col + 1), skipping
// whatever lies outside [M, N]. col must be even (so a pair store is aligned when pair_aligned).
__device__ __forceinline__ void store_pair(const EpilogueArgs& e, int row, int col, float v0, float v1) {
  if (row >= e.M || col >= e.N) return;
  const bool has1 = col + 1 < e.N;
  if (e.bias) {
    v0 += e.bias[col];
    if (has1) v1 += e.bias[col + 1];
  }
  v0 = activate(v0, e.act);
  v1 = activate(v1, e.act);
  const int64_t off = int64_t(row) * e.ldc + col;
  if (e.c_bf16) {
    uint16_t* c = static_cast<uint16_t*>(e.C) + off;
    if (has1 && e.pair_aligned) {
      *reinterpret_cast<uint32_t*>(c) = uint32_t(to_bf16_bits(v0)) | (uint32_t(to_bf16_bits(v1)) << 16);
    } else {
      c[0] = to_bf16_bits(v0);
      if (has1) c[1] = to_bf16_bits(v1);
    }
  } else {
    float* c = static_cast<float*>(e.C) + off;
    if (has1 && e.pair_aligned) {
      *reinterpret_cast<float2*>(c) = make_float2(v0, v1);
    } else {
      c[0] = v0;
      if (has1) c[1] = v1;
    }
  }
}

// One element: act(v + bias[col]) at (row, col), if inside [M, N].
__device__ __forceinline__ void store_one(const EpilogueArgs& e, int row, int col, float v) {
  if (row >= e.M || col >= e.N) return;
  if (e.bias) v += e.bias[col];
  v = activate(v, e.act);
  const int64_t off = int64_t(row) * e.ldc + col;
  if (e.c_bf16)
    static_cast<uint16_t*>(e.C)[off] = to_bf16_bits(v);
  else
    static_cast<float*>(e.C)[off] = v;
}

}  // namespace rscapret::kernels::cuda::gemm
