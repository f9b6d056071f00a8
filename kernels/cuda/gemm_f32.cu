// matmul_f32: C[b] [M, N] = A[b] [M, K] @ B[b] [K, N] with exact f32 FMAs (no TF32), any element
// strides for A and B (views, transposes, broadcast batches with stride 0), C contiguous.
//
// One block computes a 64x64 tile of C: K advances in steps of 16 through two shared tiles,
// As [16][64] (A transposed, so a thread's 4 rows are one float4) and Bs [16][64]; each of the
// 256 threads accumulates a 4x4 micro-tile. The next K step is read into registers while the
// current one is multiplied. Elements outside [M, K] x [K, N] load as 0, so any size works.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kThreads = 256;
constexpr int kPad = 4;  // floats per shared row beyond the tile: rows stay 16-byte aligned
// Each thread loads kTileM * kTileK / kThreads = 4 elements of each operand per K step.
constexpr int kLoads = kTileM * kTileK / kThreads;
static_assert(kTileM * kTileK == kTileK * kTileN, "A and B tiles hold the same count");
static_assert(kLoads * kThreads == kTileM * kTileK, "loads cover the tile exactly");

struct MatmulF32Args {
  const float* A;
  int64_t sam, sak, sab;
  const float* B;
  int64_t sbk, sbn, sbb;
  float* C;  // [batch, M, N] contiguous
  int64_t M, K, N, batch;
};

__global__ __launch_bounds__(kThreads) void matmul_f32_kernel(const MatmulF32Args p) {
  __shared__ __align__(16) float As[kTileK][kTileM + kPad];  // As[k][m] = A[m0 + m, k0 + k]
  __shared__ __align__(16) float Bs[kTileK][kTileN + kPad];  // Bs[k][n] = B[k0 + k, n0 + n]
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;  // outputs rows ty*4 .. +3, columns tx*4 .. +3 of the tile

  // Which tile element load j of this thread covers. The operand's unit-stride dimension varies
  // fastest across threads so that a warp reads consecutive addresses (either order is correct).
  const bool a_k_fast = p.sak == 1;
  const bool b_n_fast = p.sbn == 1 || p.sbk != 1;
  int a_m[kLoads], a_k[kLoads], b_k[kLoads], b_n[kLoads];
#pragma unroll
  for (int j = 0; j < kLoads; ++j) {
    const int l = tid + j * kThreads;  // 0 .. 1023
    a_m[j] = a_k_fast ? l / kTileK : l % kTileM;
    a_k[j] = a_k_fast ? l % kTileK : l / kTileM;
    b_k[j] = b_n_fast ? l / kTileN : l % kTileK;
    b_n[j] = b_n_fast ? l % kTileN : l / kTileK;
  }

  const int64_t tiles_n = (p.N + kTileN - 1) / kTileN;
  const int64_t m0 = int64_t(blockIdx.x) * kTileM;
  // Both loops are uniform across the block (they depend on blockIdx only), so the barriers
  // inside are reached by every thread.
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const float* A = p.A + b * p.sab;
    const float* B = p.B + b * p.sbb;
    float* C = p.C + b * p.M * p.N;
    for (int64_t tn = blockIdx.y; tn < tiles_n; tn += gridDim.y) {
      const int64_t n0 = tn * kTileN;
      float ra[kLoads], rb[kLoads];  // the K step in flight: global -> registers -> shared
      auto load = [&](int64_t k0) {
#pragma unroll
        for (int j = 0; j < kLoads; ++j) {
          const int64_t m = m0 + a_m[j], ka = k0 + a_k[j];
          ra[j] = (m < p.M && ka < p.K) ? A[m * p.sam + ka * p.sak] : 0.0f;
          const int64_t kb = k0 + b_k[j], n = n0 + b_n[j];
          rb[j] = (kb < p.K && n < p.N) ? B[kb * p.sbk + n * p.sbn] : 0.0f;
        }
      };

      float acc[4][4] = {};
      if (p.K > 0) load(0);
      for (int64_t k0 = 0; k0 < p.K; k0 += kTileK) {
#pragma unroll
        for (int j = 0; j < kLoads; ++j) {
          As[a_k[j]][a_m[j]] = ra[j];
          Bs[b_k[j]][b_n[j]] = rb[j];
        }
        __syncthreads();
        if (k0 + kTileK < p.K) load(k0 + kTileK);  // overlaps the multiply below
#pragma unroll
        for (int kk = 0; kk < kTileK; ++kk) {
          const float4 a = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
          const float4 bv = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
          const float av[4] = {a.x, a.y, a.z, a.w}, bw[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bw[j], acc[i][j]);
        }
        __syncthreads();  // the tiles are overwritten at the next step
      }

#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t m = m0 + ty * 4 + i;
        if (m >= p.M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int64_t n = n0 + tx * 4 + j;
          if (n < p.N) C[m * p.N + n] = acc[i][j];
        }
      }
    }
  }
}

}  // namespace

void matmul_f32(const float* A, int64_t sam, int64_t sak, int64_t sab, const float* B, int64_t sbk, int64_t sbn,
                int64_t sbb, float* C, int64_t M, int64_t K, int64_t N, int64_t batch, int device) {
  RS_CHECK(M >= 0 && K >= 0 && N >= 0 && batch >= 0, ValueError, "matmul_f32", "negative size M=", M, " K=", K,
           " N=", N, " batch=", batch);
  if (M == 0 || N == 0 || batch == 0) return;
  const int64_t tiles_m = (M + kTileM - 1) / kTileM, tiles_n = (N + kTileN - 1) / kTileN;
  RS_CHECK(tiles_m <= 0x7fffffff, ValueError, "matmul_f32", "M=", M, " is too large");
  cudaStream_t stream = stream_for(device);
  const MatmulF32Args args{A, sam, sak, sab, B, sbk, sbn, sbb, C, M, K, N, batch};
  const dim3 grid(unsigned(tiles_m), unsigned(std::min<int64_t>(tiles_n, 65535)),
                  unsigned(std::min<int64_t>(batch, 65535)));
  launch_plain(matmul_f32_kernel, grid, dim3(kThreads), 0, stream, "matmul_f32", args);
}

}  // namespace rscapret::kernels::cuda
