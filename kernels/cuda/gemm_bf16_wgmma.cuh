// Hopper (sm_90a) bf16 GEMM on warpgroup MMA: C[M,N] = act(A[M,K] @ B + bias), C f32 or bf16
// (row-major, ldc). A is row-major [M,K] (lda, "K-major"); B is either the Linear weight layout
// [N,K] (ldb, K-major: the forward's x W^T) or row-major [K,N] (ldb, "MN-major": the backward's
// dY W, W read in place); accumulation in f32; the epilogue (bias, activation, bf16 rounding,
// guarded stores) does the mma.sync kernels' arithmetic as whole-fragment passes (gemm_epilogue.cuh).
//
// Design (one CTA per BM x BN output tile, BM = 128, BK = 64, BN = 256 or 128: the launcher in
// gemm_bf16.cu weighs each width's busy fraction of its last wave against the narrow tile's speed):
// - 3 warpgroups: warpgroup 0 is the producer (one thread issues TMA copies, setmaxnreg drops its
//   registers to 40), warpgroups 1 and 2 are consumers (setmaxnreg 232), each owning 64 rows of the
//   tile and issuing wgmma.mma_async m64n{BN}k16 with both operands read from shared memory through
//   64-bit matrix descriptors;
// - operands arrive by cp.async.bulk.tensor.2d (TMA) with CU_TENSOR_MAP_SWIZZLE_128B, which writes
//   exactly the layout the 128-byte-swizzle K-major descriptor expects (8 rows x 128 bytes per
//   1024-byte atom, stride-dimension offset 1024 bytes); advancing K by 16 inside the 64-wide tile
//   adds 32 bytes to the descriptor start address;
// - B [K,N] (kBKn): BN/64 TMA boxes of 64 columns x 64 K-rows per stage, each box 8 KiB of
//   128-byte-swizzle MN-major atoms (8 K-rows x 128 bytes of N); the descriptor's stride-dimension
//   offset is 1024 bytes (next 8 K-rows), its leading-dimension offset 8 KiB (next 64 columns, the
//   next box); advancing K by 16 adds 2 KiB; the instruction's transpose-B flag is 1. Written
//   without a GPU at hand (the twelfth session): gemm_bf16.cu uses it only on a device where its
//   self-check passed, and the CUDA tests force it at every shape they check;
// - STAGES-deep ring of shared-memory stages with "full" (TMA transaction count) and "empty"
//   (one arrival per consumer warp) mbarriers; a consumer keeps one wgmma group in flight
//   (wait_group 1) and frees the previous stage once that group has retired;
// - M, N tails: TMA zero-fills out-of-range rows and the epilogue's stores are guarded, so M and
//   N are free; K tails are zero-filled too (K only needs K % 8 == 0 for the 16-byte TMA row stride);
// - tile order: grouped rasterisation (8 M-tiles per group) so co-resident CTAs share L2 tiles.
// Only sm_90a has wgmma/setmaxnreg: without __CUDA_ARCH_FEAT_SM90_ALL the kernel body is empty and
// the host launcher (which probes the device code once) returns false.
//
// The PTX wrappers (mbarriers, TMA, wgmma issue/commit/wait) are in wgmma_ptx.cuh, which the host
// emulation in tests/cuda_emu replaces to run this kernel and its launcher (test_gemm_wgmma_emulated.cpp).
//
// Tensor maps come from cuTensorMapEncodeTiled, reached through cudaGetDriverEntryPointByVersion so
// nothing links libcuda directly (cuda.h is used for the types only).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>

#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/wgmma_ptx.cuh"

namespace rscapret::kernels::cuda::wgmma_tma {

template <int BN_>
struct WgmmaCfg {
  static constexpr int BM = 128, BN = BN_, BK = 64;
  static constexpr int kConsumers = 2;                  // consumer warpgroups, 64 rows each
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kABytes = BM * BK * 2;           // 16 KiB
  static constexpr int kBBytes = BN * BK * 2;           // 32 KiB (BN 256) or 16 KiB
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kStages = BN == 256 ? 4 : 6;     // 192 KiB of operand stages either way
  static constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + slack for 1024-byte alignment
  static constexpr int kGroupM = 8;
  // B [K,N]: one TMA box of 64 columns x BK rows (128 bytes each) per 64 columns of the tile.
  static constexpr int kKnBoxCols = 64;
  static constexpr int kKnBoxBytes = kKnBoxCols * BK * 2;  // 8 KiB: the MN-major descriptor's LBO
  static_assert(BN == 128 || BN == 256, "BN");
};

namespace dev {
#if RSCAPRET_WGMMA_TMA_DEVICE

// The kernel's layout choices: the descriptors of its operand layouts and the instruction (width,
// transposed B) it picks. The PTX wrappers they feed are in wgmma_ptx.cuh; these stay here so that
// the emulated tests (tests/cuda_emu), which replace that header, check them too.
// Shared-memory matrix descriptor, K-major, 128-byte swizzle: bits 0-13 start >> 4, 16-29 leading
// byte offset >> 4 (unused for this layout: 1), 32-45 stride byte offset >> 4 (1024 bytes between
// 8-row groups), 49-51 base offset 0 (atoms 1024-byte aligned), 62-63 layout 1 = 128B swizzle.
__device__ __forceinline__ uint64_t desc_sw128(uint32_t addr) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}

// Shared-memory matrix descriptor, MN-major (B [K,N] rows as TMA writes 64-column boxes), 128-byte
// swizzle: the canonical layout ((64 elements, m), (8 rows, k)) : ((1, LBO), (64 elements, SBO)),
// LBO = the byte distance between 64-column blocks, SBO = 1024 bytes between 8-row groups.
__device__ __forceinline__ uint64_t desc_mn_sw128(uint32_t addr, uint32_t lbo_bytes) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t((lbo_bytes & 0x3FFFF) >> 4) << 16) |
         (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

// The instruction for the tile width, transposed B for the B [K,N] layout.
template <int BN, bool kBKn>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d) {
  if constexpr (BN == 256) {
    wgmma_m64n256k16<kBKn ? 1 : 0>(d, da, db, scale_d);
  } else {
    wgmma_m64n128k16<kBKn ? 1 : 0>(d, da, db, scale_d);
  }
}
#endif  // RSCAPRET_WGMMA_TMA_DEVICE
}  // namespace dev

// 1 in sm_90a device code, 0 otherwise: the host launcher asks once before using the kernel
// (a template so that the header can be included by several translation units).
template <int Unused = 0>
__global__ void wgmma_tma_probe(int* out) {
#if RSCAPRET_WGMMA_TMA_DEVICE
  *out = 1;
#else
  *out = 0;
#endif
}

template <int BN, bool kBKn>
__global__ void __launch_bounds__(WgmmaCfg<BN>::kThreads, 1)
    gemm_bf16_wgmma_kernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB,
                           const gemm::EpilogueArgs epi, int K) {
#if RSCAPRET_WGMMA_TMA_DEVICE
  using Cfg = WgmmaCfg<BN>;
  constexpr int ST = Cfg::kStages;
  uint8_t* const smem_raw = dev::dynamic_smem_1024();
  __shared__ __align__(8) uint64_t full_bar[ST];
  __shared__ __align__(8) uint64_t empty_bar[ST];

  // Operand stages start on a 1024-byte boundary (the 128B-swizzle atom).
  const uint32_t raw = dev::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;

  // Grouped tile order.
  const int tiles_m = (epi.M + Cfg::BM - 1) / Cfg::BM, tiles_n = (epi.N + BN - 1) / BN;
  const int lin = blockIdx.x;
  const int per_group = Cfg::kGroupM * tiles_n;
  const int group = lin / per_group;
  const int first_m = group * Cfg::kGroupM;
  const int group_m = min(tiles_m - first_m, Cfg::kGroupM);
  const int in_group = lin - group * per_group;
  const int tile_m = first_m + in_group % group_m;
  const int tile_n = in_group / group_m;
  const int m0 = tile_m * Cfg::BM, n0 = tile_n * BN;
  const int k_tiles = (K + Cfg::BK - 1) / Cfg::BK;

  const int wg = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < ST; ++s) {
      dev::mbar_init(dev::smem_addr(&full_bar[s]), 1);
      dev::mbar_init(dev::smem_addr(&empty_bar[s]), Cfg::kConsumers * 4);  // one arrival per consumer warp
    }
    dev::fence_mbarrier_init();
    dev::prefetch_tensormap(&tmA);
    dev::prefetch_tensormap(&tmB);
  }
  __syncthreads();

  if (wg == 0) {
    // Producer warpgroup: one thread streams the K tiles through the ring.
    dev::setmaxnreg_dec<40>();
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < k_tiles; ++kt) {
        const int s = kt % ST;
        const uint32_t phase = uint32_t(kt / ST) & 1u;
        dev::mbar_wait(dev::smem_addr(&empty_bar[s]), phase ^ 1u);  // stage freed by the consumers
        const uint32_t fb = dev::smem_addr(&full_bar[s]);
        dev::mbar_arrive_expect_tx(fb, Cfg::kStageBytes);
        const uint32_t sa = base + uint32_t(s) * Cfg::kStageBytes;
        dev::tma_load_2d(sa, &tmA, fb, kt * Cfg::BK, m0);
        if constexpr (kBKn) {
#pragma unroll
          for (int j = 0; j < BN / Cfg::kKnBoxCols; ++j)
            dev::tma_load_2d(sa + Cfg::kABytes + j * Cfg::kKnBoxBytes, &tmB, fb, n0 + j * Cfg::kKnBoxCols,
                             kt * Cfg::BK);
        } else {
          dev::tma_load_2d(sa + Cfg::kABytes, &tmB, fb, kt * Cfg::BK, n0);
        }
      }
    }
  } else {
    // Consumer warpgroups: rows [64 * cw, 64 * cw + 64) of the tile.
    dev::setmaxnreg_inc<232>();
    const int cw = wg - 1;
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.f;

    const int warp = (threadIdx.x / 32) & 3, lane = threadIdx.x & 31;
    for (int kt = 0; kt < k_tiles; ++kt) {
      const int s = kt % ST;
      const uint32_t phase = uint32_t(kt / ST) & 1u;
      dev::mbar_wait(dev::smem_addr(&full_bar[s]), phase);  // TMA bytes landed
      const uint32_t sa = base + uint32_t(s) * Cfg::kStageBytes + uint32_t(cw) * (64 * Cfg::BK * 2);
      const uint32_t sb = base + uint32_t(s) * Cfg::kStageBytes + Cfg::kABytes;
      dev::wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < Cfg::BK / 16; ++kk) {
        // K-major: 16 K-columns are 32 bytes along the swizzled row; MN-major: 16 K-rows of 128 bytes.
        const uint64_t db = kBKn ? dev::desc_mn_sw128(sb + kk * 16 * 128, Cfg::kKnBoxBytes)
                                 : dev::desc_sw128(sb + kk * 32);
        dev::wgmma_tile<BN, kBKn>(acc, dev::desc_sw128(sa + kk * 32), db, 1);
      }
      dev::wgmma_commit();
      if (kt > 0) {
        // The group of tile kt-1 has retired: its stage may be refilled.
        dev::wgmma_wait<1>();
        __syncwarp();
        if (lane == 0) dev::mbar_arrive(dev::smem_addr(&empty_bar[(kt - 1) % ST]));
      }
    }
    dev::wgmma_wait<0>();

    // Epilogue. Accumulator layout of m64nN f32: thread (warp w, lane l) holds, for every 8-column
    // block j, rows 16w + l/4 (+8) and columns 8j + 2(l%4) + {0, 1}: d[4j + 2h + c]. Column pairs
    // start even (n0 is a multiple of BN), as store_pair needs.
    const int row0 = m0 + cw * 64 + warp * 16 + lane / 4;
    const int colq = n0 + 2 * (lane & 3);
    if (epi.bias) gemm::add_bias_fragment(acc, epi.bias, colq, epi.N);
    gemm::activate_fragment(acc, epi.act);
    if (epi.residual) gemm::add_residual_fragment(acc, epi, row0, colq);
    const bool full = m0 + Cfg::BM <= epi.M && n0 + BN <= epi.N && epi.pair_aligned;
    gemm::store_fragment(epi, acc, row0, colq, full);
  }
#endif  // RSCAPRET_WGMMA_TMA_DEVICE
}

// ---- host side ----
namespace host {

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

inline EncodeTiledFn encode_fn() {
  static EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) !=
            cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      std::fprintf(stderr, "[wgmma] cuTensorMapEncodeTiled entry point unavailable\n");
      p = nullptr;
    }
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

// A 2-D bf16 [rows, cols] row-major view (row stride ld elements), box box_cols x box_rows, 128B swizzle.
inline bool make_map(CUtensorMap* map, const void* ptr, int64_t rows, int64_t cols, int64_t ld, int box_cols,
                     int box_rows) {
  EncodeTiledFn fn = encode_fn();
  if (!fn) return false;
  const cuuint64_t dims[2] = {cuuint64_t(cols), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(ld) * 2};
  const cuuint32_t box[2] = {cuuint32_t(box_cols), cuuint32_t(box_rows)};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = fn(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(ptr), dims, strides, box, estr,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "[wgmma] cuTensorMapEncodeTiled failed (%d)\n", int(r));
    return false;
  }
  return true;
}

// Whether the device code of this binary has the sm_90a kernel and `device` (the current device)
// is cc 9.0. Probed once per device (a mixed-architecture process gets each device's own answer).
inline bool wgmma_available(int device) {
  static std::array<std::atomic<int>, 64> cache{};  // 0 unknown, 1 yes, 2 no
  if (device < 0 || device >= 64) return false;
  const int known = cache[size_t(device)].load(std::memory_order_acquire);
  if (known != 0) return known == 1;
  bool ok = false;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) == cudaSuccess && prop.major == 9 && prop.minor == 0) {
    int* d = nullptr;
    int h = 0;
    if (cudaMalloc(&d, sizeof(int)) == cudaSuccess) {
      // The launch's own status (not a pending error of earlier, unrelated work).
      launch_unchecked(wgmma_tma_probe<0>, dim3(1), dim3(1), 0, nullptr, d);
      ok = cudaPeekAtLastError() == cudaSuccess && cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess &&
           h == 1;
      if (!ok) (void)cudaGetLastError();  // the probe's failure is an answer, not an error for later calls
      cudaFree(d);
    }
  }
  cache[size_t(device)].store(ok ? 1 : 2, std::memory_order_release);
  return ok;
}

// Successful wgmma launches by gemm_bf16 and gemm_bf16_residual in this process (not the labs' or
// the B [K,N] self-check's): the tests check that a forced wgmma really ran (a failed precondition
// falls back to the mma.sync kernels silently, by design).
inline std::atomic<int64_t>& launches() {
  static std::atomic<int64_t> n{0};
  return n;
}

}  // namespace host

// Shared memory beyond 48 KB needs a per-function opt-in, once per device and kernel.
template <int BN, bool kBKn>
inline bool opt_in_shared_memory(int device) {
  static std::array<std::atomic<bool>, 64> opted{};
  if (opted[size_t(device)].load(std::memory_order_acquire)) return true;
  if (cudaFuncSetAttribute(gemm_bf16_wgmma_kernel<BN, kBKn>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           WgmmaCfg<BN>::kSmemBytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  opted[size_t(device)].store(true, std::memory_order_release);
  return true;
}

// epi.C [M = epi.M, N = epi.N] = act(A[M,K] (bf16 bits, lda) @ B + bias), B (bf16 bits, ldb) either
// [N,K] (b_is_nk: C = A B^T) or [K,N] (C = A B).
// Returns false (and launches nothing) when the binary/device lacks sm_90a or the operands do not
// suit TMA (K, lda, ldb multiples of 8 elements, 16-byte-aligned A and B, lda >= K, ldb >= K
// ([N,K]) or N ([K,N]), ldc >= N). BN is 256 or 128.
template <int BN = 256>
inline bool gemm_bf16_wgmma(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk,
                            const gemm::EpilogueArgs& epi, int64_t K, cudaStream_t stream) {
  using Cfg = WgmmaCfg<BN>;
  const int64_t M = epi.M, N = epi.N;
  if (M <= 0 || N <= 0 || K <= 0 || K > (int64_t(1) << 30)) return false;
  if (K % 8 || lda % 8 || ldb % 8 || lda < K || ldb < (b_is_nk ? K : N) || epi.ldc < N) return false;
  if ((reinterpret_cast<uintptr_t>(A) & 15) || (reinterpret_cast<uintptr_t>(B) & 15)) return false;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || !host::wgmma_available(device)) return false;
  const int64_t tiles = ((M + Cfg::BM - 1) / Cfg::BM) * ((N + BN - 1) / BN);
  if (tiles > 0x7fffffff) return false;
  CUtensorMap ma, mb;
  if (!host::make_map(&ma, A, M, K, lda, Cfg::BK, Cfg::BM)) return false;
  const bool b_ok = b_is_nk ? host::make_map(&mb, B, N, K, ldb, Cfg::BK, BN)
                            : host::make_map(&mb, B, K, N, ldb, Cfg::kKnBoxCols, Cfg::BK);
  if (!b_ok) return false;
  if (!(b_is_nk ? opt_in_shared_memory<BN, false>(device) : opt_in_shared_memory<BN, true>(device))) return false;
  if (cudaPeekAtLastError() != cudaSuccess) return false;  // someone else's pending error: not ours to consume
  if (b_is_nk)
    launch_unchecked(gemm_bf16_wgmma_kernel<BN, false>, dim3(unsigned(tiles)), dim3(Cfg::kThreads),
                     Cfg::kSmemBytes, stream, ma, mb, epi, int(K));
  else
    launch_unchecked(gemm_bf16_wgmma_kernel<BN, true>, dim3(unsigned(tiles)), dim3(Cfg::kThreads),
                     Cfg::kSmemBytes, stream, ma, mb, epi, int(K));
  return cudaGetLastError() == cudaSuccess;
}

// The plain product for the labs and the self-check: C[M,N] (f32, ldc) = A @ B^T (B [N,K],
// b_is_nk) or A @ B (B [K,N]), no bias, no activation.
template <int BN = 256>
inline bool gemm_bf16_wgmma_f32(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk,
                                float* C, int64_t ldc, int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
  if (M <= 0 || N <= 0 || M > (int64_t(1) << 30) || N > (int64_t(1) << 30)) return false;
  const gemm::EpilogueArgs epi{C, ldc, false, gemm::epilogue_pair_aligned(C, ldc, false), nullptr,
                               GemmActivation::none, int(M), int(N)};
  return gemm_bf16_wgmma<BN>(A, lda, B, ldb, b_is_nk, epi, K, stream);
}

}  // namespace rscapret::kernels::cuda::wgmma_tma
