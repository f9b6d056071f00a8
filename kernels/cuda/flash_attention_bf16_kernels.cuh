// The bf16 tensor-core flash attention kernels (internal to flash_attention_bf16.cu and the kernel
// lab), FlashAttention-2 style, for head dim D = Dv in {64, 128}; bf16 operands of mma.sync
// m16n8k16 with f32 accumulation; q [B,H,Tq,D], k, v [B,Hkv,Tk,D], out like q, lse f32 [B,H,Tq]
// (natural log). GQA: query head h reads key head h / (H / Hkv). Causal: query i sits at
// position Tk - Tq + i. No key mask.
//
// Kernels:
//   forward   one block per BQ = 16 * WARPS query rows; each warp owns 16 rows, keeps its Q
//             fragments, running max / sum and the output tile in registers, and streams K/V
//             tiles of BK keys through shared memory (cp.async, double-buffered). Online softmax
//             in the log2 domain (exp2 of scores pre-multiplied by scale * log2 e). With a causal
//             mask the loop stops at the block's last visible key, and a warp whose rows see none
//             of a tile's keys skips it.
//             flash_attention_bf16_fwd_mt.cuh and _dq_mt.cuh hold the same loops with 32 rows per
//             warp (two m16 tiles sharing each K/V fragment); production runs the forward one
//             at D = 128 (flash_attention_bf16_tiles.cuh), the dq one is a lab variant.
//   backward  deterministic, no atomics, three launches:
//             delta  delta_i = rowsum(dout_i * out_i) into an f32 scratch [B,H,Tq];
//             dq     per query block, the forward's loop recomputing P = exp(S - lse), with
//                    dP = dO V^T, dS = P (dP - delta), dQ += dS K;
//             dk/dv  per block of 16 * WARPS keys (each warp 16 keys), looping over the query tiles
//                    of every query head in the key head's group (Q, dO double-buffered):
//                    S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q.
//             The split recomputes S and dP once more than FA2's single kernel with atomic dq
//             (7 tile products instead of 5) in exchange for bitwise-reproducible gradients.
//
// Fragments (PTX ISA, mma.m16n8k16 .bf16; g = lane / 4, t = lane % 4; "low" = bits 0..15):
//   A 16x16: a0 (row g, k 2t, 2t+1), a1 (row g+8, k 2t..), a2 (row g, k 2t+8..), a3 (row g+8, k 2t+8..)
//   B 16x8:  b0 (k 2t, 2t+1; col g), b1 (k 2t+8, 2t+9; col g)
//   C 16x8:  c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same cols)
// so the C tiles of a product, two n8 tiles at a time, are exactly the A fragment of the next
// product over the same index (P of S = Q K^T is the A of P V): c_to_a below.
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i, register i receives it,
// lane l holding (row l/4, cols 2(l%4), +1); with .trans (rows 2(l%4), +1; col l/4).
//
// Shared tiles are [rows][D + 8] bf16: a row stride of 144 or 272 bytes, 9 or 17 units of 16
// bytes (odd), so the 8 rows an ldmatrix phase reads at one column land in 8 distinct 16-byte bank
// groups. Rows past the end of a matrix are zero-filled by cp.async (source size 0); keys past
// Tk are masked to -inf (p = 0), queries past Tq get lse = +inf (p = 0) and are never stored.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/attention_device.cuh"
#include "kernels/cuda/gemm_ptx.cuh"

namespace rscapret::kernels::cuda::flash {

using gemm::cp_async_16;
using gemm::cp_async_commit;
using gemm::cp_async_wait;
using gemm::ldmatrix_x4;
using gemm::ldmatrix_x4_trans;
using gemm::mma_bf16_16816;
using gemm::smem_u32;

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr unsigned kFull = 0xffffffffu;

struct Shape {
  int B, H, Hkv, Tq, Tk;
  float scale;
  bool causal;
};

// Element strides of a [B, heads, rows, D] operand whose D elements are contiguous: the forward
// reads q, k, v and writes out through them (at inference, q/k/v are the projections' [B, T, H, D]
// outputs and out the o_proj input, read and written in place: no layout copies).
struct RowStrides {
  int64_t b, h, t;
};
inline RowStrides contiguous_rows(int64_t heads, int64_t rows, int64_t D) { return {heads * rows * D, rows * D, D}; }

struct FwdParams {
  const uint16_t* q;  // [B, H, Tq, D] through qs
  const uint16_t* k;  // [B, Hkv, Tk, D] through ks
  const uint16_t* v;  // [B, Hkv, Tk, D] through vs
  uint16_t* out;      // [B, H, Tq, D] through os
  float* lse;         // [B, H, Tq], contiguous
  Shape s;
  RowStrides qs, ks, vs, os;
};

struct BwdParams {
  const uint16_t* q;
  const uint16_t* k;
  const uint16_t* v;
  const uint16_t* out;   // the forward's output and lse
  const uint16_t* dout;  // [B, H, Tq, D]
  const float* lse;
  float* delta;  // scratch [B, H, Tq]: written by the delta kernel, read by the others
  uint16_t* dq;  // like q
  uint16_t* dk;  // like k
  uint16_t* dv;  // like v
  Shape s;
};

// ---- configurations ----

// MIN_BLOCKS: blocks per SM the register allocation must allow (__launch_bounds__), so that
// registers do not cut occupancy below what shared memory allows; left alone, ptxas sometimes
// picked fewer registers than needed and spilled.
template <int D_, int WARPS_, int BK_, int MIN_BLOCKS_>
struct FwdConfig {
  static constexpr int D = D_, WARPS = WARPS_, BK = BK_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = WARPS * 32, BQ = WARPS * 16, LD = D + 8;
  static constexpr int Q_ELEMS = BQ * LD, KV_ELEMS = BK * LD;
  static constexpr size_t SMEM = size_t(Q_ELEMS + 4 * KV_ELEMS) * 2;  // Q, K[2], V[2]
  static_assert(D == 64 || D == 128, "head dim 64 or 128");
  static_assert(BK % 16 == 0, "whole k16 steps of P V");
};

// dq kernel: the forward's geometry plus a dO tile.
template <int D_, int WARPS_, int BK_, int MIN_BLOCKS_>
struct DqConfig {
  static constexpr int D = D_, WARPS = WARPS_, BK = BK_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = WARPS * 32, BQ = WARPS * 16, LD = D + 8;
  static constexpr int Q_ELEMS = BQ * LD, KV_ELEMS = BK * LD;
  static constexpr size_t SMEM = size_t(2 * Q_ELEMS + 4 * KV_ELEMS) * 2;  // Q, dO, K[2], V[2]
  static_assert(D == 64 || D == 128, "head dim 64 or 128");
  static_assert(BK % 16 == 0, "whole k16 steps of dS K");
};

// dk/dv kernel: BKV = 16 * WARPS keys per block, query tiles of BQT rows.
template <int D_, int WARPS_, int BQT_, int MIN_BLOCKS_>
struct DkdvConfig {
  static constexpr int D = D_, WARPS = WARPS_, BQT = BQT_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = WARPS * 32, BKV = WARPS * 16, LD = D + 8;
  static constexpr int KV_ELEMS = BKV * LD, QT_ELEMS = BQT * LD;
  // K, V, Q[2], dO[2] (bf16), then lse2[2][BQT], delta[2][BQT] (f32).
  static constexpr size_t SMEM = size_t(2 * KV_ELEMS + 4 * QT_ELEMS) * 2 + size_t(4 * BQT) * 4;
  static_assert(D == 64 || D == 128, "head dim 64 or 128");
  static_assert(BQT % 16 == 0, "whole k16 steps of P^T dO");
};

constexpr int kDeltaThreads = 256;  // delta kernel: one warp per row

// ---- index helpers ----

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// Tiles of `tile` keys that query rows [q0, q0 + rows) visit: all, or with a causal mask those up
// to the last row's last visible key Tk - Tq + (last row).
__device__ __forceinline__ int key_tiles(const Shape& s, int q0, int rows, int tile) {
  int keys = s.Tk;
  if (s.causal) keys = imin(keys, s.Tk - s.Tq + imin(q0 + rows, s.Tq));
  return keys > 0 ? (keys + tile - 1) / tile : 0;
}

// With a causal mask the last query tiles have the most keys: they go first.
__device__ __forceinline__ int query_tile(const Shape& s) {
  return s.causal ? int(gridDim.x) - 1 - int(blockIdx.x) : int(blockIdx.x);
}

// A row's lse in the log2 domain; a row with no visible key (lse = -inf) or past Tq gets +inf,
// which makes every exp2(score - lse2) of it 0.
__device__ __forceinline__ float lse_log2(float lse) { return lse == -INFINITY ? INFINITY : lse * kLog2e; }

// ---- shared-memory tiles and fragments ----

// cp.async rows [first, first + ROWS) of a [T][D] matrix (row stride ld elements, a multiple of 8)
// into a [ROWS][D + 8] shared tile, 16 bytes per copy, consecutive threads along a row (coalesced);
// rows past T are zero-filled (the source then is the matrix base, a valid address that is not read).
template <int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile(uint16_t* dst, const uint16_t* src, int first, int T, int tid,
                                          int64_t ld = D) {
  constexpr int CPR = D / 8, CHUNKS = ROWS * CPR;
  static_assert(CHUNKS % THREADS == 0, "whole chunks per thread");
#pragma unroll
  for (int n = 0; n < CHUNKS / THREADS; ++n) {
    const int id = tid + n * THREADS, r = id / CPR, c = (id % CPR) * 8;
    const bool ok = first + r < T;
    cp_async_16(smem_u32(dst + r * (D + 8) + c), ok ? src + (int64_t(first + r) * ld + c) : src, ok);
  }
}

// A fragment (rows row0..row0+15, k k0..k0+15) of a row-major tile [rows][ld]. Matrix i = lane / 8
// covers rows +8 (i odd) and k +8 (i >= 2): a0..a3 in order.
__device__ __forceinline__ void ldsm_a(uint32_t (&a)[4], const uint16_t* tile, int ld, int row0, int k0, int lane) {
  const uint16_t* p = tile + (row0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8;
  ldmatrix_x4(a[0], a[1], a[2], a[3], smem_u32(p));
}

// B fragments of two n8 tiles (n0.., n0+8..) over k k0..k0+15, from a tile stored [n][k] (the K of
// Q K^T). Matrices: (n+0, k+0) = b0 of tile 0, (n+0, k+8) = b1 of tile 0, (n+8, k+0), (n+8, k+8).
__device__ __forceinline__ void ldsm_b_nk(uint32_t (&b0)[2], uint32_t (&b1)[2], const uint16_t* tile, int ld, int n0,
                                          int k0, int lane) {
  const int i = lane >> 3;
  const uint16_t* p = tile + (n0 + (i >> 1) * 8 + (lane & 7)) * ld + k0 + (i & 1) * 8;
  ldmatrix_x4(b0[0], b0[1], b1[0], b1[1], smem_u32(p));
}

// The same from a tile stored [k][n] (the V of P V), transposed by ldmatrix.trans. Matrices:
// (k+0, n+0) = b0 of tile 0, (k+8, n+0) = b1 of tile 0, (k+0, n+8), (k+8, n+8).
__device__ __forceinline__ void ldsm_b_kn(uint32_t (&b0)[2], uint32_t (&b1)[2], const uint16_t* tile, int ld, int k0,
                                          int n0, int lane) {
  const int i = lane >> 3;
  const uint16_t* p = tile + (k0 + (i & 1) * 8 + (lane & 7)) * ld + n0 + (i >> 1) * 8;
  ldmatrix_x4_trans(b0[0], b0[1], b1[0], b1[1], smem_u32(p));
}

// Two f32 C tiles (columns 16kk..16kk+7 and 16kk+8..16kk+15) -> the bf16 A fragment of k step kk.
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = attn::pack_bf16x2(c0[0], c0[1]);
  a[1] = attn::pack_bf16x2(c0[2], c0[3]);
  a[2] = attn::pack_bf16x2(c1[0], c1[1]);
  a[3] = attn::pack_bf16x2(c1[2], c1[3]);
}

// ---- warp tile products (16 rows per warp) ----

// acc [16 x 8NT] += A [16 x 16KS] . B^T, B stored [n][k] (8NT rows). A from registers.
template <int KS, int NT>
__device__ __forceinline__ void mma_regA_nk(float (&acc)[NT][4], const uint32_t (&a)[KS][4], const uint16_t* b_tile,
                                            int ld, int lane) {
  static_assert(NT % 2 == 0, "n8 tiles in pairs");
#pragma unroll
  for (int ks = 0; ks < KS; ++ks)
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t b0[2], b1[2];
      ldsm_b_nk(b0, b1, b_tile, ld, np * 16, ks * 16, lane);
      mma_bf16_16816(acc[2 * np], a[ks], b0);
      mma_bf16_16816(acc[2 * np + 1], a[ks], b1);
    }
}

// The same with A read from a shared tile (rows a_row0..a_row0+15).
template <int KS, int NT>
__device__ __forceinline__ void mma_smemA_nk(float (&acc)[NT][4], const uint16_t* a_tile, int a_row0,
                                             const uint16_t* b_tile, int ld, int lane) {
  static_assert(NT % 2 == 0, "n8 tiles in pairs");
#pragma unroll
  for (int ks = 0; ks < KS; ++ks) {
    uint32_t a[4];
    ldsm_a(a, a_tile, ld, a_row0, ks * 16, lane);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t b0[2], b1[2];
      ldsm_b_nk(b0, b1, b_tile, ld, np * 16, ks * 16, lane);
      mma_bf16_16816(acc[2 * np], a, b0);
      mma_bf16_16816(acc[2 * np + 1], a, b1);
    }
  }
}

// acc [16 x 8NT] += C [16 x 8NC] . B, the left operand the f32 C tiles of an earlier product
// (rounded to bf16), B stored [k][n] (8NC rows).
template <int NC, int NT>
__device__ __forceinline__ void mma_regC_kn(float (&acc)[NT][4], const float (&c)[NC][4], const uint16_t* b_tile,
                                            int ld, int lane) {
  static_assert(NC % 2 == 0 && NT % 2 == 0, "n8 tiles in pairs");
#pragma unroll
  for (int kk = 0; kk < NC / 2; ++kk) {
    uint32_t a[4];
    c_to_a(a, c[2 * kk], c[2 * kk + 1]);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t b0[2], b1[2];
      ldsm_b_kn(b0, b1, b_tile, ld, kk * 16, np * 16, lane);
      mma_bf16_16816(acc[2 * np], a, b0);
      mma_bf16_16816(acc[2 * np + 1], a, b1);
    }
  }
}

template <int NT>
__device__ __forceinline__ void zero(float (&acc)[NT][4]) {
#pragma unroll
  for (int n = 0; n < NT; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
}

// ---- forward ----
template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) flash_fwd_kernel(const FwdParams p) {
  constexpr int D = Cfg::D, BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, THREADS = Cfg::THREADS;
  constexpr int KS = D / 16, NT_S = BK / 8, NT_O = D / 8;
  const Shape& s = p.s;
  uint16_t* const Qs = attn::dynamic_smem<uint16_t>();  // [BQ][LD]
  uint16_t* const Ks0 = Qs + Cfg::Q_ELEMS;              // [2][BK][LD]
  uint16_t* const Vs0 = Ks0 + 2 * Cfg::KV_ELEMS;        // [2][BK][LD]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int q0 = query_tile(s) * BQ, h = blockIdx.y, b = blockIdx.z, hk = h / (s.H / s.Hkv);
  const int64_t bh = int64_t(b) * s.H + h;
  const uint16_t* qh = p.q + b * p.qs.b + h * p.qs.h;
  const uint16_t* kh = p.k + b * p.ks.b + hk * p.ks.h;
  const uint16_t* vh = p.v + b * p.vs.b + hk * p.vs.h;
  const int wrow0 = q0 + warp * 16;  // this warp's first query row
  const int diag = s.Tk - s.Tq;      // query i sees keys <= diag + i (causal)
  const float sl2 = s.scale * kLog2e;
  const int n_kt = key_tiles(s, q0, BQ, BK);

  load_tile<BQ, D, THREADS>(Qs, qh, q0, s.Tq, tid, p.qs.t);
  if (n_kt > 0) {
    load_tile<BK, D, THREADS>(Ks0, kh, 0, s.Tk, tid, p.ks.t);
    load_tile<BK, D, THREADS>(Vs0, vh, 0, s.Tk, tid, p.vs.t);
  }
  cp_async_commit();

  // Rows g (hf = 0) and g + 8 (hf = 1) of the warp's 16: running max m (log2 domain), this
  // thread's part of the sum l (the 4 threads of a row are summed at the end), output o.
  float o[NT_O][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  zero(o);
  uint32_t qf[KS][4];

  for (int kt = 0; kt < n_kt; ++kt) {
    const int stage = kt & 1, k0 = kt * BK;
    if (kt + 1 < n_kt) {
      load_tile<BK, D, THREADS>(Ks0 + (stage ^ 1) * Cfg::KV_ELEMS, kh, k0 + BK, s.Tk, tid, p.ks.t);
      load_tile<BK, D, THREADS>(Vs0 + (stage ^ 1) * Cfg::KV_ELEMS, vh, k0 + BK, s.Tk, tid, p.vs.t);
    }
    cp_async_commit();
    cp_async_wait<1>();  // this thread's copies of tile kt (and Q) have landed ...
    __syncthreads();     // ... and everyone's
    if (kt == 0) {
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) ldsm_a(qf[ks], Qs, LD, warp * 16, ks * 16, lane);
    }
    const uint16_t* Ks = Ks0 + stage * Cfg::KV_ELEMS;
    const uint16_t* Vs = Vs0 + stage * Cfg::KV_ELEMS;

    if (!s.causal || k0 <= diag + wrow0 + 15) {  // some row of this warp sees a key of the tile
      float sc[NT_S][4];
      zero(sc);
      mma_regA_nk<KS, NT_S>(sc, qf, Ks, LD, lane);  // S = Q K^T
      const bool mask = k0 + BK > s.Tk || (s.causal && k0 + BK - 1 > diag + wrow0);
#pragma unroll
      for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = sc[nt][e] * sl2;
          if (mask) {
            const int key = k0 + nt * 8 + 2 * t + (e & 1), row = wrow0 + g + 8 * (e >> 1);
            if (key >= s.Tk || (s.causal && key > diag + row)) x = -INFINITY;
          }
          sc[nt][e] = x;
        }
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt) mx = fmaxf(mx, fmaxf(sc[nt][2 * hf], sc[nt][2 * hf + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, 1));  // the 4 threads of a row: lanes 4g..4g+3
        mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, 2));
        const float m_new = fmaxf(m[hf], mx);
        // While a row has seen no key m stays -inf; subtracting 0 keeps its p at exp2(-inf) = 0.
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        const float alpha = exp2f(m[hf] - m_use);  // rescales the old state; 0 when m was -inf
        m[hf] = m_new;
        l[hf] *= alpha;
#pragma unroll
        for (int nt = 0; nt < NT_O; ++nt) {
          o[nt][2 * hf] *= alpha;
          o[nt][2 * hf + 1] *= alpha;
        }
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt) {
          sc[nt][2 * hf] = exp2f(sc[nt][2 * hf] - m_use);
          sc[nt][2 * hf + 1] = exp2f(sc[nt][2 * hf + 1] - m_use);
          l[hf] += sc[nt][2 * hf] + sc[nt][2 * hf + 1];
        }
      }
      mma_regC_kn<NT_S, NT_O>(o, sc, Vs, LD, lane);  // O += P V
    }
    __syncthreads();  // everyone is done with this stage before iteration kt + 1 refills it
  }
  cp_async_wait<0>();  // nothing in flight at exit (Q alone when there is no key tile)

#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    float lt = l[hf];
    lt += __shfl_xor_sync(kFull, lt, 1);
    lt += __shfl_xor_sync(kFull, lt, 2);
    const int row = wrow0 + g + 8 * hf;
    if (row < s.Tq) {
      const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;  // no visible key: zeros
      uint16_t* orow = p.out + b * p.os.b + h * p.os.h + row * p.os.t;
#pragma unroll
      for (int nt = 0; nt < NT_O; ++nt)
        *reinterpret_cast<uint32_t*>(orow + nt * 8 + 2 * t) =
            attn::pack_bf16x2(o[nt][2 * hf] * inv, o[nt][2 * hf + 1] * inv);
      if (t == 0) p.lse[bh * s.Tq + row] = lt > 0.0f ? (m[hf] + log2f(lt)) * kLn2 : -INFINITY;
    }
  }
}

// ---- backward: delta = rowsum(dout * out), one warp per row ----
template <int D>
__global__ void __launch_bounds__(kDeltaThreads) flash_bwd_delta_kernel(const BwdParams p) {
  const Shape& s = p.s;
  const int lane = threadIdx.x & 31;
  const int64_t rows = int64_t(s.B) * s.H * s.Tq;
  const int64_t row = int64_t(blockIdx.x) * (kDeltaThreads / 32) + (threadIdx.x >> 5);
  if (row >= rows) return;  // whole warps only
  const uint32_t* o2 = reinterpret_cast<const uint32_t*>(p.out + row * D);
  const uint32_t* d2 = reinterpret_cast<const uint32_t*>(p.dout + row * D);
  float acc = 0.0f;
#pragma unroll
  for (int i = lane; i < D / 2; i += 32) {
    const uint32_t a = o2[i], c = d2[i];
    acc = fmaf(attn::bf16_lo(a), attn::bf16_lo(c), acc);
    acc = fmaf(attn::bf16_hi(a), attn::bf16_hi(c), acc);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(kFull, acc, off);
  if (lane == 0) p.delta[row] = acc;
}

// ---- backward: dq, one block per BQ query rows ----
template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) flash_bwd_dq_kernel(const BwdParams p) {
  constexpr int D = Cfg::D, BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, THREADS = Cfg::THREADS;
  constexpr int KS = D / 16, NT_S = BK / 8, NT_D = D / 8;
  const Shape& s = p.s;
  uint16_t* const Qs = attn::dynamic_smem<uint16_t>();  // [BQ][LD]
  uint16_t* const dOs = Qs + Cfg::Q_ELEMS;              // [BQ][LD]
  uint16_t* const Ks0 = dOs + Cfg::Q_ELEMS;             // [2][BK][LD]
  uint16_t* const Vs0 = Ks0 + 2 * Cfg::KV_ELEMS;        // [2][BK][LD]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int q0 = query_tile(s) * BQ, h = blockIdx.y, b = blockIdx.z, hk = h / (s.H / s.Hkv);
  const int64_t bh = int64_t(b) * s.H + h, bhk = int64_t(b) * s.Hkv + hk;
  const uint16_t* kh = p.k + bhk * s.Tk * D;
  const uint16_t* vh = p.v + bhk * s.Tk * D;
  const int wrow0 = q0 + warp * 16, diag = s.Tk - s.Tq;
  const float sl2 = s.scale * kLog2e;
  const int n_kt = key_tiles(s, q0, BQ, BK);

  load_tile<BQ, D, THREADS>(Qs, p.q + bh * s.Tq * D, q0, s.Tq, tid);
  load_tile<BQ, D, THREADS>(dOs, p.dout + bh * s.Tq * D, q0, s.Tq, tid);
  if (n_kt > 0) {
    load_tile<BK, D, THREADS>(Ks0, kh, 0, s.Tk, tid);
    load_tile<BK, D, THREADS>(Vs0, vh, 0, s.Tk, tid);
  }
  cp_async_commit();

  float lse2[2], delta[2];  // rows g, g + 8 of the warp
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int row = wrow0 + g + 8 * hf;
    lse2[hf] = row < s.Tq ? lse_log2(p.lse[bh * s.Tq + row]) : INFINITY;
    delta[hf] = row < s.Tq ? p.delta[bh * s.Tq + row] : 0.0f;
  }
  float dq[NT_D][4];
  zero(dq);

  for (int kt = 0; kt < n_kt; ++kt) {
    const int stage = kt & 1, k0 = kt * BK;
    if (kt + 1 < n_kt) {
      load_tile<BK, D, THREADS>(Ks0 + (stage ^ 1) * Cfg::KV_ELEMS, kh, k0 + BK, s.Tk, tid);
      load_tile<BK, D, THREADS>(Vs0 + (stage ^ 1) * Cfg::KV_ELEMS, vh, k0 + BK, s.Tk, tid);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const uint16_t* Ks = Ks0 + stage * Cfg::KV_ELEMS;
    const uint16_t* Vs = Vs0 + stage * Cfg::KV_ELEMS;

    if (!s.causal || k0 <= diag + wrow0 + 15) {
      float sc[NT_S][4], dp[NT_S][4];
      zero(sc);
      zero(dp);
      mma_smemA_nk<KS, NT_S>(sc, Qs, warp * 16, Ks, LD, lane);   // S = Q K^T
      mma_smemA_nk<KS, NT_S>(dp, dOs, warp * 16, Vs, LD, lane);  // dP = dO V^T
      const bool mask = k0 + BK > s.Tk || (s.causal && k0 + BK - 1 > diag + wrow0);
#pragma unroll
      for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int hf = e >> 1;
          float pv = exp2f(sc[nt][e] * sl2 - lse2[hf]);
          if (mask) {
            const int key = k0 + nt * 8 + 2 * t + (e & 1), row = wrow0 + g + 8 * hf;
            if (key >= s.Tk || (s.causal && key > diag + row)) pv = 0.0f;
          }
          sc[nt][e] = pv * (dp[nt][e] - delta[hf]);  // dS
        }
      mma_regC_kn<NT_S, NT_D>(dq, sc, Ks, LD, lane);  // dQ += dS K
    }
    __syncthreads();
  }
  cp_async_wait<0>();

#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int row = wrow0 + g + 8 * hf;
    if (row >= s.Tq) continue;
    uint16_t* drow = p.dq + (bh * s.Tq + row) * D;
#pragma unroll
    for (int nt = 0; nt < NT_D; ++nt)
      *reinterpret_cast<uint32_t*>(drow + nt * 8 + 2 * t) =
          attn::pack_bf16x2(dq[nt][2 * hf] * s.scale, dq[nt][2 * hf + 1] * s.scale);
  }
}

// ---- backward: dk and dv, one block per BKV keys of one key head ----
template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) flash_bwd_dkdv_kernel(const BwdParams p) {
  constexpr int D = Cfg::D, BQT = Cfg::BQT, BKV = Cfg::BKV, LD = Cfg::LD, THREADS = Cfg::THREADS;
  constexpr int KS = D / 16, NT_Q = BQT / 8, NT_D = D / 8;
  const Shape& s = p.s;
  uint16_t* const Ks = attn::dynamic_smem<uint16_t>();                     // [BKV][LD]
  uint16_t* const Vs = Ks + Cfg::KV_ELEMS;                                 // [BKV][LD]
  uint16_t* const Qs0 = Vs + Cfg::KV_ELEMS;                                // [2][BQT][LD]
  uint16_t* const dOs0 = Qs0 + 2 * Cfg::QT_ELEMS;                          // [2][BQT][LD]
  float* const lse0 = reinterpret_cast<float*>(dOs0 + 2 * Cfg::QT_ELEMS);  // [2][BQT] (log2 domain)
  float* const delta0 = lse0 + 2 * BQT;                                    // [2][BQT]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int k0 = blockIdx.x * BKV, hk = blockIdx.y, b = blockIdx.z, group = s.H / s.Hkv;
  const int64_t bhk = int64_t(b) * s.Hkv + hk;
  const int kw0 = k0 + warp * 16, diag = s.Tk - s.Tq;  // this warp's first key
  const float sl2 = s.scale * kLog2e;

  // Iterations: (query head hh of the group, query tile qt), qt from the first tile that can
  // see key k0 (causal: query i sees k0 once diag + i >= k0).
  const int n_qt = (s.Tq + BQT - 1) / BQT;
  const int qt_begin = s.causal ? imin(n_qt, imax(0, k0 - diag) / BQT) : 0;
  const int n_range = n_qt - qt_begin, n_it = group * n_range;

  // Stages Q, dO tiles and the rows' lse2 and delta of iteration `it` into `stage`.
  auto issue = [&](int it, int stage) {
    const int hh = it / n_range, q0 = (qt_begin + it % n_range) * BQT;
    const int64_t bh = int64_t(b) * s.H + int64_t(hk) * group + hh;
    load_tile<BQT, D, THREADS>(Qs0 + stage * Cfg::QT_ELEMS, p.q + bh * s.Tq * D, q0, s.Tq, tid);
    load_tile<BQT, D, THREADS>(dOs0 + stage * Cfg::QT_ELEMS, p.dout + bh * s.Tq * D, q0, s.Tq, tid);
    for (int i = tid; i < BQT; i += THREADS) {
      const int row = q0 + i;
      lse0[stage * BQT + i] = row < s.Tq ? lse_log2(p.lse[bh * s.Tq + row]) : INFINITY;
      delta0[stage * BQT + i] = row < s.Tq ? p.delta[bh * s.Tq + row] : 0.0f;
    }
  };

  load_tile<BKV, D, THREADS>(Ks, p.k + bhk * s.Tk * D, k0, s.Tk, tid);
  load_tile<BKV, D, THREADS>(Vs, p.v + bhk * s.Tk * D, k0, s.Tk, tid);
  if (n_it > 0) issue(0, 0);
  cp_async_commit();

  float dk[NT_D][4], dv[NT_D][4];
  zero(dk);
  zero(dv);

  for (int it = 0; it < n_it; ++it) {
    const int stage = it & 1;
    if (it + 1 < n_it) issue(it + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();  // K, V, this stage's Q, dO (cp.async) and lse2, delta (plain stores) visible
    const int q0 = (qt_begin + it % n_range) * BQT;
    const uint16_t* Qs = Qs0 + stage * Cfg::QT_ELEMS;
    const uint16_t* dOs = dOs0 + stage * Cfg::QT_ELEMS;
    const float* lse2 = lse0 + stage * BQT;
    const float* delta = delta0 + stage * BQT;

    if (!s.causal || kw0 <= diag + q0 + BQT - 1) {  // some key of this warp is seen by the tile
      float st[NT_Q][4], dpt[NT_Q][4];              // rows: keys kw0 + g (+8); columns: queries
      zero(st);
      zero(dpt);
      mma_smemA_nk<KS, NT_Q>(st, Ks, warp * 16, Qs, LD, lane);    // S^T = K Q^T
      mma_smemA_nk<KS, NT_Q>(dpt, Vs, warp * 16, dOs, LD, lane);  // dP^T = V dO^T
      const bool mask = kw0 + 16 > s.Tk || (s.causal && kw0 + 15 > diag + q0);
#pragma unroll
      for (int nt = 0; nt < NT_Q; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = nt * 8 + 2 * t + (e & 1);
          float pv = exp2f(st[nt][e] * sl2 - lse2[col]);
          if (mask) {
            const int key = kw0 + g + 8 * (e >> 1);
            if (key >= s.Tk || (s.causal && key > diag + q0 + col)) pv = 0.0f;
          }
          st[nt][e] = pv;                               // P^T
          dpt[nt][e] = pv * (dpt[nt][e] - delta[col]);  // dS^T
        }
      mma_regC_kn<NT_Q, NT_D>(dv, st, dOs, LD, lane);  // dV += P^T dO
      mma_regC_kn<NT_Q, NT_D>(dk, dpt, Qs, LD, lane);  // dK += dS^T Q
    }
    __syncthreads();  // everyone is done with this stage before iteration it + 1 refills it
  }
  cp_async_wait<0>();

#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int key = kw0 + g + 8 * hf;
    if (key >= s.Tk) continue;
    uint16_t* krow = p.dk + (bhk * s.Tk + key) * D;
    uint16_t* vrow = p.dv + (bhk * s.Tk + key) * D;
#pragma unroll
    for (int nt = 0; nt < NT_D; ++nt) {
      *reinterpret_cast<uint32_t*>(krow + nt * 8 + 2 * t) =
          attn::pack_bf16x2(dk[nt][2 * hf] * s.scale, dk[nt][2 * hf + 1] * s.scale);
      *reinterpret_cast<uint32_t*>(vrow + nt * 8 + 2 * t) = attn::pack_bf16x2(dv[nt][2 * hf], dv[nt][2 * hf + 1]);
    }
  }
}

// ---- launch geometry (host) ----
struct Launch {
  dim3 grid, block;
  size_t smem;
};
inline unsigned ceil_div(int64_t n, int64_t d) { return unsigned((n + d - 1) / d); }

template <class Cfg>
Launch fwd_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tq, Cfg::BQ), unsigned(s.H), unsigned(s.B)), dim3(Cfg::THREADS), Cfg::SMEM};
}
inline Launch delta_launch(const Shape& s) {
  return {dim3(ceil_div(int64_t(s.B) * s.H * s.Tq, kDeltaThreads / 32)), dim3(kDeltaThreads), 0};
}
template <class Cfg>
Launch dq_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tq, Cfg::BQ), unsigned(s.H), unsigned(s.B)), dim3(Cfg::THREADS), Cfg::SMEM};
}
template <class Cfg>
Launch dkdv_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tk, Cfg::BKV), unsigned(s.Hkv), unsigned(s.B)), dim3(Cfg::THREADS), Cfg::SMEM};
}

}  // namespace rscapret::kernels::cuda::flash
