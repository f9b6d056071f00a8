// The f32 attention kernels (internal to attention.cu and the kernel lab): a flash-style forward
// (online softmax over tiles of keys; the [Tq, Tk] score matrix never exists in memory) and a
// deterministic backward in two kernels (dq per query tile, dk/dv per key tile; no atomics), for
// head dims D, Dv up to 256. Semantics as kernels::ref::attention: GQA (query head h reads key
// head h / (H / Hkv)), causal query i at position Tk - Tq + i, key_keep [B, Tk] padding mask, and
// a query that sees no key gets zeros and lse = -inf.
//
// Layout shared by the three kernels (128 threads = 4 warps, tiles of 32 rows):
// - row tiles (Q, K, V, dO) are staged in shared memory as [32][LD] f32 with LD = DMAX + 4, the
//   columns [D, round4(D)) zero, so dot products run over whole float4s. LD / 4 is odd: the 8
//   threads of a quarter warp that read float4s of 8 consecutive rows at one column hit 8
//   distinct 16-byte bank groups (conflict-free).
// - thread (rg, cg) = (tid / 16, tid % 16) owns the tile rows rg + 8i and
//     in a score tile [rows][32]:  columns cg + 16j, j < 2;
//     in an output tile [rows][DMAX]: dims cg + 16c, c < DMAX / 16 (accumulators in registers).
//   The 16 threads of one row form one half of one warp, so row reductions are half-warp
//   shuffles, and a row of P (or dS) written to shared memory is read back only by the warp that
//   wrote it: __syncwarp, no block barrier.
// - every global load is bounds-checked and rows past the end are zero-filled (a NaN from an
//   unwritten shared row would survive multiplication by p = 0).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/attention_device.cuh"

namespace rscapret::kernels::cuda::attn_f32 {

struct Shape {
  int B, H, Hkv, Tq, Tk, D, Dv;
  float scale;
  bool causal;
};

struct FwdParams {
  const float* q;        // [B, H, Tq, D]
  const float* k;        // [B, Hkv, Tk, D]
  const float* v;        // [B, Hkv, Tk, Dv]
  const bool* key_keep;  // [B, Tk] or null
  float* out;            // [B, H, Tq, Dv]
  float* lse;            // [B, H, Tq]
  Shape s;
  int64_t kv_rows;       // rows of k and v per (b, hk), >= Tk (a KV cache's capacity)
};

struct BwdParams {
  const float* q;
  const float* k;
  const float* v;
  const bool* key_keep;
  const float* out;   // the forward's output and lse
  const float* dout;  // [B, H, Tq, Dv]
  const float* lse;
  float* dq;  // like q
  float* dk;  // like k
  float* dv;  // like v
  Shape s;
};

constexpr int kThreads = 128;
// Blocks per SM the register allocation must allow: caps registers at 170 per thread. Left to
// itself ptxas picked 72 to 96 registers for some instances and spilled.
constexpr int kMinBlocks = 3;
constexpr int kTile = 32;        // query rows per tile (all kernels), keys per tile (forward, dq)
constexpr int kSLD = kTile + 4;  // row stride of score tiles [rows][32] (float4-aligned rows)
constexpr int kRI = kTile / 8;   // rows of a 32-row tile per thread
constexpr int kCJ = kTile / 16;  // score columns per thread

// Tile geometry for head dims up to DMAX.
template <int DMAX>
struct Geom {
  static_assert(DMAX % 16 == 0 && DMAX <= 256, "DMAX: 64, 128 or 256");
  static constexpr int LD = DMAX + 4;   // row stride of row tiles; LD / 4 odd (see above)
  static constexpr int CC = DMAX / 16;  // output dims per thread
  // dk/dv kernel: keys per block, so that the dk and dv accumulators (2 * KEYS * DMAX / 128 per
  // thread) stay at 64 registers.
  static constexpr int KEYS = DMAX > 128 ? 16 : 32;
  static constexpr size_t FWD_SMEM = size_t(3 * kTile * LD + kTile * kSLD) * 4;  // Q, K, V, P
  static constexpr size_t DQ_SMEM = size_t(4 * kTile * LD + kTile * kSLD) * 4;   // Q, dO, K, V, dS
  static constexpr size_t DKDV_SMEM =                                            // K, V, Q, dO, P^T, dS^T, lse, delta
      size_t(2 * KEYS * LD + 2 * kTile * LD + 2 * KEYS * kSLD + 2 * kTile) * 4;
};

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }
__device__ __forceinline__ int round4(int n) { return (n + 3) & ~3; }

// Whether query row `row` (0-based in Tq) sees key `key`; keep is this batch row's mask or null.
__device__ __forceinline__ bool visible(const Shape& s, const bool* keep, int key, int row) {
  return key < s.Tk && (!keep || keep[key]) && (!s.causal || key <= s.Tk - s.Tq + row);
}

// Tiles of `tile` keys that query rows [q0, q0 + rows) must visit: all, or with a causal mask
// those up to the last row's last visible key, Tk - Tq + (last row).
__device__ __forceinline__ int key_tiles(const Shape& s, int q0, int rows, int tile) {
  int keys = s.Tk;
  if (s.causal) keys = imin(keys, s.Tk - s.Tq + imin(q0 + rows, s.Tq));
  return keys > 0 ? (keys + tile - 1) / tile : 0;
}

// The query tile of this block: with a causal mask the last tiles have the most keys to visit,
// so they go first (the grid runs blockIdx.x in increasing order).
__device__ __forceinline__ int query_tile(const Shape& s) {
  return s.causal ? int(gridDim.x) - 1 - int(blockIdx.x) : int(blockIdx.x);
}

__device__ __forceinline__ float half_warp_max(float x) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float half_warp_sum(float x) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// dst [rows][ld] <- rows first .. first + rows - 1 of src [T][n], columns [0, npad); columns
// [n, npad) and rows past T are zero. Warp-strided rows, lane-strided columns (coalesced).
__device__ __forceinline__ void load_rows(float* dst, int ld, const float* src, int first, int rows, int T, int n,
                                          int npad) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int r = warp; r < rows; r += kThreads / 32) {
    const bool ok = first + r < T;
    const float* row = ok ? src + int64_t(first + r) * n : src;
    for (int c = lane; c < npad; c += 32) dst[r * ld + c] = (ok && c < n) ? row[c] : 0.0f;
  }
}

// acc[i][j] = sum_{d < npad} A[rg + 8i][d] * Bm[cg + 16j][d]; A, Bm row tiles of stride ld,
// npad a multiple of 4.
template <int RI, int CJ>
__device__ __forceinline__ void tile_dots(float (&acc)[RI][CJ], const float* A, const float* Bm, int ld, int npad,
                                          int rg, int cg) {
#pragma unroll
  for (int i = 0; i < RI; ++i)
#pragma unroll
    for (int j = 0; j < CJ; ++j) acc[i][j] = 0.0f;
  for (int d = 0; d < npad; d += 4) {
    float4 a[RI], b[CJ];
#pragma unroll
    for (int i = 0; i < RI; ++i) a[i] = *reinterpret_cast<const float4*>(A + (rg + 8 * i) * ld + d);
#pragma unroll
    for (int j = 0; j < CJ; ++j) b[j] = *reinterpret_cast<const float4*>(Bm + (cg + 16 * j) * ld + d);
#pragma unroll
    for (int i = 0; i < RI; ++i)
#pragma unroll
      for (int j = 0; j < CJ; ++j) {
        float x = acc[i][j];
        x = fmaf(a[i].x, b[j].x, x);
        x = fmaf(a[i].y, b[j].y, x);
        x = fmaf(a[i].z, b[j].z, x);
        x = fmaf(a[i].w, b[j].w, x);
        acc[i][j] = x;
      }
  }
}

// acc[i][c] += sum_{k < NK} P[rg + 8i][k] * V[k][cg + 16c]; P a score tile of stride pld, V a row
// tile of stride ld. Columns of V past the loaded dims hold garbage that lands only in
// accumulators that are never stored.
template <int NK, int RI, int CC>
__device__ __forceinline__ void tile_pv(float (&acc)[RI][CC], const float* P, int pld, const float* V, int ld, int rg,
                                        int cg) {
  static_assert(NK % 4 == 0, "whole float4s of P");
#pragma unroll 2
  for (int k = 0; k < NK; k += 4) {
    float4 p4[RI];
#pragma unroll
    for (int i = 0; i < RI; ++i) p4[i] = *reinterpret_cast<const float4*>(P + (rg + 8 * i) * pld + k);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
#pragma unroll
      for (int c = 0; c < CC; ++c) {
        const float vv = V[(k + u) * ld + cg + 16 * c];
#pragma unroll
        for (int i = 0; i < RI; ++i) {
          const float pu = u == 0 ? p4[i].x : u == 1 ? p4[i].y : u == 2 ? p4[i].z : p4[i].w;
          acc[i][c] = fmaf(pu, vv, acc[i][c]);
        }
      }
    }
  }
}

// ---- forward: one block per (32-row query tile, head, batch row) ----
template <int DMAX>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attention_fwd_kernel(const FwdParams p) {
  constexpr int LD = Geom<DMAX>::LD, CC = Geom<DMAX>::CC;
  const Shape& s = p.s;
  float* const Qs = attn::dynamic_smem<float>();  // [kTile][LD]
  float* const Ks = Qs + kTile * LD;              // [kTile][LD]
  float* const Vs = Ks + kTile * LD;              // [kTile][LD]
  float* const Ps = Vs + kTile * LD;              // [kTile][kSLD]
  wait_for_predecessor();  // launched as a programmatic dependent: q, k, v are earlier work
  allow_dependents();

  const int tid = threadIdx.x, rg = tid / 16, cg = tid % 16;
  const int q0 = query_tile(s) * kTile, h = blockIdx.y, b = blockIdx.z, hk = h / (s.H / s.Hkv);
  const int64_t bh = int64_t(b) * s.H + h, bhk = int64_t(b) * s.Hkv + hk;
  const float* qh = p.q + bh * s.Tq * s.D;
  const float* kh = p.k + bhk * p.kv_rows * s.D;
  const float* vh = p.v + bhk * p.kv_rows * s.Dv;
  const bool* keep = p.key_keep ? p.key_keep + int64_t(b) * s.Tk : nullptr;
  const int Dp = round4(s.D), Dvp = round4(s.Dv);

  load_rows(Qs, LD, qh, q0, kTile, s.Tq, s.D, Dp);
  // Running state of row rg + 8i: max m (of scaled scores), sum l of exp(score - m) (this
  // thread's columns only; the half-warp sum is taken at the end), unnormalised output o.
  float o[kRI][CC], m[kRI], l[kRI];
#pragma unroll
  for (int i = 0; i < kRI; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < CC; ++c) o[i][c] = 0.0f;
  }

  const int n_kt = key_tiles(s, q0, kTile, kTile);
  for (int kt = 0; kt < n_kt; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();  // every warp is done with the previous K, V (and P) tiles
    load_rows(Ks, LD, kh, k0, kTile, s.Tk, s.D, Dp);
    load_rows(Vs, LD, vh, k0, kTile, s.Tk, s.Dv, Dvp);
    __syncthreads();  // Q, K, V staged

    float sc[kRI][kCJ];
    tile_dots(sc, Qs, Ks, LD, Dp, rg, cg);
#pragma unroll
    for (int i = 0; i < kRI; ++i) {
      const int row = q0 + rg + 8 * i;
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < kCJ; ++j) {
        sc[i][j] = visible(s, keep, k0 + cg + 16 * j, row) ? sc[i][j] * s.scale : -INFINITY;
        mx = fmaxf(mx, sc[i][j]);
      }
      mx = half_warp_max(mx);
      const float m_new = fmaxf(m[i], mx);
      // While no key has been seen m stays -inf; subtracting 0 keeps every exp at exp(-inf) = 0.
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = expf(m[i] - m_use);  // rescales the old state; 0 when m was -inf
      m[i] = m_new;
      l[i] *= alpha;
#pragma unroll
      for (int c = 0; c < CC; ++c) o[i][c] *= alpha;
#pragma unroll
      for (int j = 0; j < kCJ; ++j) {
        const float pj = expf(sc[i][j] - m_use);
        l[i] += pj;
        Ps[(rg + 8 * i) * kSLD + cg + 16 * j] = pj;
      }
    }
    __syncwarp();  // this warp's P rows written
    tile_pv<kTile>(o, Ps, kSLD, Vs, LD, rg, cg);
  }

#pragma unroll
  for (int i = 0; i < kRI; ++i) {
    const float lt = half_warp_sum(l[i]);
    const int row = q0 + rg + 8 * i;
    if (row < s.Tq) {
      const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;  // no visible key: zeros
      float* orow = p.out + (bh * s.Tq + row) * s.Dv;
#pragma unroll
      for (int c = 0; c < CC; ++c) {
        const int d = cg + 16 * c;
        if (d < s.Dv) orow[d] = o[i][c] * inv;
      }
      if (cg == 0) p.lse[bh * s.Tq + row] = lt > 0.0f ? m[i] + logf(lt) : -INFINITY;
    }
  }
}

// ---- backward, dq: one block per (32-row query tile, head, batch row), looping over keys ----
//   p = exp(scale s - lse), dp = dout . v, ds = p (dp - delta), delta = rowsum(dout * out),
//   dq = scale * sum_j ds_j k_j.
template <int DMAX>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attention_bwd_dq_kernel(const BwdParams p) {
  constexpr int LD = Geom<DMAX>::LD, CC = Geom<DMAX>::CC;
  const Shape& s = p.s;
  float* const Qs = attn::dynamic_smem<float>();  // [kTile][LD]
  float* const dOs = Qs + kTile * LD;             // [kTile][LD]
  float* const Ks = dOs + kTile * LD;             // [kTile][LD]
  float* const Vs = Ks + kTile * LD;              // [kTile][LD]
  float* const DSs = Vs + kTile * LD;             // [kTile][kSLD]

  const int tid = threadIdx.x, rg = tid / 16, cg = tid % 16;
  const int q0 = query_tile(s) * kTile, h = blockIdx.y, b = blockIdx.z, hk = h / (s.H / s.Hkv);
  const int64_t bh = int64_t(b) * s.H + h, bhk = int64_t(b) * s.Hkv + hk;
  const float* qh = p.q + bh * s.Tq * s.D;
  const float* outh = p.out + bh * s.Tq * s.Dv;
  const float* doh = p.dout + bh * s.Tq * s.Dv;
  const float* kh = p.k + bhk * s.Tk * s.D;
  const float* vh = p.v + bhk * s.Tk * s.Dv;
  const bool* keep = p.key_keep ? p.key_keep + int64_t(b) * s.Tk : nullptr;
  const int Dp = round4(s.D), Dvp = round4(s.Dv);

  load_rows(Qs, LD, qh, q0, kTile, s.Tq, s.D, Dp);
  load_rows(dOs, LD, doh, q0, kTile, s.Tq, s.Dv, Dvp);
  __syncthreads();  // dO staged (rows are loaded by other warps)

  float lse_r[kRI], delta[kRI], acc[kRI][CC];
#pragma unroll
  for (int i = 0; i < kRI; ++i) {
    const int r = rg + 8 * i, row = q0 + r;
    float part = 0.0f;
    if (row < s.Tq)
      for (int d = cg; d < s.Dv; d += 16) part = fmaf(dOs[r * LD + d], outh[int64_t(row) * s.Dv + d], part);
    delta[i] = half_warp_sum(part);
    lse_r[i] = row < s.Tq ? p.lse[bh * s.Tq + row] : -INFINITY;  // -inf: the row contributes nothing
#pragma unroll
    for (int c = 0; c < CC; ++c) acc[i][c] = 0.0f;
  }

  const int n_kt = key_tiles(s, q0, kTile, kTile);
  for (int kt = 0; kt < n_kt; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();  // every warp is done with the previous K, V (and dS) tiles
    load_rows(Ks, LD, kh, k0, kTile, s.Tk, s.D, Dp);
    load_rows(Vs, LD, vh, k0, kTile, s.Tk, s.Dv, Dvp);
    __syncthreads();

    float sc[kRI][kCJ], dp[kRI][kCJ];
    tile_dots(sc, Qs, Ks, LD, Dp, rg, cg);
    tile_dots(dp, dOs, Vs, LD, Dvp, rg, cg);
#pragma unroll
    for (int i = 0; i < kRI; ++i) {
      const int row = q0 + rg + 8 * i;
#pragma unroll
      for (int j = 0; j < kCJ; ++j) {
        const bool vis = lse_r[i] != -INFINITY && visible(s, keep, k0 + cg + 16 * j, row);
        const float pij = vis ? expf(sc[i][j] * s.scale - lse_r[i]) : 0.0f;
        DSs[(rg + 8 * i) * kSLD + cg + 16 * j] = pij * (dp[i][j] - delta[i]);
      }
    }
    __syncwarp();  // this warp's dS rows written
    tile_pv<kTile>(acc, DSs, kSLD, Ks, LD, rg, cg);
  }

#pragma unroll
  for (int i = 0; i < kRI; ++i) {
    const int row = q0 + rg + 8 * i;
    if (row >= s.Tq) continue;
    float* dqrow = p.dq + (bh * s.Tq + row) * s.D;
#pragma unroll
    for (int c = 0; c < CC; ++c) {
      const int d = cg + 16 * c;
      if (d < s.D) dqrow[d] = acc[i][c] * s.scale;
    }
  }
}

// ---- backward, dk and dv: one block per (KEYS-key tile, key head, batch row), looping over the
// query tiles of every query head of the key head's group ----
//   dv_j = sum_i p_ij dout_i,  dk_j = scale * sum_i ds_ij q_i  (transposed tiles: rows are keys).
template <int DMAX>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attention_bwd_dkdv_kernel(const BwdParams p) {
  constexpr int LD = Geom<DMAX>::LD, CC = Geom<DMAX>::CC, KEYS = Geom<DMAX>::KEYS, RK = KEYS / 8;
  const Shape& s = p.s;
  float* const Ks = attn::dynamic_smem<float>();  // [KEYS][LD]
  float* const Vs = Ks + KEYS * LD;               // [KEYS][LD]
  float* const Qs = Vs + KEYS * LD;               // [kTile][LD]
  float* const dOs = Qs + kTile * LD;             // [kTile][LD]
  float* const PTs = dOs + kTile * LD;            // [KEYS][kSLD]  P^T
  float* const DSTs = PTs + KEYS * kSLD;          // [KEYS][kSLD]  dS^T
  float* const lses = DSTs + KEYS * kSLD;         // [kTile]
  float* const deltas = lses + kTile;             // [kTile]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, rg = tid / 16, cg = tid % 16;
  const int k0 = blockIdx.x * KEYS, hk = blockIdx.y, b = blockIdx.z, group = s.H / s.Hkv;
  const int64_t bhk = int64_t(b) * s.Hkv + hk;
  const bool* keep = p.key_keep ? p.key_keep + int64_t(b) * s.Tk : nullptr;
  const int Dp = round4(s.D), Dvp = round4(s.Dv);

  load_rows(Ks, LD, p.k + bhk * s.Tk * s.D, k0, KEYS, s.Tk, s.D, Dp);
  load_rows(Vs, LD, p.v + bhk * s.Tk * s.Dv, k0, KEYS, s.Tk, s.Dv, Dvp);

  float dk[RK][CC], dv[RK][CC];
#pragma unroll
  for (int i = 0; i < RK; ++i)
#pragma unroll
    for (int c = 0; c < CC; ++c) dk[i][c] = dv[i][c] = 0.0f;

  // With a causal mask query i sees key k0 only if Tk - Tq + i >= k0: earlier tiles are skipped.
  const int n_qt = (s.Tq + kTile - 1) / kTile;
  const int qt_begin = s.causal ? imax(0, k0 - (s.Tk - s.Tq)) / kTile : 0;
  for (int hh = 0; hh < group; ++hh) {
    const int64_t bh = int64_t(b) * s.H + int64_t(hk) * group + hh;
    const float* qh = p.q + bh * s.Tq * s.D;
    const float* outh = p.out + bh * s.Tq * s.Dv;
    const float* doh = p.dout + bh * s.Tq * s.Dv;
    const float* lseh = p.lse + bh * s.Tq;
    for (int qt = qt_begin; qt < n_qt; ++qt) {
      const int q0 = qt * kTile;
      __syncthreads();  // every warp is done with the previous Q, dO, P^T, dS^T, lse, delta
      load_rows(Qs, LD, qh, q0, kTile, s.Tq, s.D, Dp);
      load_rows(dOs, LD, doh, q0, kTile, s.Tq, s.Dv, Dvp);
      __syncthreads();  // dO staged for delta
      for (int r = warp; r < kTile; r += kThreads / 32) {
        const int row = q0 + r;
        float part = 0.0f;
        if (row < s.Tq)
          for (int d = lane; d < s.Dv; d += 32) part = fmaf(dOs[r * LD + d], outh[int64_t(row) * s.Dv + d], part);
        part = warp_sum(part);
        if (lane == 0) {
          deltas[r] = part;
          lses[r] = row < s.Tq ? lseh[row] : -INFINITY;
        }
      }
      __syncthreads();  // lse, delta staged

      float st[RK][kCJ], dpt[RK][kCJ];  // rows: keys rg + 8i; columns: queries cg + 16j
      tile_dots(st, Ks, Qs, LD, Dp, rg, cg);
      tile_dots(dpt, Vs, dOs, LD, Dvp, rg, cg);
#pragma unroll
      for (int i = 0; i < RK; ++i) {
        const int key = k0 + rg + 8 * i;
#pragma unroll
        for (int j = 0; j < kCJ; ++j) {
          const int r = cg + 16 * j;
          const float lse = lses[r];
          const bool vis = lse != -INFINITY && visible(s, keep, key, q0 + r);
          const float pij = vis ? expf(st[i][j] * s.scale - lse) : 0.0f;
          PTs[(rg + 8 * i) * kSLD + r] = pij;
          DSTs[(rg + 8 * i) * kSLD + r] = pij * (dpt[i][j] - deltas[r]);
        }
      }
      __syncwarp();  // this warp's P^T, dS^T rows written
      tile_pv<kTile>(dv, PTs, kSLD, dOs, LD, rg, cg);
      tile_pv<kTile>(dk, DSTs, kSLD, Qs, LD, rg, cg);
    }
  }

#pragma unroll
  for (int i = 0; i < RK; ++i) {
    const int key = k0 + rg + 8 * i;
    if (key >= s.Tk) continue;
    float* dkrow = p.dk + (bhk * s.Tk + key) * s.D;
    float* dvrow = p.dv + (bhk * s.Tk + key) * s.Dv;
#pragma unroll
    for (int c = 0; c < CC; ++c) {
      const int d = cg + 16 * c;
      if (d < s.D) dkrow[d] = dk[i][c] * s.scale;
      if (d < s.Dv) dvrow[d] = dv[i][c];
    }
  }
}

// ---- launch geometry (host) ----
struct Launch {
  dim3 grid, block;
  size_t smem;
};
inline unsigned ceil_div(int64_t n, int64_t d) { return unsigned((n + d - 1) / d); }

template <int DMAX>
Launch fwd_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tq, kTile), unsigned(s.H), unsigned(s.B)), dim3(kThreads), Geom<DMAX>::FWD_SMEM};
}
template <int DMAX>
Launch dq_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tq, kTile), unsigned(s.H), unsigned(s.B)), dim3(kThreads), Geom<DMAX>::DQ_SMEM};
}
template <int DMAX>
Launch dkdv_launch(const Shape& s) {
  return {dim3(ceil_div(s.Tk, Geom<DMAX>::KEYS), unsigned(s.Hkv), unsigned(s.B)), dim3(kThreads),
          Geom<DMAX>::DKDV_SMEM};
}

}  // namespace rscapret::kernels::cuda::attn_f32
