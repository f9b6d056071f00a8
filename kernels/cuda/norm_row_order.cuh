// How the norm forward (norm.cu) reduces a row, shared with the kernels that must reproduce its bits.
//
// The decode GEMVs can apply an RMSNorm to their input rows as they load them (gemm_bf16_skinny.cuh,
// kNormA), which saves the norm's launch; for the tokens to stay the same with that fusion on or off,
// the fused kernel must compute rstd with norm.cu's own operations in norm.cu's own order. Both take
// them from here: the block's thread count, the width above which a whole block owns a row, the
// per-element square accumulation, the warp butterfly and the rstd formula.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace rscapret::kernels::cuda::norm_order {

constexpr int kNormThreads = 256;            // every norm kernel's block; a multiple of 32
constexpr int64_t kWarpRowMaxCols = 1024;    // up to this width a warp owns a row, above it a block

// Whether norm.cu's forward reduces a row of `cols` with a whole block (the order reproduced below).
__host__ __device__ constexpr bool block_owns_row(int64_t cols) { return cols > kWarpRowMaxCols; }

// ss + d * d: one expression for both kernels, so that the compiler contracts it (or not) alike.
__device__ __forceinline__ float add_square(float ss, float d) { return ss + d * d; }

__device__ __forceinline__ float warp_sum(float v) {
  // Butterfly: IEEE addition is commutative, so every lane ends with the same bits.
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// 1 / sqrt (two correctly rounded operations) rather than rsqrtf's approximation.
__device__ __forceinline__ float rstd_from_sum_of_squares(float ss, int64_t cols, float eps) {
  return 1.0f / sqrtf(ss / float(cols) + eps);
}

// The sum of squares of one row as norm.cu's block kernel forms it for RMSNorm (mean 0): its thread t
// sums add_square over x[t], x[t + kNormThreads], ... in order, each warp sums its threads' values by
// warp_sum, and the kNormThreads / 32 warp sums are added in warp order, starting from 0. Run here by
// a block of blockDim.x threads, blockDim.x a multiple of 32 dividing kNormThreads: thread u plays
// the norm kernel's threads u, u + blockDim.x, ..., each in its own lane of its own warp, so every
// partial sum and butterfly is the norm kernel's. Every thread of the block must call it (it holds
// a block barrier); warp_sums: kNormThreads / 32 floats of shared memory. The sum, in every thread.
__device__ __forceinline__ float sum_of_squares_in_block_order(const float* x, int64_t cols, float* warp_sums) {
  for (int t = int(threadIdx.x); t < kNormThreads; t += int(blockDim.x)) {
    float ss = 0.f;
    for (int64_t i = t; i < cols; i += kNormThreads) ss = add_square(ss, x[i]);
    ss = warp_sum(ss);
    if ((t & 31) == 0) warp_sums[t / 32] = ss;
  }
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kNormThreads / 32; ++w) total += warp_sums[w];  // the norm kernel's fixed order
  return total;
}

// rstd [rows] of x [rows, cols], a block per row, reduced as above: the decode GEMVs' prologue
// alone, for the tests that hold it to the norm kernel's rstd bit for bit. A template, so that only
// the files that launch it compile it.
template <int = 0>
__global__ void rstd_in_block_order_kernel(const float* x, float* rstd, int64_t cols, float eps) {
  __shared__ float warp_sums[kNormThreads / 32];
  const float ss = sum_of_squares_in_block_order(x + int64_t(blockIdx.x) * cols, cols, warp_sums);
  if (threadIdx.x == 0) rstd[blockIdx.x] = rstd_from_sum_of_squares(ss, cols, eps);
}

}  // namespace rscapret::kernels::cuda::norm_order
