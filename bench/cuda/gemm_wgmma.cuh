// Lab variant 5: a Hopper wgmma bf16 GEMM, C [M, N] = A [M, K] @ B^T, B [N, K] (sm_90a only).
// Not production: it lives in the lab until the H100 has validated and timed it.
//
// One block = a 128 x 256 tile of C, 256 threads = 2 warpgroups; warpgroup w computes rows
// 64w .. 64w+63 with wgmma.m64n256k16 (128 f32 accumulators per thread), 4 per 64-wide K step.
// All 256 threads also copy: cp.async 16-byte chunks into a 4-stage ring, written in the
// 128-byte-swizzle layout that the wgmma descriptors describe:
//   a tile of R rows x 64 bf16 (128 bytes per row) is R/8 atoms of 8 rows x 128 bytes (1024
//   bytes, 1024-aligned); chunk c (16 bytes, k = 8c .. 8c+7) of row r sits at
//   r * 128 + ((c ^ (r % 8)) * 16). The descriptor's stride byte offset (1024) steps 8 rows;
//   a k16 step inside the 128-byte row advances the start address by 32 bytes (the hardware
//   applies the XOR to the address it forms, so the atom's row pattern stays aligned).
// Pipeline (distance STAGES-2, one wgmma group left in flight): at step kt, after the barrier,
// the copies of step kt+STAGES-2 go into slot (kt-2) % STAGES, whose wgmmas (step kt-2) every
// warpgroup has retired by its wgmma.wait_group 1 at the end of step kt-1.
// Preconditions (the lab checks them): K % 8 == 0, A, B 16-byte aligned, lda, ldb % 8 == 0.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "bench/cuda/gemm_wgmma_ptx.cuh"
#include "kernels/cuda/gemm_bf16_kernel.cuh"

namespace rscapret::kernels::cuda::gemm {

struct WgmmaCfg {
  static constexpr int BM = 128, BN = 256, BK = 64, STAGES = 4, THREADS = 256;
  static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2;  // 16 KB, 32 KB
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES + 1024;  // + slack to align to 1024
  static constexpr int A_ITERS = BM * (BK / 8) / THREADS, B_ITERS = BN * (BK / 8) / THREADS;
  static_assert(A_ITERS * THREADS == BM * BK / 8 && B_ITERS * THREADS == BN * BK / 8, "even copy split");
  static_assert(A_BYTES % 1024 == 0 && B_BYTES % 1024 == 0, "every tile starts on a swizzle atom");
  static_assert(STAGES >= 3, "distance STAGES-2 needs at least 3 stages");
  static_assert(SMEM_BYTES <= 227 * 1024, "Hopper allows 227 KB of shared memory per block");
};

// Byte offset of chunk c of row r in a 128-byte-swizzled tile.
__device__ __forceinline__ uint32_t sw128_offset(int r, int c) { return uint32_t(r * 128 + ((c ^ (r & 7)) << 4)); }

__global__ void __launch_bounds__(WgmmaCfg::THREADS, 1) gemm_bf16_wgmma_kernel(const MmaArgs p) {
  using Cfg = WgmmaCfg;
  extern __shared__ uint4 smem_raw[];
  const uint32_t smem_base = (smem_u32(smem_raw) + 1023u) & ~1023u;

  const int tid = threadIdx.x, lane = tid & 31;
  const int wg = tid / 128, warp_in_wg = (tid % 128) / 32;
  const int M = p.M, N = p.N, K = p.K;

  // Grouped raster, as in the mma.sync kernel.
  const int tiles_m = (M + Cfg::BM - 1) / Cfg::BM, tiles_n = (N + Cfg::BN - 1) / Cfg::BN;
  const int bid = blockIdx.x;
  const int group_width = kGroupM * tiles_n;
  const int first_m = (bid / group_width) * kGroupM;
  const int group_rows = min(tiles_m - first_m, kGroupM);
  const int m0 = (first_m + (bid % group_width) % group_rows) * Cfg::BM;
  const int n0 = ((bid % group_width) / group_rows) * Cfg::BN;

  // Copy assignments: chunk id -> (row id / 8, chunk id % 8); 8 threads cover a 128-byte row.
  const uint16_t* a_src[Cfg::A_ITERS];
  bool a_ok[Cfg::A_ITERS];
  uint32_t a_dst[Cfg::A_ITERS];
  int a_col[Cfg::A_ITERS];
#pragma unroll
  for (int i = 0; i < Cfg::A_ITERS; ++i) {
    const int id = tid + i * Cfg::THREADS, row = id / 8, c = id % 8;
    a_ok[i] = m0 + row < M;
    a_col[i] = c * 8;
    a_src[i] = p.A + (a_ok[i] ? int64_t(m0 + row) * p.lda : 0) + a_col[i];
    a_dst[i] = sw128_offset(row, c);
  }
  const uint16_t* b_src[Cfg::B_ITERS];
  bool b_ok[Cfg::B_ITERS];
  uint32_t b_dst[Cfg::B_ITERS];
  int b_col[Cfg::B_ITERS];
#pragma unroll
  for (int i = 0; i < Cfg::B_ITERS; ++i) {
    const int id = tid + i * Cfg::THREADS, row = id / 8, c = id % 8;
    b_ok[i] = n0 + row < N;
    b_col[i] = c * 8;
    b_src[i] = p.B + (b_ok[i] ? int64_t(n0 + row) * p.ldb : 0) + b_col[i];
    b_dst[i] = uint32_t(Cfg::A_BYTES) + sw128_offset(row, c);
  }
  auto load_stage = [&](int stage, int kt) {
    const uint32_t base = smem_base + uint32_t(stage * Cfg::STAGE_BYTES);
    const int k0 = kt * Cfg::BK;
#pragma unroll
    for (int i = 0; i < Cfg::A_ITERS; ++i) {
      const bool ok = a_ok[i] && k0 + a_col[i] < K;
      cp_async_16(base + a_dst[i], ok ? a_src[i] + k0 : p.A, ok);
    }
#pragma unroll
    for (int i = 0; i < Cfg::B_ITERS; ++i) {
      const bool ok = b_ok[i] && k0 + b_col[i] < K;
      cp_async_16(base + b_dst[i], ok ? b_src[i] + k0 : p.B, ok);
    }
  };

  float acc[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;

  const int ktiles = (K + Cfg::BK - 1) / Cfg::BK;
#pragma unroll
  for (int s = 0; s < Cfg::STAGES - 2; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    // Committed so far: STAGES-2+kt groups; step kt is group kt, so STAGES-3 may stay pending.
    cp_async_wait<Cfg::STAGES - 3>();
    fence_proxy_async_shared();  // this thread's copies, before the tensor cores read them
    __syncthreads();
    const int next = kt + Cfg::STAGES - 2;
    if (next < ktiles) load_stage(next % Cfg::STAGES, next);
    cp_async_commit();

    const uint32_t a_tile = smem_base + uint32_t((kt % Cfg::STAGES) * Cfg::STAGE_BYTES) + uint32_t(wg * 64 * 128);
    const uint32_t b_tile = smem_base + uint32_t((kt % Cfg::STAGES) * Cfg::STAGE_BYTES + Cfg::A_BYTES);
    wgmma_fence();
    wgmma_fence_operands(acc);
#pragma unroll
    for (int kk = 0; kk < Cfg::BK / 16; ++kk)
      wgmma_m64n256k16_bf16(acc, wgmma_desc_k_major_sw128(a_tile + uint32_t(kk * 32)),
                            wgmma_desc_k_major_sw128(b_tile + uint32_t(kk * 32)), true);
    wgmma_commit();
    wgmma_fence_operands(acc);
    wgmma_wait<1>();  // step kt-1's wgmmas are done: its slot may be refilled after the next barrier
    wgmma_fence_operands(acc);
  }
  wgmma_wait<0>();
  wgmma_fence_operands(acc);
  cp_async_wait<0>();

  // Accumulator layout of m64nNk16 (PTX ISA): warp w of the warpgroup holds rows 16w .. 16w+15;
  // acc[4j + 0, 1] = (row 16w + g, cols 8j + 2t, +1), acc[4j + 2, 3] = (row 16w + g + 8, same cols).
  const int g = lane >> 2, t = lane & 3;
  const int row = m0 + wg * 64 + warp_in_wg * 16 + g;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int col = n0 + 8 * j + 2 * t;
    store_pair(p.epi, row, col, acc[4 * j], acc[4 * j + 1]);
    store_pair(p.epi, row + 8, col, acc[4 * j + 2], acc[4 * j + 3]);
  }
}

// Host side: preconditions of the kernel.
inline bool wgmma_applicable(const MmaArgs& p) { return mma_vec_ok(p, /*b_is_nk=*/true); }

inline void launch_wgmma(const MmaArgs& p, cudaStream_t stream) {
  check_cuda(cudaFuncSetAttribute(gemm_bf16_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  WgmmaCfg::SMEM_BYTES),
             "gemm_lab wgmma: cudaFuncSetAttribute");
  const int64_t tiles = int64_t((p.M + WgmmaCfg::BM - 1) / WgmmaCfg::BM) * ((p.N + WgmmaCfg::BN - 1) / WgmmaCfg::BN);
  gemm_bf16_wgmma_kernel<<<unsigned(tiles), WgmmaCfg::THREADS, WgmmaCfg::SMEM_BYTES, stream>>>(p);
  check_launch("gemm_lab wgmma kernel");
}

// Whether the device code of this binary holds the sm_90a instructions.
__global__ void wgmma_probe_kernel(int* out) { *out = RSCAPRET_HAVE_WGMMA; }

}  // namespace rscapret::kernels::cuda::gemm
