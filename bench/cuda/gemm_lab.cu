// Kernel lab for the bf16 GEMM (in the style of llm.c's dev/cuda): numbered variants of
// C [M, N] = A [M, K] @ B^T, B [N, K] (the Linear weight layout), bf16 operands, f32 accumulation,
// bf16 output (--f32out: f32 output). Every variant is validated before it is timed:
//   small shapes: every output against a CPU double-precision reference;
//   timed shapes: 512 sampled outputs against CPU double dot products, plus a device-side count
//   of non-finite outputs (the output is poisoned with NaN first, so unwritten elements show).
// Timing: CUDA events on the project's stream, 3 warm-up runs, median of 15, inputs rotating
// among 3 sets (so L2, 50 MB on an H100, cannot hold the operands between runs).
//
//   gemm_lab [variant|all] [--quick] [--f32out]
//     variant: one number below (cuBLASLt, variant 4, always runs too: it is the yardstick);
//     --quick: validation, then only 8192^3, the ViT-L MLP up-projection and the decode shapes.
//
// Variants:
//   1  naive: one thread per output, f32 accumulation straight from global memory
//   2  shared-memory tiled SIMT: 64x64 tiles, 4x4 outputs per thread, f32 FMAs on bf16 inputs
//   3  ours, production: gemm_bf16 with backend ours (mma.sync kernels, automatic tile choice)
//   4  cuBLASLt: gemm_bf16_cublas
//   6  ours forced to k64   (128x128x64, 3 stages, 8 warps of 64x32, 2 blocks per SM)
//   7  ours forced to k32   (128x128x32, 4 stages, 8 warps of 64x32, 2 blocks per SM)
//   8  ours forced to small (64x64x32, 4 stages, 4 warps of 32x32, 4 blocks per SM)
//   9  lab config: 128x256x64, 3 stages, 8 warps of 64x64, 1 block per SM
//  10  lab config: 128x256x32, 4 stages, 8 warps of 64x64, 1 block per SM (production before run 2)
//  11  lab config: 128x128x32, 4 stages, 4 warps of 64x64, 2 blocks per SM (bigger warp tiles)
//  12  lab config: 128x128x64, 3 stages, 4 warps of 64x64, 2 blocks per SM
//  13  decode GEMV (M = 1), 4 columns per warp unrolled 2 (the first choice)
//  14  decode GEMV, 4 columns per warp unrolled 8
//  15  the TMA wgmma kernel (production for large products), forced
//  16  the production decode GEMV (2 columns unrolled 8) launched plainly: variant 3 at M = 1
//      launches it as a programmatic dependent, so 3 vs 16 is that launch's effect
//  17  the production decode GEMV's layout with A's row staged once per block in shared memory
//  18  variant 16 with the weights read through the read-only path (__ldg), as production did until
//      the thirteenth session (now ld.global.cg: coherent, which a dependent launch needs)
//   5  (retired) a cp.async wgmma kernel: 0.51 of cuBLAS at 8192^3 on the H100 (bench/RESULTS.md);
//      the TMA wgmma kernel in production (variant 15 forced, gemm_wgmma_lab) replaced it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "kernels/cuda/gemm_bf16_kernel.cuh"
#include "bench/cuda/lab_common.cuh"
#include "kernels/cuda/gemm_bf16_skinny.cuh"
#include "kernels/cuda/launch.cuh"
#include "tensor/device_backend.h"

namespace kc = rscapret::kernels::cuda;
namespace gm = rscapret::kernels::cuda::gemm;
using rscapret::DType;

namespace {


constexpr int kDevice = 0;

// ---- deterministic inputs: value(seed, i), computed identically on device and host ----

// bf16 bits of input element i: uniform in [-1, 1).
__host__ __device__ inline uint16_t input_bits(uint64_t seed, uint64_t i) {
  return lab::uniform_bf16_bits(seed, i, 1.0f);
}
using lab::bf16_value;
using lab::splitmix64;

__global__ void fill_inputs(uint16_t* x, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = input_bits(seed, uint64_t(i));
}

__global__ void count_nonfinite(const void* c, bool c_bf16, int64_t n, unsigned long long* count) {
  unsigned long long local = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = c_bf16 ? __uint_as_float(uint32_t(static_cast<const uint16_t*>(c)[i]) << 16)
                           : static_cast<const float*>(c)[i];
    local += !isfinite(v);
  }
  if (local) atomicAdd(count, local);
}

// ---- variant 1: naive ----
__global__ void naive_kernel(const uint16_t* A, const uint16_t* B, void* C, bool c_bf16, int M, int N, int K) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  float acc = 0.0f;
  for (int k = 0; k < K; ++k)
    acc = fmaf(__uint_as_float(uint32_t(A[int64_t(m) * K + k]) << 16),
               __uint_as_float(uint32_t(B[int64_t(n) * K + k]) << 16), acc);
  if (c_bf16)
    static_cast<uint16_t*>(C)[int64_t(m) * N + n] = gm::to_bf16_bits(acc);
  else
    static_cast<float*>(C)[int64_t(m) * N + n] = acc;
}

// ---- variant 2: shared-memory tiled SIMT (64x64 tile, K steps of 16, 4x4 per thread) ----
__global__ __launch_bounds__(256) void simt_kernel(const uint16_t* A, const uint16_t* B, void* C, bool c_bf16,
                                                   int M, int N, int K) {
  __shared__ float As[16][64 + 4];  // As[k][m]
  __shared__ float Bs[16][64 + 4];  // Bs[k][n]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += 16) {
    for (int l = tid; l < 64 * 16; l += 256) {  // k fastest: both operands are K-contiguous
      const int r = l / 16, k = l % 16;
      const bool kin = k0 + k < K;
      As[k][r] = (m0 + r < M && kin) ? __uint_as_float(uint32_t(A[int64_t(m0 + r) * K + k0 + k]) << 16) : 0.0f;
      Bs[k][r] = (n0 + r < N && kin) ? __uint_as_float(uint32_t(B[int64_t(n0 + r) * K + k0 + k]) << 16) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < 16; ++k) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[k][ty * 4 + i], b[i] = Bs[k][tx * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
      if (m >= M || n >= N) continue;
      if (c_bf16)
        static_cast<uint16_t*>(C)[int64_t(m) * N + n] = gm::to_bf16_bits(acc[i][j]);
      else
        static_cast<float*>(C)[int64_t(m) * N + n] = acc[i][j];
    }
}

// ---- lab-only tile configurations of our mma.sync kernel ----
using Cfg9 = gm::MmaConfig<128, 256, 64, 2, 4, 3, 1>;
using Cfg10 = gm::MmaConfig<128, 256, 32, 2, 4, 4, 1>;
using Cfg11 = gm::MmaConfig<128, 128, 32, 2, 2, 4, 2>;
using Cfg12 = gm::MmaConfig<128, 128, 64, 2, 2, 3, 2>;

struct Problem {
  const uint16_t* A;
  const uint16_t* B;
  void* C;
  bool c_bf16;
  int M, N, K;
};

template <class Cfg>
void run_config(const Problem& p, cudaStream_t stream) {
  gm::EpilogueArgs epi{p.C, p.N, p.c_bf16, gm::epilogue_pair_aligned(p.C, p.N, p.c_bf16), nullptr,
                       kc::GemmActivation::none, p.M, p.N};
  const gm::MmaArgs args{p.A, p.K, p.B, p.K, p.M, p.N, p.K, epi};
  // B [N, K] only: the lab times the Linear layout (the [K, N] kernels are tested in test_cuda_gemm).
  if (gm::mma_vec_ok(args, true))
    gm::launch_mma_variant<Cfg, true, true>(args, stream, kDevice);
  else
    gm::launch_mma_variant<Cfg, true, false>(args, stream, kDevice);
}

void run_ours(const Problem& p, kc::GemmTiles tiles) {
  kc::set_gemm_backend(kc::GemmBackend::ours);
  kc::set_gemm_tiles(tiles);
  kc::gemm_bf16(p.A, p.K, p.B, p.K, true, p.C, p.c_bf16 ? DType::bf16 : DType::f32, p.N, nullptr,
                kc::GemmActivation::none, p.M, p.N, p.K, kDevice);
}

// The decode GEMV (M = 1) with other columns-per-warp and unroll than production's, launched
// plainly; ReadOnlyB: weights through the read-only path (__ldg) instead of ld.global.cg.
template <int Cols, int Unroll, bool ReadOnlyB = false>
void run_skinny(const Problem& p, cudaStream_t stream) {
  const gm::EpilogueArgs epi{p.C, p.N, p.c_bf16, gm::epilogue_pair_aligned(p.C, p.N, p.c_bf16), nullptr,
                             kc::GemmActivation::none, p.M, p.N};
  const gm::SkinnyArgs args{p.A, p.K, p.B, p.K, p.M, p.N, p.K, epi};
  constexpr int per_block = gm::kSkinnyThreads / 32 * Cols;
  gm::gemm_bf16_skinny_kernel<1, Cols, Unroll, false, false, ReadOnlyB>
      <<<unsigned((p.N + per_block - 1) / per_block), gm::kSkinnyThreads, 0, stream>>>(args);
  LAB_CHECK(cudaGetLastError());
}
bool decode_shape(const Problem& p) { return p.M == 1 && p.K % 8 == 0; }

// Variant 17: the production GEMV's warp layout (2 columns per warp, K unrolled 8) with the single
// row of A (M = 1) copied once per block into shared memory, so each warp reads A there instead of
// through L1 next to its weight stream (in production A is f32, twice these bytes). Plain launch.
template <int Cols, int Unroll>
__global__ void __launch_bounds__(gm::kSkinnyThreads) skinny_smem_a_kernel(const uint16_t* A, const uint16_t* B, void* C,
                                                                          bool c_bf16, int N, int K) {
  extern __shared__ uint4 a_chunks[];  // [K / 8]: A's row, 8 bf16 per chunk
  const int chunks = K / 8;
  for (int q = threadIdx.x; q < chunks; q += blockDim.x) a_chunks[q] = __ldg(reinterpret_cast<const uint4*>(A) + q);
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * (gm::kSkinnyThreads / 32) + (threadIdx.x >> 5)) * Cols;
  if (n0 >= N) return;
  const uint4* brow[Cols];
#pragma unroll
  for (int c = 0; c < Cols; ++c) brow[c] = reinterpret_cast<const uint4*>(B + int64_t(min(n0 + c, N - 1)) * K);
  float acc[Cols] = {};
#pragma unroll Unroll
  for (int q = lane; q < chunks; q += 32) {
    uint4 bv[Cols];
#pragma unroll
    for (int c = 0; c < Cols; ++c) bv[c] = __ldg(brow[c] + q);
    const uint4 av = a_chunks[q];
#pragma unroll
    for (int c = 0; c < Cols; ++c) acc[c] = gm::dot8(av, bv[c], acc[c]);
  }
#pragma unroll
  for (int c = 0; c < Cols; ++c)
    for (int off = 16; off > 0; off >>= 1) acc[c] += __shfl_xor_sync(0xffffffffu, acc[c], off);
#pragma unroll
  for (int c = 0; c < Cols; ++c)
    if (lane == c && n0 + c < N) {
      if (c_bf16) static_cast<__nv_bfloat16*>(C)[n0 + c] = __float2bfloat16_rn(acc[c]);
      else static_cast<float*>(C)[n0 + c] = acc[c];
    }
}

void run_skinny_smem_a(const Problem& p, cudaStream_t stream) {
  constexpr int kCols = 2, per_block = gm::kSkinnyThreads / 32 * kCols;
  const size_t smem = size_t(p.K) * 2;
  if (smem > 48 * 1024)
    LAB_CHECK(cudaFuncSetAttribute(skinny_smem_a_kernel<kCols, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   int(smem)));
  skinny_smem_a_kernel<kCols, 8><<<unsigned((p.N + per_block - 1) / per_block), gm::kSkinnyThreads, smem, stream>>>(
      p.A, p.B, p.C, p.c_bf16, p.N, p.K);
  LAB_CHECK(cudaGetLastError());
}

struct Variant {
  int id;
  const char* name;
  std::function<void(const Problem&, cudaStream_t)> run;
  double max_flops;  // skip shapes above this many FLOPs (the slow reference kernels)
  std::function<bool(const Problem&)> applies = [](const Problem&) { return true; };
};

std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  v.push_back({1, "naive", [](const Problem& p, cudaStream_t s) {
                 const dim3 block(16, 16), grid((p.N + 15) / 16, (p.M + 15) / 16);
                 naive_kernel<<<grid, block, 0, s>>>(p.A, p.B, p.C, p.c_bf16, p.M, p.N, p.K);
                 LAB_CHECK(cudaGetLastError());
               }, 1e11});
  v.push_back({2, "smem-tiled SIMT", [](const Problem& p, cudaStream_t s) {
                 const dim3 grid((p.N + 63) / 64, (p.M + 63) / 64);
                 simt_kernel<<<grid, 256, 0, s>>>(p.A, p.B, p.C, p.c_bf16, p.M, p.N, p.K);
                 LAB_CHECK(cudaGetLastError());
               }, 1e12});
  v.push_back({3, "ours (production choice)", [](const Problem& p, cudaStream_t) {
                 run_ours(p, kc::GemmTiles::automatic);
               }, 1e300});
  v.push_back({4, "cuBLASLt", [](const Problem& p, cudaStream_t) {
                 kc::gemm_bf16_cublas(p.A, p.K, p.B, p.K, true, p.C, p.c_bf16 ? DType::bf16 : DType::f32, p.N,
                                      nullptr, kc::GemmActivation::none, p.M, p.N, p.K, kDevice);
               }, 1e300});
  v.push_back({6, "ours k64 128x128x64 s3", [](const Problem& p, cudaStream_t) {
                 run_ours(p, kc::GemmTiles::k64);
               }, 1e300});
  v.push_back({7, "ours k32 128x128x32 s4", [](const Problem& p, cudaStream_t) {
                 run_ours(p, kc::GemmTiles::k32);
               }, 1e300});
  v.push_back({8, "ours small 64x64x32 s4", [](const Problem& p, cudaStream_t) {
                 run_ours(p, kc::GemmTiles::small);
               }, 1e300});
  v.push_back({9, "lab 128x256x64 s3", [](const Problem& p, cudaStream_t s) { run_config<Cfg9>(p, s); }, 1e300});
  v.push_back({10, "lab 128x256x32 s4", [](const Problem& p, cudaStream_t s) { run_config<Cfg10>(p, s); }, 1e300});
  v.push_back({11, "lab 128x128x32 s4 4 warps", [](const Problem& p, cudaStream_t s) { run_config<Cfg11>(p, s); },
               1e300});
  v.push_back({12, "lab 128x128x64 s3 4 warps", [](const Problem& p, cudaStream_t s) { run_config<Cfg12>(p, s); },
               1e300});
  // The production decode kernel is 2 columns unrolled 8 (variant 3 at M = 1); 13 is the first choice.
  v.push_back({13, "decode GEMV 4 cols unroll 2 (first choice)", [](const Problem& p, cudaStream_t s) { run_skinny<4, 2>(p, s); },
               1e300, decode_shape});
  v.push_back({14, "decode GEMV 4 cols unroll 8", [](const Problem& p, cudaStream_t s) { run_skinny<4, 8>(p, s); },
               1e300, decode_shape});
  v.push_back({15, "TMA wgmma (production kernel, forced)", [](const Problem& p, cudaStream_t) {
                 run_ours(p, kc::GemmTiles::wgmma);
               }, 1e300});
  // Variant 3 at M = 1 is the production GEMV launched as a programmatic dependent (it prefetches
  // the start of its weight rows while the previous repetition ends); 16 is the same kernel
  // launched plainly, so 3 vs 16 is the dependent launch's effect on back-to-back GEMVs.
  v.push_back({16, "decode GEMV 2 cols unroll 8, plain launch", [](const Problem& p, cudaStream_t s) {
                 run_skinny<2, 8>(p, s);
               }, 1e300, decode_shape});
  v.push_back({18, "decode GEMV 2 cols unroll 8, plain launch, __ldg weights", [](const Problem& p, cudaStream_t s) {
                 run_skinny<2, 8, true>(p, s);
               }, 1e300, decode_shape});
  v.push_back({17, "decode GEMV, A in shared memory", run_skinny_smem_a, 1e300,
               [](const Problem& p) { return decode_shape(p) && p.K * 2 <= 200 * 1024; }});
  return v;
}

// ---- device buffers for one shape: 3 input sets, one output ----
struct Buffers {
  int M, N, K;
  bool c_bf16;
  uint16_t* A[3] = {};
  uint16_t* B[3] = {};
  void* C = nullptr;
  uint64_t seedA[3], seedB[3];

  Buffers(int m, int n, int k, bool bf16out, int sets) : M(m), N(n), K(k), c_bf16(bf16out) {
    cudaStream_t s = kc::stream_for(kDevice);
    for (int i = 0; i < sets; ++i) {
      seedA[i] = 1000 + 2 * i + uint64_t(m) * 7 + uint64_t(k) * 13;
      seedB[i] = 1001 + 2 * i + uint64_t(n) * 7 + uint64_t(k) * 13;
      A[i] = static_cast<uint16_t*>(rscapret::cuda_runtime::allocate(bytesA(), kDevice));
      B[i] = static_cast<uint16_t*>(rscapret::cuda_runtime::allocate(bytesB(), kDevice));
      fill_inputs<<<1024, 256, 0, s>>>(A[i], int64_t(M) * K, seedA[i]);
      fill_inputs<<<1024, 256, 0, s>>>(B[i], int64_t(N) * K, seedB[i]);
      LAB_CHECK(cudaGetLastError());
    }
    C = rscapret::cuda_runtime::allocate(bytesC(), kDevice);
  }
  ~Buffers() {
    for (int i = 0; i < 3; ++i) {
      if (A[i]) rscapret::cuda_runtime::release(A[i], kDevice);
      if (B[i]) rscapret::cuda_runtime::release(B[i], kDevice);
    }
    rscapret::cuda_runtime::release(C, kDevice);
  }
  size_t bytesA() const { return size_t(M) * K * 2; }
  size_t bytesB() const { return size_t(N) * K * 2; }
  size_t bytesC() const { return size_t(M) * N * (c_bf16 ? 2 : 4); }
  Problem problem(int set) const { return Problem{A[set], B[set], C, c_bf16, M, N, K}; }
  void poison() {
    LAB_CHECK(cudaMemsetAsync(C, 0xFF, bytesC(), kc::stream_for(kDevice)));
  }
  // C read back as float.
  float c_at(const std::vector<unsigned char>& host, int64_t idx) const {
    if (c_bf16) {
      uint16_t b;
      std::memcpy(&b, host.data() + idx * 2, 2);
      return bf16_value(b);
    }
    float f;
    std::memcpy(&f, host.data() + idx * 4, 4);
    return f;
  }
  // Every output of input set 0 in double (the small shapes).
  std::vector<double> full_reference() const {
    std::vector<float> a(size_t(M) * K), bb(size_t(N) * K);
    for (size_t i = 0; i < a.size(); ++i) a[i] = bf16_value(input_bits(seedA[0], i));
    for (size_t i = 0; i < bb.size(); ++i) bb[i] = bf16_value(input_bits(seedB[0], i));
    std::vector<double> ref(size_t(M) * N);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double acc = 0;
        for (int k = 0; k < K; ++k) acc += double(a[size_t(m) * K + k]) * double(bb[size_t(n) * K + k]);
        ref[size_t(m) * N + n] = acc;
      }
    return ref;
  }
  double ref_at(int set, int m, int n) const {
    double acc = 0;
    for (int k = 0; k < K; ++k)
      acc += double(bf16_value(input_bits(seedA[set], uint64_t(m) * K + k))) *
             double(bf16_value(input_bits(seedB[set], uint64_t(n) * K + k)));
    return acc;
  }
};

unsigned long long nonfinite_outputs(const Buffers& b) {
  cudaStream_t s = kc::stream_for(kDevice);
  auto* count = static_cast<unsigned long long*>(rscapret::cuda_runtime::allocate(8, kDevice));
  LAB_CHECK(cudaMemsetAsync(count, 0, 8, s));
  count_nonfinite<<<1024, 256, 0, s>>>(b.C, b.c_bf16, int64_t(b.M) * b.N, count);
  LAB_CHECK(cudaGetLastError());
  unsigned long long host = 0;
  rscapret::cuda_runtime::copy_device_to_host(&host, count, 8, kDevice);
  rscapret::cuda_runtime::release(count, kDevice);
  return host;
}

// Runs the variant once on set 0 into a poisoned output and checks it: every output against
// `full` when given, otherwise 512 sampled outputs against CPU dot products. Returns the
// relative error (inf: non-finite outputs).
double validate(const Variant& v, Buffers& b, const std::vector<double>* full, std::string* why) {
  b.poison();
  v.run(b.problem(0), kc::stream_for(kDevice));
  LAB_CHECK(cudaGetLastError());
  rscapret::cuda_runtime::synchronize(kDevice);
  const unsigned long long bad = nonfinite_outputs(b);
  if (bad) {
    *why = std::to_string(bad) + " non-finite outputs (unwritten or NaN)";
    return INFINITY;
  }
  std::vector<std::pair<int, int>> points;
  if (full) {
    for (int m = 0; m < b.M; ++m)
      for (int n = 0; n < b.N; ++n) points.push_back({m, n});
  } else {
    uint64_t h = 12345;
    for (int i = 0; i < 512; ++i) {
      h = splitmix64(h);
      points.push_back({int(h % uint64_t(b.M)), int((h >> 32) % uint64_t(b.N))});
    }
    points.push_back({b.M - 1, b.N - 1});  // the last tile's corner
    points.push_back({0, 0});
  }
  std::vector<unsigned char> host(b.bytesC());
  rscapret::cuda_runtime::copy_device_to_host(host.data(), b.C, host.size(), kDevice);
  double num = 0, den = 0;
  for (const auto& [m, n] : points) {
    const double ref = full ? (*full)[size_t(m) * b.N + n] : b.ref_at(0, m, n);
    const double got = b.c_at(host, int64_t(m) * b.N + n);
    if (!std::isfinite(got)) {
      *why = "non-finite output";
      return INFINITY;
    }
    num += (got - ref) * (got - ref);
    den += ref * ref;
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Median time in ms of `reps` runs (after `warmup`), rotating the input sets.
double time_variant(const Variant& v, Buffers& b, int sets, int warmup, int reps) {
  cudaStream_t s = kc::stream_for(kDevice);
  for (int i = 0; i < warmup; ++i) v.run(b.problem(i % sets), s);
  std::vector<cudaEvent_t> ev(static_cast<size_t>(2 * reps));
  for (auto& e : ev) LAB_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < reps; ++i) {
    LAB_CHECK(cudaEventRecord(ev[size_t(2 * i)], s));
    v.run(b.problem(i % sets), s);
    LAB_CHECK(cudaEventRecord(ev[size_t(2 * i + 1)], s));
  }
  LAB_CHECK(cudaEventSynchronize(ev.back()));
  LAB_CHECK(cudaGetLastError());
  std::vector<double> ms(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    float t = 0;
    LAB_CHECK(cudaEventElapsedTime(&t, ev[size_t(2 * i)], ev[size_t(2 * i + 1)]));
    ms[size_t(i)] = t;
  }
  for (auto& e : ev) LAB_CHECK(cudaEventDestroy(e));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Row {
  int variant;
  std::string name, shape;
  double tflops = 0, pct = 0, err = 0;
  bool validated = false, skipped = false;
  std::string note;
};

}  // namespace

int main(int argc, char** argv) {
  int only = 0;  // 0: all
  bool quick = false, f32out = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--f32out") f32out = true;
    else if (a == "all") only = 0;
    else only = std::atoi(a.c_str());
  }
  if (!rscapret::cuda_runtime::available()) {
    std::printf("no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  LAB_CHECK(cudaGetDeviceProperties(&prop, kDevice));
  std::printf("# gemm_lab on %s (%d SMs, L2 %d MB), output %s\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, f32out ? "f32" : "bf16");

  std::vector<Variant> variants;
  for (auto& v : all_variants())
    if (only == 0 || v.id == only || v.id == 4) variants.push_back(v);
  const bool bf16out = !f32out;

  // ---- 1. validation at small and odd shapes, every output against the CPU ----
  bool all_valid = true;
  std::printf("\n## validation (full CPU double reference, rel err < 1e-2; f32 and bf16 outputs)\n");
  const int small_shapes[][3] = {{1, 1, 1}, {129, 33, 67}, {256, 512, 384}, {1, 256, 300}, {7, 4104, 40},
                                 {300, 264, 520}};  // M, K, N
  for (const auto& s : small_shapes)
    for (bool out_bf16 : {true, false}) {
      Buffers b(s[0], s[2], s[1], out_bf16, 1);
      const std::vector<double> ref = b.full_reference();
      for (const auto& v : variants) {
        if (!v.applies(b.problem(0))) continue;
        std::string why;
        const double err = validate(v, b, &ref, &why);
        const bool ok = err < 1e-2;
        all_valid &= ok;
        if (!ok)
          std::printf("FAIL variant %d (%s) M=%d K=%d N=%d %s: rel err %.3g %s\n", v.id, v.name, s[0], s[1], s[2],
                      out_bf16 ? "bf16" : "f32", err, why.c_str());
      }
    }
  std::printf("small-shape validation: %s\n", all_valid ? "all variants pass" : "FAILURES above");

  // ---- 2. timed shapes ----
  struct Shape {
    int M, K, N;
    const char* what;
  };
  std::vector<Shape> shapes = {{8192, 8192, 8192, "square"},
                               {16448, 1024, 4096, "ViT-L MLP up (64 images)"},
                               {16448, 4096, 1024, "ViT-L MLP down"},
                               {16448, 1024, 1024, "ViT-L attention proj"},
                               {512, 4096, 11008, "LLM MLP, 512 tokens"},
                               {1024, 4096, 4096, "LLM proj, 1024 tokens"},
                               {1, 4096, 4096, "decode"},
                               {1, 4096, 11008, "decode, LLaMA MLP up"},
                               {1, 11008, 4096, "decode, LLaMA MLP down"}};
  // Quick: the square, the ViT MLP and the decode shapes (at M = 1 TFLOP/s equals TB/s of weight
  // read: 2 N K flops over 2 N K bytes).
  if (quick) shapes = {shapes[0], shapes[1], shapes[6], shapes[7], shapes[8]};

  std::vector<Row> rows;
  for (const Shape& sh : shapes) {
    const double flops = 2.0 * sh.M * double(sh.N) * sh.K;
    Buffers b(sh.M, sh.N, sh.K, bf16out, 3);
    char shape[96];
    std::snprintf(shape, sizeof(shape), "%dx%dx%d", sh.M, sh.K, sh.N);
    std::printf("\n## %s (M x K x N) %s, %.1f GFLOP\n", shape, sh.what, flops * 1e-9);
    double cublas_tflops = 0;
    // cuBLASLt first: the other rows report a percentage of it.
    std::vector<const Variant*> order;
    for (const auto& v : variants)
      if (v.id == 4) order.push_back(&v);
    for (const auto& v : variants)
      if (v.id != 4) order.push_back(&v);
    for (const Variant* v : order) {
      Row r{v->id, v->name, shape};
      if (flops > v->max_flops) {
        r.skipped = true;
        r.note = "skipped (too slow at this size)";
        rows.push_back(r);
        continue;
      }
      if (!v->applies(b.problem(0))) {
        r.skipped = true;
        r.note = "n/a (preconditions)";
        rows.push_back(r);
        continue;
      }
      std::string why;
      r.err = validate(*v, b, nullptr, &why);
      r.validated = r.err < 1e-2;
      if (!r.validated) {
        r.note = why.empty() ? "wrong results" : why;
        std::printf("variant %2d %-30s INVALID (rel err %.3g) %s\n", v->id, v->name, r.err, why.c_str());
        rows.push_back(r);
        continue;
      }
      const int reps = flops > 1e12 ? 15 : 25;
      const double ms = time_variant(*v, b, 3, 3, reps);
      r.tflops = flops / (ms * 1e-3) * 1e-12;
      if (v->id == 4) cublas_tflops = r.tflops;
      r.pct = cublas_tflops > 0 ? 100.0 * r.tflops / cublas_tflops : 0;
      std::printf("variant %2d %-30s %9.4f ms %8.1f TFLOP/s %6.1f%% of cuBLAS (rel err %.2g)\n", v->id, v->name, ms,
                  r.tflops, r.pct, r.err);
      rows.push_back(r);
    }
  }
  kc::set_gemm_tiles(kc::GemmTiles::automatic);

  // ---- 3. summary ----
  std::printf("\n| variant | shape (MxKxN) | TFLOP/s | %% of cuBLAS | validated |\n|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    if (r.skipped) {
      std::printf("| %d %s | %s | - | - | %s |\n", r.variant, r.name.c_str(), r.shape.c_str(), r.note.c_str());
      continue;
    }
    if (!r.validated) {
      std::printf("| %d %s | %s | - | - | NO: %s |\n", r.variant, r.name.c_str(), r.shape.c_str(), r.note.c_str());
      continue;
    }
    std::printf("| %d %s | %s | %.1f | %.1f%% | yes |\n", r.variant, r.name.c_str(), r.shape.c_str(), r.tflops,
                r.pct);
  }
  std::printf("\nsmall-shape validation: %s\n", all_valid ? "pass" : "FAIL");
  return all_valid ? 0 : 2;
}
