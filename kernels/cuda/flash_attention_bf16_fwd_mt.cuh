// The bf16 flash-attention forward with MT m16 tiles per warp (16 * MT query rows per warp), the
// layout of FlashAttention-2's forward: the variant of flash_fwd_kernel for D = 128 where
// shared-memory bandwidth, not the tensor cores, sets the pace.
//
// Why: in flash_fwd_kernel every ldmatrix.x4 of K or V (512 bytes out of shared memory) feeds 2
// mma.m16n8k16 (one per n8 tile), i.e. 256 bytes per 4096 FLOP. An SM reads 128 bytes of shared
// memory per clock and issues about one such mma per clock, so K/V fragment loads alone need 2
// clocks per mma: the kernel waits on shared memory. With MT = 2 each K/V fragment feeds 4 mma
// (both m-tiles of the warp). Q no longer fits in registers next to two output tiles at D = 128
// (o alone is 128 f32 per thread), so Q fragments are re-read from shared memory each k16 step:
// S = Q K^T then loads 2 A + 4 B fragments per 16 mma (2.7 mma per load, was 2), and O += P V 1
// B fragment per 4 mma (was 2): about 40% fewer shared-memory bytes per FLOP.
//
// Everything else (cp.async double buffering of K/V tiles, or STAGES deep; online softmax in
// the log2 domain; causal tile skipping per warp; longest causal query blocks first; -inf
// handling) is flash_fwd_kernel's, in flash_attention_bf16_kernels.cuh; read that file's header
// first.
#pragma once

#include "kernels/cuda/flash_attention_bf16_kernels.cuh"

namespace rscapret::kernels::cuda::flash {

// BQ = WARPS * 16 * MT query rows per block; warp w owns rows [16 MT w, 16 MT (w + 1)). STAGES
// K/V tiles in flight: 2 is double buffering; 3 keeps two tiles loading while one is used.
template <int D_, int WARPS_, int MT_, int BK_, int MIN_BLOCKS_, int STAGES_ = 2>
struct FwdMtConfig {
  static constexpr int D = D_, WARPS = WARPS_, MT = MT_, BK = BK_, MIN_BLOCKS = MIN_BLOCKS_, STAGES = STAGES_;
  static constexpr int THREADS = WARPS * 32, BQ = WARPS * 16 * MT, LD = D + 8;
  static constexpr int Q_ELEMS = BQ * LD, KV_ELEMS = BK * LD;
  static constexpr size_t SMEM = size_t(Q_ELEMS + 2 * STAGES * KV_ELEMS) * 2;  // Q, K[STAGES], V[STAGES]
  static_assert(STAGES >= 2, "at least double buffering");
  static_assert(D == 64 || D == 128, "head dim 64 or 128");
  static_assert(BK % 16 == 0, "whole k16 steps of P V");
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) flash_fwd_mt_kernel(const FwdParams p) {
  constexpr int D = Cfg::D, BQ = Cfg::BQ, BK = Cfg::BK, LD = Cfg::LD, THREADS = Cfg::THREADS, MT = Cfg::MT;
  constexpr int KS = D / 16, NT_S = BK / 8, NT_O = D / 8, WROWS = 16 * MT, STAGES = Cfg::STAGES;
  const Shape& s = p.s;
  uint16_t* const Qs = attn::dynamic_smem<uint16_t>();  // [BQ][LD]
  uint16_t* const Ks0 = Qs + Cfg::Q_ELEMS;              // [STAGES][BK][LD]
  uint16_t* const Vs0 = Ks0 + STAGES * Cfg::KV_ELEMS;   // [STAGES][BK][LD]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int q0 = query_tile(s) * BQ, h = blockIdx.y, b = blockIdx.z, hk = h / (s.H / s.Hkv);
  const int64_t bh = int64_t(b) * s.H + h;
  const uint16_t* qh = p.q + b * p.qs.b + h * p.qs.h;
  const uint16_t* kh = p.k + b * p.ks.b + hk * p.ks.h;
  const uint16_t* vh = p.v + b * p.vs.b + hk * p.vs.h;
  const int wq = warp * WROWS;   // this warp's first row within the block's Q tile
  const int wrow0 = q0 + wq;     // ... and as a query index
  const int diag = s.Tk - s.Tq;  // query i sees keys <= diag + i (causal)
  const float sl2 = s.scale * kLog2e;
  const int n_kt = key_tiles(s, q0, BQ, BK);

  // Prologue: Q and tile 0 in group 0, tiles 1 .. STAGES - 2 in one group each (empty groups
  // past the last tile keep the count of groups per iteration fixed for cp_async_wait).
  load_tile<BQ, D, THREADS>(Qs, qh, q0, s.Tq, tid, p.qs.t);
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < n_kt) {
      load_tile<BK, D, THREADS>(Ks0 + st * Cfg::KV_ELEMS, kh, st * BK, s.Tk, tid, p.ks.t);
      load_tile<BK, D, THREADS>(Vs0 + st * Cfg::KV_ELEMS, vh, st * BK, s.Tk, tid, p.vs.t);
    }
    cp_async_commit();
  }

  // Per m-tile mt: rows g (hf = 0) and g + 8 (hf = 1) of rows wrow0 + 16 mt ..: running max m
  // (log2 domain), this thread's part of the sum l, output o (as in flash_fwd_kernel).
  float o[MT][NT_O][4], m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    zero(o[mt]);
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.0f;
  }

  for (int kt = 0; kt < n_kt; ++kt) {
    const int stage = kt % STAGES, k0 = kt * BK;
    // Tile kt + STAGES - 1 goes into the stage that iteration kt - 1 used (freed by its closing
    // barrier).
    const int kn = kt + STAGES - 1, sn = kn % STAGES;
    if (kn < n_kt) {
      load_tile<BK, D, THREADS>(Ks0 + sn * Cfg::KV_ELEMS, kh, kn * BK, s.Tk, tid, p.ks.t);
      load_tile<BK, D, THREADS>(Vs0 + sn * Cfg::KV_ELEMS, vh, kn * BK, s.Tk, tid, p.vs.t);
    }
    cp_async_commit();
    cp_async_wait<STAGES - 1>();  // this thread's copies of tile kt (and Q) have landed ...
    __syncthreads();              // ... and everyone's
    const uint16_t* Ks = Ks0 + stage * Cfg::KV_ELEMS;
    const uint16_t* Vs = Vs0 + stage * Cfg::KV_ELEMS;

    if (!s.causal || k0 <= diag + wrow0 + WROWS - 1) {  // some row of this warp sees a key of the tile
      float sc[MT][NT_S][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) zero(sc[mt]);
      // S = Q K^T: each K fragment pair feeds the MT m-tiles.
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
      }
      const bool mask = k0 + BK > s.Tk || (s.causal && k0 + BK - 1 > diag + wrow0);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            float x = sc[mt][nt][e] * sl2;
            if (mask) {
              const int key = k0 + nt * 8 + 2 * t + (e & 1), row = wrow0 + 16 * mt + g + 8 * (e >> 1);
              if (key >= s.Tk || (s.causal && key > diag + row)) x = -INFINITY;
            }
            sc[mt][nt][e] = x;
          }
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          float mx = -INFINITY;
#pragma unroll
          for (int nt = 0; nt < NT_S; ++nt) mx = fmaxf(mx, fmaxf(sc[mt][nt][2 * hf], sc[mt][nt][2 * hf + 1]));
          mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, 1));  // the 4 threads of a row: lanes 4g..4g+3
          mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, 2));
          const float m_new = fmaxf(m[mt][hf], mx);
          // A row that has seen no key keeps m = -inf; subtracting 0 keeps its p at exp2(-inf) = 0.
          const float m_use = m_new == -INFINITY ? 0.0f : m_new;
          const float alpha = exp2f(m[mt][hf] - m_use);  // rescales the old state; 0 when m was -inf
          m[mt][hf] = m_new;
          l[mt][hf] *= alpha;
#pragma unroll
          for (int nt = 0; nt < NT_O; ++nt) {
            o[mt][nt][2 * hf] *= alpha;
            o[mt][nt][2 * hf + 1] *= alpha;
          }
#pragma unroll
          for (int nt = 0; nt < NT_S; ++nt) {
            sc[mt][nt][2 * hf] = exp2f(sc[mt][nt][2 * hf] - m_use);
            sc[mt][nt][2 * hf + 1] = exp2f(sc[mt][nt][2 * hf + 1] - m_use);
            l[mt][hf] += sc[mt][nt][2 * hf] + sc[mt][nt][2 * hf + 1];
          }
        }
      }
      // O += P V: each V fragment pair feeds the MT m-tiles.
#pragma unroll
      for (int kk = 0; kk < NT_S / 2; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) c_to_a(a[mt], sc[mt][2 * kk], sc[mt][2 * kk + 1]);
#pragma unroll
        for (int np = 0; np < NT_O / 2; ++np) {
          uint32_t b0[2], b1[2];
          ldsm_b_kn(b0, b1, Vs, LD, kk * 16, np * 16, lane);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(o[mt][2 * np], a[mt], b0);
            mma_bf16_16816(o[mt][2 * np + 1], a[mt], b1);
          }
        }
      }
    }
    __syncthreads();  // everyone is done with this stage before iteration kt + 1 refills it
  }
  cp_async_wait<0>();  // nothing in flight at exit (Q alone when there is no key tile)

#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      float lt = l[mt][hf];
      lt += __shfl_xor_sync(kFull, lt, 1);
      lt += __shfl_xor_sync(kFull, lt, 2);
      const int row = wrow0 + 16 * mt + g + 8 * hf;
      if (row < s.Tq) {
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;  // no visible key: zeros
        uint16_t* orow = p.out + b * p.os.b + h * p.os.h + row * p.os.t;
#pragma unroll
        for (int nt = 0; nt < NT_O; ++nt)
          *reinterpret_cast<uint32_t*>(orow + nt * 8 + 2 * t) =
              attn::pack_bf16x2(o[mt][nt][2 * hf] * inv, o[mt][nt][2 * hf + 1] * inv);
        if (t == 0) p.lse[bh * s.Tq + row] = lt > 0.0f ? (m[mt][hf] + log2f(lt)) * kLn2 : -INFINITY;
      }
    }
}

}  // namespace rscapret::kernels::cuda::flash

namespace rscapret::kernels::cuda::flash {

// The forward kernel of a tile configuration, so that launchers pick it from the type alone:
//   fwd_kernel(static_cast<Cfg*>(nullptr)).
template <int D, int W, int BK, int MB>
constexpr auto fwd_kernel(FwdConfig<D, W, BK, MB>*) {
  return &flash_fwd_kernel<FwdConfig<D, W, BK, MB>>;
}
template <int D, int W, int MT, int BK, int MB, int ST>
constexpr auto fwd_kernel(FwdMtConfig<D, W, MT, BK, MB, ST>*) {
  return &flash_fwd_mt_kernel<FwdMtConfig<D, W, MT, BK, MB, ST>>;
}

}  // namespace rscapret::kernels::cuda::flash
