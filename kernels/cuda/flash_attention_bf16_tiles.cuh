// The production tile configurations of the bf16 flash attention (flash_attention_bf16.cu), in a
// header of their own so that the kernel lab times exactly what production launches and builds
// its variants from the same pieces.
//
// Registers per thread grow with D (output / gradient accumulators) and with the tile width
// (score accumulators); the blocks-per-SM figure caps registers where shared memory allows more
// blocks:
//   forward  D = 64: 4 warps x 16 query rows, K/V tiles of 64 keys (46 KB of shared memory,
//            3 blocks per SM). D = 128: 4 warps x 32 query rows (two m16 tiles per warp, so each
//            K/V fragment read from shared memory feeds 4 mma instead of 2; see
//            flash_attention_bf16_fwd_mt.cuh), K/V tiles of 48 keys, 2 blocks per SM: the
//            configuration the whole CUDA test suite passed with on the H100. 32-key tiles (lab
//            variant 7) were 7% faster there (causal T4096: 232 against 216 TFLOP/s) but were
//            validated only at full tiles; they become production after a run of the tests;
//   dq       4 warps x 16 query rows plus a dO tile, 64-key tiles (55 KB / 104 KB); the 2-m-tile
//            DqMtConfig<128, 4, 2, 32, 2> (flash_attention_bf16_dq_mt.cuh, lab variant 9) drops in
//            here if the lab shows it faster;
//   dk/dv    4 warps x 16 keys, query tiles of 64 (D = 64) or 32 (D = 128) rows (56 KB / 70 KB);
//            2 blocks per SM at D = 64 (a cap of 168 registers spilled).
#pragma once

#include "kernels/cuda/flash_attention_bf16_dq_mt.cuh"
#include "kernels/cuda/flash_attention_bf16_fwd_mt.cuh"
#include "kernels/cuda/flash_attention_bf16_kernels.cuh"

namespace rscapret::kernels::cuda::flash {

template <int D>
struct ProductionTiles;
template <>
struct ProductionTiles<64> {
  using Fwd = FwdConfig<64, 4, 64, 3>;
  using Dq = DqConfig<64, 4, 64, 3>;
  using Dkdv = DkdvConfig<64, 4, 64, 2>;
};
template <>
struct ProductionTiles<128> {
  using Fwd = FwdMtConfig<128, 4, 2, 48, 2>;
  using Dq = DqConfig<128, 4, 64, 2>;
  using Dkdv = DkdvConfig<128, 4, 32, 2>;
};

}  // namespace rscapret::kernels::cuda::flash
