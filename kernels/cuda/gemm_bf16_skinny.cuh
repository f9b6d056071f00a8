// The decode-shaped bf16 GEMM: M <= 8 rows of A against a Linear weight B [N, K]. Such a product
// is bound by reading B once (2 N K bytes); a 128-row mma tile would waste almost all of its work
// and leave most SMs idle (N / 128 blocks), so this kernel streams B instead: each warp owns
// kCols consecutive columns n, its lanes read those B rows in coalesced 16-byte chunks along K,
// multiply them with the M rows of A (small, served from L1/L2) in f32, and a warp shuffle
// reduction finishes each dot product. Requires K % 8 == 0 and 16-byte aligned rows of A and B.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/gemm_epilogue.cuh"

namespace rscapret::kernels::cuda::gemm {

struct SkinnyArgs {
  const uint16_t* A;  // [M, K], lda
  int64_t lda;
  const uint16_t* B;  // [N, K], ldb
  int64_t ldb;
  int M, N, K;
  EpilogueArgs epi;
};

// Columns per warp and the unroll of the K loop set the bytes of B in flight per thread
// (kSkinnyCols x kSkinnyUnroll x 16). These (8 loads in flight, 256 blocks for N = 4096) streamed
// B at 0.86 TB/s on the H100 (1x4096x4096, 1.7 TFLOP/s), under a third of HBM: too few bytes in
// flight. More in flight (2 columns, unroll 8, twice the blocks) is the next thing to measure; it
// is not switched on unmeasured.
constexpr int kSkinnyCols = 4;       // columns per warp: each A chunk read serves 4 B rows
constexpr int kSkinnyUnroll = 2;
constexpr int kSkinnyThreads = 128;  // 4 warps, 16 columns per block

__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

// sum over 8 k of a[k] * b[k], both 8 packed bf16.
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b, float acc) {
  const uint32_t aw[4] = {a.x, a.y, a.z, a.w}, bw[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    acc = fmaf(bf16_lo(aw[q]), bf16_lo(bw[q]), acc);
    acc = fmaf(bf16_hi(aw[q]), bf16_hi(bw[q]), acc);
  }
  return acc;
}

// kCols and kUnroll default to the production values; the kernel lab times others.
template <int kMaxM, int kCols = kSkinnyCols, int kUnroll = kSkinnyUnroll>
__global__ void __launch_bounds__(kSkinnyThreads) gemm_bf16_skinny_kernel(const SkinnyArgs p) {
  static_assert(kMaxM * kCols <= 32, "one lane stores each output of the warp");
  const int lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * (kSkinnyThreads / 32) + (threadIdx.x >> 5)) * kCols;
  if (n0 >= p.N) return;  // whole warps leave together; no block barrier follows

  // Columns past N re-read row N-1 (a valid row); their sums are never stored.
  const uint4* brow[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c)
    brow[c] = reinterpret_cast<const uint4*>(p.B + int64_t(min(n0 + c, p.N - 1)) * p.ldb);

  float acc[kMaxM][kCols];
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[m][c] = 0.0f;

  const int chunks = p.K / 8;  // 16-byte chunks per row
#pragma unroll kUnroll
  for (int q = lane; q < chunks; q += 32) {
    uint4 bv[kCols];
#pragma unroll
    for (int c = 0; c < kCols; ++c) bv[c] = __ldg(brow[c] + q);  // read once: non-coherent path
#pragma unroll
    for (int m = 0; m < kMaxM; ++m) {
      if (m < p.M) {
        const uint4 av = __ldg(reinterpret_cast<const uint4*>(p.A + int64_t(m) * p.lda) + q);
#pragma unroll
        for (int c = 0; c < kCols; ++c) acc[m][c] = dot8(av, bv[c], acc[m][c]);
      }
    }
  }

  // Butterfly sums: every lane ends with the full dot products.
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kCols; ++c)
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) acc[m][c] += __shfl_xor_sync(0xffffffffu, acc[m][c], off);

  // Lane m * kCols + c stores C[m, n0 + c] (register arrays indexed by constants only).
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane == m * kCols + c && m < p.M) store_one(p.epi, m, n0 + c, acc[m][c]);
}

}  // namespace rscapret::kernels::cuda::gemm
