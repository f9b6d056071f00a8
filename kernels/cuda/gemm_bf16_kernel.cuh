// Our bf16 tensor-core GEMM (internal to gemm_bf16.cu and the kernel lab):
//   C [M, N] = act(A [M, K] @ op(B) + bias [N]),  op(B) = B^T for B [N, K] (kBNK), B for B [K, N].
//
// Structure (one block = one BM x BN tile of C):
// - global -> shared: cp.async 16-byte copies into a STAGES-deep ring of shared tiles, so the
//   copies of the next STAGES-1 K steps run while the current one is multiplied. Chunks outside
//   the matrix are zero-filled (cp.async with source size 0), so any M, N and (multiple-of-8) K
//   works; kVec = false replaces the copies by bounds-checked element loads for any K, unaligned
//   pointers or leading dimensions.
// - shared tiles: A as [BM][BK], B as [BN][BK] (kBNK) or [BK][BN], each row padded by 16 bytes:
//   ldmatrix reads 8 rows of 16 bytes at the same column, and the padding puts those 8 rows in 8
//   different 16-byte bank groups (row strides of 5, 9, 17 or 33 units of 16 bytes: odd, so
//   r * stride mod 8 takes 8 distinct values), which makes every ldmatrix conflict-free.
// - shared -> registers: ldmatrix.x4 (A, and B [N, K]) or ldmatrix.x4.trans (B [K, N]) give the
//   mma fragments directly; warps are laid out WARPS_M x WARPS_N, each owning a WM x WN sub-tile
//   of (WM/16) x (WN/8) mma.sync.m16n8k16 tiles with f32 accumulators.
// - epilogue from registers: + bias, activation, f32 or bf16 stores (gemm_epilogue.cuh).
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with .bf16; g = lane / 4, t = lane % 4):
//   A (16x16, 4 regs of 2 bf16): reg0 (row g, k 2t..2t+1), reg1 (row g+8, same k),
//                                reg2 (row g, k 2t+8..), reg3 (row g+8, k 2t+8..)
//   B (16x8, 2 regs):            reg0 (k 2t..2t+1, col g), reg1 (k 2t+8.., col g)
//   C (16x8, 4 f32):             c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same cols)
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i, and register i receives
// matrix i with lane l holding (row l/4, cols 2(l%4), +1); with .trans it holds (rows 2(l%4), +1,
// col l/4) of the stored matrix, which is exactly a B fragment when the stored rows are k.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/gemm_ptx.cuh"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda::gemm {

// 8 consecutive bf16 from global, zero where !row_ok or index >= avail (the slow path).
__device__ __forceinline__ uint4 load8_checked(const uint16_t* src, bool row_ok, int avail) {
  uint16_t v[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] = (row_ok && e < avail) ? src[e] : uint16_t(0);
  return make_uint4(uint32_t(v[0]) | uint32_t(v[1]) << 16, uint32_t(v[2]) | uint32_t(v[3]) << 16,
                    uint32_t(v[4]) | uint32_t(v[5]) << 16, uint32_t(v[6]) | uint32_t(v[7]) << 16);
}

// ---- tile configuration ----

template <int BM_, int BN_, int BK_, int WARPS_M_, int WARPS_N_, int STAGES_, int MIN_BLOCKS_>
struct MmaConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = WARPS_M * WARPS_N * 32;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // one warp's sub-tile
  static constexpr int MT = WM / 16, NT = WN / 8;             // mma tiles per warp
  static constexpr int PAD = 8;                               // bf16 per row beyond the tile (16 bytes)
  static constexpr int A_LD = BK + PAD;                       // shared A [BM][A_LD]
  static constexpr int A_ELEMS = BM * A_LD;
  // Shared B: [BN][BK + PAD] for B [N, K], [BK][BN + PAD] for B [K, N]; a stage reserves the larger.
  static constexpr int BNK_LD = BK + PAD, BKN_LD = BN + PAD;
  static constexpr int B_ELEMS = BN * BNK_LD > BK * BKN_LD ? BN * BNK_LD : BK * BKN_LD;
  static constexpr int STAGE_ELEMS = A_ELEMS + B_ELEMS;
  static constexpr int SMEM_BYTES = STAGES * STAGE_ELEMS * 2;
  // 16-byte chunks each thread copies per stage.
  static constexpr int A_ITERS = BM * BK / 8 / THREADS;
  static constexpr int B_ITERS = BN * BK / 8 / THREADS;

  static_assert(BM % WARPS_M == 0 && BN % WARPS_N == 0, "warps tile the block");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile: m16 rows, pairs of n8 columns (ldmatrix.x4 on B)");
  static_assert(BK % 16 == 0, "K step: whole k16 mma steps");
  static_assert(A_ITERS * THREADS * 8 == BM * BK, "A chunks divide evenly among threads");
  static_assert(B_ITERS * THREADS * 8 == BN * BK, "B chunks divide evenly among threads");
  static_assert(STAGES >= 2, "the pipeline needs at least two stages");
  static_assert(A_ELEMS % 8 == 0 && STAGE_ELEMS % 8 == 0, "stage bases stay 16-byte aligned");
  static_assert(SMEM_BYTES <= 227 * 1024, "Hopper allows 227 KB of shared memory per block");
};

struct MmaArgs {
  const uint16_t* A;  // [M, K], leading dimension lda
  int64_t lda;
  const uint16_t* B;  // [N, K] or [K, N], leading dimension ldb
  int64_t ldb;
  int M, N, K;
  EpilogueArgs epi;
};

// Rows of C tiles visited together (a group of GROUP_M tile rows sweeps all tile columns): the
// blocks resident at one time share A rows and B columns, so more of both stay in L2.
constexpr int kGroupM = 8;

template <class Cfg, bool kBNK, bool kVec>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) gemm_bf16_mma_kernel(const MmaArgs p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, THREADS = Cfg::THREADS;
  constexpr int MT = Cfg::MT, NT = Cfg::NT, A_LD = Cfg::A_LD;
  constexpr int B_LD = kBNK ? Cfg::BNK_LD : Cfg::BKN_LD;
  uint16_t* const smem = dynamic_smem<uint16_t>();  // 16-byte aligned base

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp % Cfg::WARPS_M, warp_n = warp / Cfg::WARPS_M;
  const int M = p.M, N = p.N, K = p.K;

  // ---- which tile: grouped raster over the 1-D grid (a bijection onto tiles_m x tiles_n) ----
  const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
  const int bid = blockIdx.x;
  const int group_width = kGroupM * tiles_n;
  const int first_m = (bid / group_width) * kGroupM;
  const int group_rows = min(tiles_m - first_m, kGroupM);
  const int tile_m = first_m + (bid % group_width) % group_rows;
  const int tile_n = (bid % group_width) / group_rows;
  const int m0 = tile_m * BM, n0 = tile_n * BN;

  // ---- this thread's copy assignments (fixed for the whole K loop) ----
  // A chunk i: tile row a_row, columns a_col .. a_col+7 (BK/8 chunks per row, consecutive
  // threads along a row: coalesced). Rows past M point at row 0 and are never read.
  constexpr int A_CPR = BK / 8;
  const uint16_t* a_src[Cfg::A_ITERS];
  bool a_ok[Cfg::A_ITERS];
  int a_col[Cfg::A_ITERS], a_dst[Cfg::A_ITERS];
#pragma unroll
  for (int i = 0; i < Cfg::A_ITERS; ++i) {
    const int id = tid + i * THREADS, row = id / A_CPR;
    a_col[i] = (id % A_CPR) * 8;
    a_ok[i] = m0 + row < M;
    a_src[i] = p.A + (a_ok[i] ? int64_t(m0 + row) * p.lda : 0) + a_col[i];
    a_dst[i] = row * A_LD + a_col[i];
  }
  // B chunk i. [N, K]: tile row = n, 8 k's per chunk, b_ok = n in range, b_col = k offset.
  //            [K, N]: tile row = k, 8 n's per chunk, b_ok = those n's start in range, b_col = n offset,
  //                    b_row = k offset (the row check happens per K step).
  constexpr int B_CPR = kBNK ? BK / 8 : BN / 8;
  const uint16_t* b_src[Cfg::B_ITERS];
  bool b_ok[Cfg::B_ITERS];
  int b_row[Cfg::B_ITERS], b_col[Cfg::B_ITERS], b_dst[Cfg::B_ITERS];
#pragma unroll
  for (int i = 0; i < Cfg::B_ITERS; ++i) {
    const int id = tid + i * THREADS, row = id / B_CPR;
    b_row[i] = row;
    b_col[i] = (id % B_CPR) * 8;
    b_dst[i] = row * B_LD + b_col[i];
    if constexpr (kBNK) {
      b_ok[i] = n0 + row < N;
      b_src[i] = p.B + (b_ok[i] ? int64_t(n0 + row) * p.ldb : 0) + b_col[i];
    } else {
      b_ok[i] = n0 + b_col[i] < N;
      b_src[i] = p.B + int64_t(row) * p.ldb + (b_ok[i] ? n0 + b_col[i] : 0);
    }
  }

  // Issues the copies of K step `kt` into ring slot `stage`.
  auto load_stage = [&](int stage, int kt) {
    uint16_t* sA = smem + stage * Cfg::STAGE_ELEMS;
    uint16_t* sB = sA + Cfg::A_ELEMS;
    const int k0 = kt * BK;
#pragma unroll
    for (int i = 0; i < Cfg::A_ITERS; ++i) {
      const int k = k0 + a_col[i];
      if constexpr (kVec) {  // K % 8 == 0: a chunk is wholly inside or wholly outside
        const bool ok = a_ok[i] && k < K;
        cp_async_16(smem_u32(sA + a_dst[i]), ok ? a_src[i] + k0 : p.A, ok);
      } else {
        *reinterpret_cast<uint4*>(sA + a_dst[i]) = load8_checked(a_src[i] + k0, a_ok[i], K - k);
      }
    }
#pragma unroll
    for (int i = 0; i < Cfg::B_ITERS; ++i) {
      if constexpr (kBNK) {
        const int k = k0 + b_col[i];
        if constexpr (kVec) {
          const bool ok = b_ok[i] && k < K;
          cp_async_16(smem_u32(sB + b_dst[i]), ok ? b_src[i] + k0 : p.B, ok);
        } else {
          *reinterpret_cast<uint4*>(sB + b_dst[i]) = load8_checked(b_src[i] + k0, b_ok[i], K - k);
        }
      } else {
        const bool row_ok = k0 + b_row[i] < K;
        const uint16_t* src = b_src[i] + int64_t(k0) * p.ldb;
        if constexpr (kVec) {  // N % 8 == 0: the 8 columns are wholly inside or outside
          const bool ok = b_ok[i] && row_ok;
          cp_async_16(smem_u32(sB + b_dst[i]), ok ? src : p.B, ok);
        } else {
          *reinterpret_cast<uint4*>(sB + b_dst[i]) = load8_checked(src, b_ok[i] && row_ok, N - (n0 + b_col[i]));
        }
      }
    }
  };

  // ---- this thread's ldmatrix addresses (bytes, relative to a stage's A or B base) ----
  const int wm0 = warp_m * Cfg::WM, wn0 = warp_n * Cfg::WN;
  // A, matrix j = lane / 8: rows +0 / +8 (j odd), k +0 / +8 (j >= 2): row lane % 16, k (lane / 16) * 8.
  const uint32_t a_frag = uint32_t(((wm0 + (lane & 15)) * A_LD + (lane >> 4) * 8) * 2);
  // B [N, K] (rows n): matrices (n+0, k+0), (n+0, k+8), (n+8, k+0), (n+8, k+8).
  // B [K, N] (rows k): matrices (k+0, n+0), (k+8, n+0), (k+0, n+8), (k+8, n+8), read transposed.
  const uint32_t b_frag =
      kBNK ? uint32_t(((wn0 + (lane & 7) + ((lane >> 4) << 3)) * B_LD + ((lane >> 3) & 1) * 8) * 2)
           : uint32_t((((lane & 7) + ((lane >> 3) & 1) * 8) * B_LD + wn0 + ((lane >> 4) << 3)) * 2);

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

  const uint32_t smem_base = smem_u32(smem);
  const int ktiles = (K + BK - 1) / BK;

  // Prologue: K steps 0 .. STAGES-2 in flight, one commit group each (empty past the end, so
  // the group count, and with it the wait below, is the same for every step).
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    // Groups committed so far: STAGES-1+kt; step kt is group kt, so at most STAGES-2 may remain.
    cp_async_wait<STAGES - 2>();
    // Makes step kt visible to all warps, and proves every warp is done with step kt-1, whose
    // slot ((kt-1) % STAGES, the same as (kt+STAGES-1) % STAGES) is refilled next.
    __syncthreads();
    const int next = kt + STAGES - 1;
    if (next < ktiles) load_stage(next % STAGES, next);
    cp_async_commit();

    const uint32_t sA = smem_base + uint32_t((kt % STAGES) * Cfg::STAGE_ELEMS * 2);
    const uint32_t sB = sA + uint32_t(Cfg::A_ELEMS * 2);
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[MT][4], bf[NT][2];
#pragma unroll
      for (int i = 0; i < MT; ++i)
        ldmatrix_x4(af[i][0], af[i][1], af[i][2], af[i][3], sA + a_frag + uint32_t((i * 16 * A_LD + kk) * 2));
#pragma unroll
      for (int j = 0; j < NT / 2; ++j) {
        if constexpr (kBNK)
          ldmatrix_x4(bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0], bf[2 * j + 1][1],
                      sB + b_frag + uint32_t((j * 16 * B_LD + kk) * 2));
        else
          ldmatrix_x4_trans(bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0], bf[2 * j + 1][1],
                            sB + b_frag + uint32_t((kk * B_LD + j * 16) * 2));
      }
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) mma_bf16_16816(acc[i][j], af[i], bf[j]);
    }
  }
  cp_async_wait<0>();  // nothing real is left (the last groups are empty); keeps the exit clean

  // ---- epilogue straight from the accumulators ----
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    const int row = m0 + wm0 + i * 16 + g;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int col = n0 + wn0 + j * 8 + 2 * t;
      store_pair(p.epi, row, col, acc[i][j][0], acc[i][j][1]);
      store_pair(p.epi, row + 8, col, acc[i][j][2], acc[i][j][3]);
    }
  }
}

// ---- host side ----

// The production tile configurations (gemm_bf16.cu picks among them; the host emulation runs them).
// BM, BN, BK, warps along M, warps along N, pipeline stages, blocks per SM to fit. All 8 warps of
// 64x32 (or 4 of 32x32) at 2+ blocks per SM: on the H100 (run 1, gemm_lab) the 1-block-per-SM
// 128x256 tiles with 64x64 warp tiles ran at 230 TFLOP/s (8192^3) and 137 (16448x1024x4096),
// while 128x128x64 / 3 stages reached 335 and 209, and 128x128x32 / 4 stages 279 and 242.
// k64:   108 KB shared, fewer barriers per K: the faster one for long K.
// k32:   80 KB shared, a deeper pipeline: the faster one at K = 1024.
// small: 40 KB shared, 4 blocks per SM: small products, where 128x128 tiles leave SMs idle.
using CfgK64 = MmaConfig<128, 128, 64, 2, 4, 3, 2>;
using CfgK32 = MmaConfig<128, 128, 32, 2, 4, 4, 2>;
using CfgSmall = MmaConfig<64, 64, 32, 2, 2, 4, 4>;

// Whether the cp.async path applies: 16-byte aligned pointers and leading dimensions, and the
// contiguous extent of each operand (K for A and B [N, K], N for B [K, N]) a multiple of 8.
inline bool mma_vec_ok(const MmaArgs& p, bool b_is_nk) {
  auto aligned16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  return aligned16(p.A) && aligned16(p.B) && p.lda % 8 == 0 && p.ldb % 8 == 0 && p.K % 8 == 0 &&
         (b_is_nk || p.N % 8 == 0);
}

template <class Cfg, bool kBNK, bool kVec>
void launch_mma_variant(const MmaArgs& p, cudaStream_t stream, int device) {
  auto kernel = gemm_bf16_mma_kernel<Cfg, kBNK, kVec>;
  // Shared memory beyond 48 KB needs a per-function opt-in, once per device.
  static std::array<std::atomic<bool>, 64> opted{};
  if (device < 0 || device >= 64 || !opted[size_t(device)].load(std::memory_order_acquire)) {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::SMEM_BYTES),
               "gemm_bf16: cudaFuncSetAttribute(max dynamic shared memory)");
    if (device >= 0 && device < 64) opted[size_t(device)].store(true, std::memory_order_release);
  }
  const int64_t tiles = int64_t((p.M + Cfg::BM - 1) / Cfg::BM) * ((p.N + Cfg::BN - 1) / Cfg::BN);
  launch_plain(kernel, dim3(unsigned(tiles)), dim3(Cfg::THREADS), Cfg::SMEM_BYTES, stream,
               "gemm_bf16 (mma.sync kernel)", p);
}

// Launches config Cfg on `stream` (the device's current stream). M, N > 0; sizes checked by the caller.
template <class Cfg>
void launch_mma(const MmaArgs& p, bool b_is_nk, cudaStream_t stream, int device) {
  const bool vec = mma_vec_ok(p, b_is_nk);
  if (b_is_nk) {
    if (vec) launch_mma_variant<Cfg, true, true>(p, stream, device);
    else launch_mma_variant<Cfg, true, false>(p, stream, device);
  } else {
    if (vec) launch_mma_variant<Cfg, false, true>(p, stream, device);
    else launch_mma_variant<Cfg, false, false>(p, stream, device);
  }
}

template <class Cfg>
int64_t mma_tiles(int64_t M, int64_t N) {
  return ((M + Cfg::BM - 1) / Cfg::BM) * ((N + Cfg::BN - 1) / Cfg::BN);
}

}  // namespace rscapret::kernels::cuda::gemm
