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
  // [M, N] f32 (ldr) added after bias and activation, f32 output only (the residual stream:
  // C = residual + act(A B + bias), the bits of a separate f32 add). Honoured by store_one (the
  // skinny kernel) and add_residual_fragment (the wgmma kernel) only: gemm_bf16_residual never
  // hands it to the mma.sync kernels or cuBLASLt.
  const float* residual = nullptr;
  int64_t ldr = 0;
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

// One element: act(v + bias[col]) (+ residual) at (row, col), if inside [M, N].
__device__ __forceinline__ void store_one(const EpilogueArgs& e, int row, int col, float v) {
  if (row >= e.M || col >= e.N) return;
  if (e.bias) v += e.bias[col];
  v = activate(v, e.act);
  if (e.residual) v += e.residual[int64_t(row) * e.ldr + col];
  const int64_t off = int64_t(row) * e.ldc + col;
  if (e.c_bf16)
    static_cast<uint16_t*>(e.C)[off] = to_bf16_bits(v);
  else
    static_cast<float*>(e.C)[off] = v;
}

// ---- whole-fragment epilogue (the wgmma kernel) ----
// A thread's accumulator fragment of an m64nBN wgmma tile: for every 8-column block j, rows r0 and
// r0 + 8 (h) and columns c0 + 8 j + {0, 1} (c): acc[4 j + 2 h + c]. Bias, activation and stores
// are three passes over the whole fragment, each dispatched once: with store_pair per pair, the
// bias test, the activation switch and the dtype test were inlined for each of the 64-128 pairs
// (the BN = 256 kernel grew to ~290 KB of code whose executed path was scattered through it).

// acc[4 j + 2 h + c] += bias[c0 + 8 j + c] (columns past N add nothing).
template <int NV>
__device__ __forceinline__ void add_bias_fragment(float (&acc)[NV], const float* bias, int c0, int N) {
#pragma unroll
  for (int j = 0; j < NV / 4; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int col = c0 + 8 * j + c;
      const float b = col < N ? bias[col] : 0.0f;
      acc[4 * j + c] += b;
      acc[4 * j + 2 + c] += b;
    }
}

template <GemmActivation kAct, int NV>
__device__ __forceinline__ void activate_each(float (&acc)[NV]) {
#pragma unroll
  for (int i = 0; i < NV; ++i) acc[i] = activate(acc[i], kAct);
}

// One switch, then one straight pass of the chosen activation.
template <int NV>
__device__ __forceinline__ void activate_fragment(float (&acc)[NV], GemmActivation act) {
  switch (act) {
    case GemmActivation::none: return;
    case GemmActivation::gelu_erf: return activate_each<GemmActivation::gelu_erf>(acc);
    case GemmActivation::gelu_tanh: return activate_each<GemmActivation::gelu_tanh>(acc);
    case GemmActivation::quick_gelu: return activate_each<GemmActivation::quick_gelu>(acc);
    case GemmActivation::silu: return activate_each<GemmActivation::silu>(acc);
  }
}

// acc[4 j + 2 h + c] += residual[r0 + 8 h, c0 + 8 j + c] inside [M, N] (after bias and activation:
// the order of the composed ops, so the same f32 bits).
template <int NV>
__device__ __forceinline__ void add_residual_fragment(float (&acc)[NV], const EpilogueArgs& e, int r0, int c0) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = r0 + 8 * h;
    if (row >= e.M) continue;
    const float* r = e.residual + int64_t(row) * e.ldr;
#pragma unroll
    for (int j = 0; j < NV / 4; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int col = c0 + 8 * j + c;
        if (col < e.N) acc[4 * j + 2 * h + c] += r[col];
      }
  }
}

// Stores the fragment (bias and activation already applied) at rows r0 (+8), columns c0 + 8 j (+1).
// `full`: every element is inside [M, N] and pairs are aligned, so no per-pair test is made.
__device__ __forceinline__ uint32_t select4(uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, int i) {
  return i == 0 ? a0 : i == 1 ? a1 : i == 2 ? a2 : a3;
}

// Full tiles of bf16 output with 16-byte aligned rows: the 4 lanes of a quad share a row, and lane
// t holds the column pair 2t of every 8-column block, so a pair store writes 4 bytes and a warp's
// row segment is half a 32-byte sector. Over four blocks j0..j0+3 (32 columns, 64 bytes of the
// row) the quad exchanges its pairs (a 4x4 transpose; round 0 keeps each lane's own pair): lane t
// then holds block j0 + t's 8 columns and writes them as one 16-byte store.
template <int NV>
__device__ __forceinline__ void store_fragment_bf16x8(const EpilogueArgs& e, const float (&acc)[NV], int r0, int c0) {
  static_assert(NV % 16 == 0, "whole groups of four 8-column blocks");
  const int lane = threadIdx.x & 31, t = lane & 3, quad = lane & ~3;
  const int col_base = c0 - 2 * t;  // the quad's first column
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int j0 = 0; j0 < NV / 4; j0 += 4) {
      uint32_t p[4];  // this lane's pairs of blocks j0 .. j0 + 3, packed bf16
#pragma unroll
      for (int i = 0; i < 4; ++i)
        p[i] = uint32_t(to_bf16_bits(acc[4 * (j0 + i) + 2 * h])) |
               (uint32_t(to_bf16_bits(acc[4 * (j0 + i) + 2 * h + 1])) << 16);
      // Round r: lane t sends its pair of block j0 + ((t + r) & 3) and receives, from lane
      // s = (t - r) & 3, that lane's pair of block j0 + t, which is word s of the 16-byte store.
      uint32_t got[4];
#pragma unroll
      for (int r = 0; r < 4; ++r)
        got[r] = __shfl_sync(0xffffffffu, select4(p[0], p[1], p[2], p[3], (t + r) & 3), quad | ((t - r) & 3));
      uint4 w;  // word s came in round (t - s) & 3
      w.x = select4(got[0], got[1], got[2], got[3], t & 3);
      w.y = select4(got[0], got[1], got[2], got[3], (t - 1) & 3);
      w.z = select4(got[0], got[1], got[2], got[3], (t - 2) & 3);
      w.w = select4(got[0], got[1], got[2], got[3], (t - 3) & 3);
      uint16_t* c = static_cast<uint16_t*>(e.C) + int64_t(r0 + 8 * h) * e.ldc + col_base + 8 * (j0 + t);
      *reinterpret_cast<uint4*>(c) = w;
    }
}

template <int NV>
__device__ __forceinline__ void store_fragment(const EpilogueArgs& e, const float (&acc)[NV], int r0, int c0,
                                               bool full) {
  if (full && e.c_bf16 && (reinterpret_cast<uintptr_t>(e.C) & 15) == 0 && (e.ldc & 7) == 0) {
    store_fragment_bf16x8(e, acc, r0, c0);
  } else if (full && e.c_bf16) {
#pragma unroll
    for (int j = 0; j < NV / 4; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        uint16_t* c = static_cast<uint16_t*>(e.C) + int64_t(r0 + 8 * h) * e.ldc + c0 + 8 * j;
        *reinterpret_cast<uint32_t*>(c) =
            uint32_t(to_bf16_bits(acc[4 * j + 2 * h])) | (uint32_t(to_bf16_bits(acc[4 * j + 2 * h + 1])) << 16);
      }
  } else if (full) {
#pragma unroll
    for (int j = 0; j < NV / 4; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float* c = static_cast<float*>(e.C) + int64_t(r0 + 8 * h) * e.ldc + c0 + 8 * j;
        *reinterpret_cast<float2*>(c) = make_float2(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
      }
  } else {
    EpilogueArgs plain = e;  // the guarded pair stores, with bias and activation already done
    plain.bias = nullptr;
    plain.act = GemmActivation::none;
    plain.residual = nullptr;  // added by add_residual_fragment already
#pragma unroll
    for (int j = 0; j < NV / 4; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) store_pair(plain, r0 + 8 * h, c0 + 8 * j, acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
  }
}

}  // namespace rscapret::kernels::cuda::gemm
