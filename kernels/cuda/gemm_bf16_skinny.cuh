// The decode-shaped bf16 GEMM: M <= 8 rows of A against a Linear weight B [N, K]. Such a product
// is bound by reading B once (2 N K bytes); a 128-row mma tile would waste almost all of its work
// and leave most SMs idle (N / 128 blocks), so this kernel streams B instead: each warp owns
// kCols consecutive columns n, its lanes read those B rows in coalesced 16-byte chunks along K,
// multiply them with the M rows of A (small, served from L1/L2) in f32, and a warp shuffle
// reduction finishes each dot product. Requires K % 8 == 0 and 16-byte aligned rows of A and B.
// A may also be f32 (A32): each element is rounded to bf16 as it is loaded, which gives the bits
// of casting A first and saves that cast's launch (7 per decoder layer at decode). With an RMSNorm
// weight (kNormA) the f32 rows of A are the norm's input: each block first computes their rstd in
// the norm kernel's own order (norm_row_order.cuh), then loads rms_norm(A) rounded to bf16, which
// gives the bits of the norm kernel's output rounded as above and saves the norm's launch (2 per
// decoder layer at decode).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/norm_row_order.cuh"

namespace rscapret::kernels::cuda::gemm {

struct SkinnyArgs {
  const uint16_t* A;  // [M, K], lda (bf16); or null when A32 is given
  int64_t lda;
  const uint16_t* B;  // [N, K], ldb
  int64_t ldb;
  int M, N, K;
  EpilogueArgs epi;
  const float* A32 = nullptr;     // [M, K], lda (f32): read instead of A by the kAF32 kernels
  const uint16_t* B_up = nullptr;  // [N, K], ldb: the "up" weight of the kGlu kernels (B is the gate)
  // Columns [seg1, seg2) read rows of B_seg1, columns [seg2, N) rows of B_seg2 (each from its row
  // 0): several weights with one A in one launch (q, k and v at decode), C their concatenation.
  const uint16_t* B_seg1 = nullptr;
  const uint16_t* B_seg2 = nullptr;
  int seg1 = 0x7fffffff, seg2 = 0x7fffffff;
  // RMSNorm of A32's rows as they are loaded (the kNormA kernels): weight [K] in f32 (norm_w) or
  // bf16 (norm_w16, when norm_w is null), 16-byte aligned; K must be wide enough for the norm
  // kernel to give a row a whole block (norm_order::block_owns_row), whose order is reproduced.
  const float* norm_w = nullptr;
  const uint16_t* norm_w16 = nullptr;
  float norm_eps = 0.f;
  bool norm_a() const { return norm_w || norm_w16; }
};

// Columns per warp and the unroll of the K loop set the bytes of B in flight per thread
// (kSkinnyCols x kSkinnyUnroll x 16). On the H200 (gemm_lab, same run, weight TB/s at
// 1x4096x4096 / 1x4096x11008 / 1x11008x4096): 4 columns unrolled 2 (8 loads in flight, the first
// choice) 1.9 / 3.4 / 2.3; 4 columns unrolled 8: 1.7 / 3.2 / 2.0; 2 columns unrolled 8 (16 loads
// in flight, twice the blocks) 2.3 / 3.5 / 2.9, at or above cuBLASLt (2.3 / 3.4 / 3.1).
constexpr int kSkinnyCols = 2;       // columns per warp: each A chunk read serves 2 B rows
constexpr int kSkinnyUnroll = 8;
constexpr int kSkinnyThreads = 128;  // 4 warps, 8 columns per block

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

// 8 consecutive f32 of A (16-byte aligned) rounded to bf16 and packed as dot8 expects. Ordinary
// loads: A is the previous kernel's output (see dependent_launch.cuh on the read-only path).
__device__ __forceinline__ uint4 load_a8_f32(const float* a) {
  const float4 lo = reinterpret_cast<const float4*>(a)[0], hi = reinterpret_cast<const float4*>(a)[1];
  auto pack = [](float x, float y) {
    return uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(x))) |
           (uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(y))) << 16);
  };
  return make_uint4(pack(lo.x, lo.y), pack(lo.z, lo.w), pack(hi.x, hi.y), pack(hi.z, hi.w));
}

// 8 consecutive f32 of the norm's input x (16-byte aligned) as the RMSNorm kernel outputs them,
// (x rstd) w with w the weight's elements k .. k + 7, then rounded to bf16 and packed as dot8 expects.
__device__ __forceinline__ uint4 load_a8_f32_rms(const float* a, const SkinnyArgs& p, int k, float rstd) {
  const float4 lo = reinterpret_cast<const float4*>(a)[0], hi = reinterpret_cast<const float4*>(a)[1];
  float w[8];
  if (p.norm_w) {
    const float4 wl = reinterpret_cast<const float4*>(p.norm_w + k)[0], wh = reinterpret_cast<const float4*>(p.norm_w + k)[1];
    w[0] = wl.x, w[1] = wl.y, w[2] = wl.z, w[3] = wl.w, w[4] = wh.x, w[5] = wh.y, w[6] = wh.z, w[7] = wh.w;
  } else {
    const uint4 wv = *reinterpret_cast<const uint4*>(p.norm_w16 + k);  // bf16 -> f32 is exact
    const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
    for (int q = 0; q < 4; ++q) w[2 * q] = bf16_lo(ww[q]), w[2 * q + 1] = bf16_hi(ww[q]);
  }
  const float x[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  uint32_t packed[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float v0 = (x[2 * q] * rstd) * w[2 * q], v1 = (x[2 * q + 1] * rstd) * w[2 * q + 1];  // as norm.cu
    packed[q] = uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(v0))) |
                (uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(v1))) << 16);
  }
  return make_uint4(packed[0], packed[1], packed[2], packed[3]);
}

// A weight chunk: streamed once, so cached in L2 only (ld.global.cg, coherent); kReadOnlyB reads it
// through the read-only path instead (the kernel before the thirteenth session; the lab compares).
template <bool kReadOnlyB>
__device__ __forceinline__ uint4 load_b_chunk(const uint4* p) {
  if constexpr (kReadOnlyB) return __ldg(p);
  else return __ldcg(p);
}

// kCols and kUnroll default to the production values; the kernel lab times others. kAF32: A is
// read from p.A32 (f32) and rounded to bf16 on load. kGlu (the gated MLP at decode): each output
// is act(A B[n]) * (A B_up[n]) with act = p.epi.act and no bias; a warp's rows of B and B_up are summed
// exactly as the plain kernel sums B's, so the result has the bits of two products, the activation
// and an f32 multiply done separately. kNormA (with kAF32): A32 holds an RMSNorm's input, applied
// as A is loaded (SkinnyArgs::norm_w).
template <int kMaxM, int kCols = kSkinnyCols, int kUnroll = kSkinnyUnroll, bool kAF32 = false, bool kGlu = false,
          bool kReadOnlyB = false, bool kNormA = false>
__global__ void __launch_bounds__(kSkinnyThreads) gemm_bf16_skinny_kernel(const SkinnyArgs p) {
  static_assert(kMaxM * kCols <= 32, "one lane stores each output of the warp");
  static_assert(!kNormA || kAF32, "the norm reads its input in f32");
  static_assert(norm_order::kNormThreads % kSkinnyThreads == 0, "a block plays whole norm-kernel threads");
  constexpr int kRows = kGlu ? 2 * kCols : kCols;  // weight rows per warp: B's, then B2's
  const int lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * (kSkinnyThreads / 32) + (threadIdx.x >> 5)) * kCols;  // this warp's first column
  // Whole warps leave together; the kNormA kernels' block barrier comes first (below).
  if (!kNormA && n0 >= p.N) return;

  // Columns past N re-read row N-1 (a valid row); their sums are never stored.
  const uint4* brow[kRows];
#pragma unroll
  for (int c = 0; c < kRows; ++c) {
    int n = min(n0 + c % kCols, p.N - 1);
    const uint16_t* base = kGlu && c >= kCols ? p.B_up : p.B;
    if (n >= p.seg2) base = p.B_seg2, n -= p.seg2;
    else if (n >= p.seg1) base = p.B_seg1, n -= p.seg1;
    brow[c] = reinterpret_cast<const uint4*>(base + int64_t(n) * p.ldb);
  }

  // Launched as a programmatic dependent (dependent_launch.cuh): until the previous kernel has
  // finished, only the start of this warp's weight rows is asked into L2, one 128-byte line per
  // lane and row: the loop below reads those 4 KB first (its first unrolled pass, two for the
  // gated kernel), so the prefetch adds no DRAM traffic, and at decode it lets the weight stream
  // begin while the norm or attention before this kernel still runs.
#pragma unroll
  for (int c = 0; c < kRows; ++c)
    if (lane * 128 < p.K * 2) prefetch_l2(reinterpret_cast<const char*>(brow[c]) + lane * 128);
  wait_for_predecessor();  // A, the residual and C may be the previous kernels' work
  allow_dependents();

  [[maybe_unused]] float rstd[kMaxM];  // kNormA: each row's 1 / sqrt(mean(x^2) + eps), as the norm kernel makes it
  if constexpr (kNormA) {
    __shared__ float warp_sums[kMaxM][norm_order::kNormThreads / 32];
#pragma unroll
    for (int m = 0; m < kMaxM; ++m) {
      rstd[m] = 0.f;
      if (m < p.M)  // the same in every thread: no thread skips the barrier inside
        rstd[m] = norm_order::rstd_from_sum_of_squares(
            norm_order::sum_of_squares_in_block_order(p.A32 + int64_t(m) * p.lda, p.K, warp_sums[m]), p.K,
            p.norm_eps);
    }
    if (n0 >= p.N) return;
  }

  float acc[kMaxM][kRows];
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kRows; ++c) acc[m][c] = 0.0f;

  const int chunks = p.K / 8;  // 16-byte chunks per row
#pragma unroll kUnroll
  for (int q = lane; q < chunks; q += 32) {
    uint4 bv[kRows];
#pragma unroll
    for (int c = 0; c < kRows; ++c) bv[c] = load_b_chunk<kReadOnlyB>(brow[c] + q);  // read once
#pragma unroll
    for (int m = 0; m < kMaxM; ++m) {
      if (m < p.M) {
        uint4 av;
        if constexpr (kNormA) av = load_a8_f32_rms(p.A32 + int64_t(m) * p.lda + int64_t(q) * 8, p, q * 8, rstd[m]);
        else if constexpr (kAF32) av = load_a8_f32(p.A32 + int64_t(m) * p.lda + int64_t(q) * 8);
        else av = reinterpret_cast<const uint4*>(p.A + int64_t(m) * p.lda)[q];
#pragma unroll
        for (int c = 0; c < kRows; ++c) acc[m][c] = dot8(av, bv[c], acc[m][c]);
      }
    }
  }

  // Butterfly sums: every lane ends with the full dot products.
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kRows; ++c)
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) acc[m][c] += __shfl_xor_sync(0xffffffffu, acc[m][c], off);

  // Lane m * kCols + c stores C[m, n0 + c] (register arrays indexed by constants only).
  EpilogueArgs plain = p.epi;  // kGlu: the activation is applied to the gate before the product
  plain.act = GemmActivation::none;
  plain.bias = nullptr;
  plain.residual = nullptr;
#pragma unroll
  for (int m = 0; m < kMaxM; ++m)
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane == m * kCols + c && m < p.M) {
        if constexpr (kGlu)
          store_one(plain, m, n0 + c, activate(acc[m][c], p.epi.act) * acc[m][kCols + c]);
        else
          store_one(p.epi, m, n0 + c, acc[m][c]);  // bias, activation, residual (the decode's o/down)
      }
}

template <bool kAF32, bool kGlu, bool kNormA = false>
inline void launch_skinny_rows(const SkinnyArgs& s, unsigned blocks, cudaStream_t stream) {
  // The gated kernel reads twice the rows per pass: half the unroll keeps the bytes in flight.
  constexpr int U = kGlu ? kSkinnyUnroll / 2 : kSkinnyUnroll;
  // The smallest row count that covers M: no wasted A loads for decode (M = 1). A programmatic
  // dependent of the kernel before it (the kernel starts its weight stream early).
  auto launch = [&](auto kernel) {
    launch_dependent(kernel, dim3(blocks), dim3(kSkinnyThreads), 0, stream, "gemm_bf16 (skinny kernel)", s);
  };
  if (s.M <= 1) launch(gemm_bf16_skinny_kernel<1, kSkinnyCols, U, kAF32, kGlu, false, kNormA>);
  else if (s.M <= 2) launch(gemm_bf16_skinny_kernel<2, kSkinnyCols, U, kAF32, kGlu, false, kNormA>);
  else if (s.M <= 4) launch(gemm_bf16_skinny_kernel<4, kSkinnyCols, U, kAF32, kGlu, false, kNormA>);
  else launch(gemm_bf16_skinny_kernel<8, kSkinnyCols, U, kAF32, kGlu, false, kNormA>);
}

// The production launch of the skinny kernels (M <= 8: decode); also what the host emulation
// of the kernel runs (tests/cuda_emu).
inline void launch_skinny(const SkinnyArgs& s, cudaStream_t stream) {
  constexpr int cols_per_block = kSkinnyThreads / 32 * kSkinnyCols;
  const unsigned blocks = unsigned((int64_t(s.N) + cols_per_block - 1) / cols_per_block);
  // The gated and the normed kernels are only reached with f32 A (the entry points check).
  if (s.B_up && s.norm_a()) launch_skinny_rows<true, true, true>(s, blocks, stream);
  else if (s.B_up) launch_skinny_rows<true, true>(s, blocks, stream);
  else if (s.norm_a()) launch_skinny_rows<true, false, true>(s, blocks, stream);
  else if (s.A32) launch_skinny_rows<true, false>(s, blocks, stream);
  else launch_skinny_rows<false, false>(s, blocks, stream);
}

}  // namespace rscapret::kernels::cuda::gemm
