// The bf16 flash-attention backward's dq kernel with MT m16 tiles per warp (16 * MT query rows
// per warp): flash_bwd_dq_kernel (flash_attention_bf16_kernels.cuh, read its header first) with
// each K/V fragment read from shared memory feeding MT m-tiles, as flash_attention_bf16_fwd_mt.cuh
// does for the forward.
//
// Why: flash_bwd_dq_kernel reads per k16 step 1 A fragment (Q or dO) and NT_S / 2 B fragment
// pairs for NT_S mma in S = Q K^T and dP = dO V^T (1.6 mma per ldmatrix.x4 with 64-key tiles)
// and 2 mma per K fragment pair in dQ += dS K. With MT = 2 and 32-key tiles: 2 A + 2 B loads
// per 8 mma in S and dP (2 per load), 4 mma per load in dQ += dS K: ~30% fewer shared-memory
// bytes per FLOP. The 32-key tiles keep dq (128 f32 at D = 128, MT = 2), S and dP (32 each) in
// 255 registers.
#pragma once

#include "kernels/cuda/flash_attention_bf16_kernels.cuh"

namespace rscapret::kernels::cuda::flash {

// BQ = WARPS * 16 * MT query rows per block; warp w owns rows [16 MT w, 16 MT (w + 1)).
template <int D_, int WARPS_, int MT_, int BK_, int MIN_BLOCKS_>
struct DqMtConfig {
  static constexpr int D = D_, WARPS = WARPS_, MT = MT_, BK = BK_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = WARPS * 32, BQ = WARPS * 16 * MT, LD = D + 8;
  static constexpr int Q_ELEMS = BQ * LD, KV_ELEMS = BK * LD;
  static constexpr size_t SMEM = size_t(2 * Q_ELEMS + 4 * KV_ELEMS) * 2;  // Q, dO, K[2], V[2]
  static_assert(D == 64 || D == 128, "head dim 64 or 128");
  static_assert(BK % 16 == 0, "whole k16 steps of dS K");
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) flash_bwd_dq_mt_kernel(const BwdParams p) {
  constexpr int D = Cfg::D, BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, THREADS = Cfg::THREADS, MT = Cfg::MT;
  constexpr int KS = D / 16, NT_S = BK / 8, NT_D = D / 8, WROWS = 16 * MT;
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
  const int wq = warp * WROWS, wrow0 = q0 + wq, diag = s.Tk - s.Tq;
  const float sl2 = s.scale * kLog2e;
  const int n_kt = key_tiles(s, q0, BQ, BK);

  load_tile<BQ, D, THREADS>(Qs, p.q + bh * s.Tq * D, q0, s.Tq, tid);
  load_tile<BQ, D, THREADS>(dOs, p.dout + bh * s.Tq * D, q0, s.Tq, tid);
  if (n_kt > 0) {
    load_tile<BK, D, THREADS>(Ks0, kh, 0, s.Tk, tid);
    load_tile<BK, D, THREADS>(Vs0, vh, 0, s.Tk, tid);
  }
  cp_async_commit();

  float lse2[MT][2], delta[MT][2];  // rows g, g + 8 of each m-tile
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int row = wrow0 + 16 * mt + g + 8 * hf;
      lse2[mt][hf] = row < s.Tq ? lse_log2(p.lse[bh * s.Tq + row]) : INFINITY;
      delta[mt][hf] = row < s.Tq ? p.delta[bh * s.Tq + row] : 0.0f;
    }
  float dq[MT][NT_D][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) zero(dq[mt]);

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

    if (!s.causal || k0 <= diag + wrow0 + WROWS - 1) {
      float sc[MT][NT_S][4], dp[MT][NT_S][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        zero(sc[mt]);
        zero(dp[mt]);
      }
      // S = Q K^T and dP = dO V^T, each K / V fragment pair feeding the MT m-tiles.
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ldsm_a(a[mt], Qs, LD, wq + 16 * mt, ks * 16, lane);
#pragma unroll
        for (int np = 0; np < NT_S / 2; ++np) {
          uint32_t b0[2], b1[2];
          ldsm_b_nk(b0, b1, Ks, LD, np * 16, ks * 16, lane);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(sc[mt][2 * np], a[mt], b0);
            mma_bf16_16816(sc[mt][2 * np + 1], a[mt], b1);
          }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ldsm_a(a[mt], dOs, LD, wq + 16 * mt, ks * 16, lane);
#pragma unroll
        for (int np = 0; np < NT_S / 2; ++np) {
          uint32_t b0[2], b1[2];
          ldsm_b_nk(b0, b1, Vs, LD, np * 16, ks * 16, lane);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(dp[mt][2 * np], a[mt], b0);
            mma_bf16_16816(dp[mt][2 * np + 1], a[mt], b1);
          }
        }
      }
      const bool mask = k0 + BK > s.Tk || (s.causal && k0 + BK - 1 > diag + wrow0);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int hf = e >> 1;
            float pv = exp2f(sc[mt][nt][e] * sl2 - lse2[mt][hf]);
            if (mask) {
              const int key = k0 + nt * 8 + 2 * t + (e & 1), row = wrow0 + 16 * mt + g + 8 * hf;
              if (key >= s.Tk || (s.causal && key > diag + row)) pv = 0.0f;
            }
            sc[mt][nt][e] = pv * (dp[mt][nt][e] - delta[mt][hf]);  // dS
          }
      // dQ += dS K, each K fragment pair (read [k][n], transposed) feeding the MT m-tiles.
#pragma unroll
      for (int kk = 0; kk < NT_S / 2; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) c_to_a(a[mt], sc[mt][2 * kk], sc[mt][2 * kk + 1]);
#pragma unroll
        for (int np = 0; np < NT_D / 2; ++np) {
          uint32_t b0[2], b1[2];
          ldsm_b_kn(b0, b1, Ks, LD, kk * 16, np * 16, lane);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(dq[mt][2 * np], a[mt], b0);
            mma_bf16_16816(dq[mt][2 * np + 1], a[mt], b1);
          }
        }
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int row = wrow0 + 16 * mt + g + 8 * hf;
      if (row >= s.Tq) continue;
      uint16_t* drow = p.dq + (bh * s.Tq + row) * D;
#pragma unroll
      for (int nt = 0; nt < NT_D; ++nt)
        *reinterpret_cast<uint32_t*>(drow + nt * 8 + 2 * t) =
            attn::pack_bf16x2(dq[mt][nt][2 * hf] * s.scale, dq[mt][nt][2 * hf + 1] * s.scale);
    }
}

// The dq kernel of a tile configuration: dq_kernel(static_cast<Cfg*>(nullptr)).
template <int D, int W, int BK, int MB>
constexpr auto dq_kernel(DqConfig<D, W, BK, MB>*) {
  return &flash_bwd_dq_kernel<DqConfig<D, W, BK, MB>>;
}
template <int D, int W, int MT, int BK, int MB>
constexpr auto dq_kernel(DqMtConfig<D, W, MT, BK, MB>*) {
  return &flash_bwd_dq_mt_kernel<DqMtConfig<D, W, MT, BK, MB>>;
}

}  // namespace rscapret::kernels::cuda::flash
