// Kernel lab for attention (in the style of llm.c's dev/cuda): numbered variants of
//   out = softmax(scale q k^T [+ causal mask]) v  and its backward (dq, dk, dv),
// q [B,H,T,D], k, v [B,Hkv,T,D]. Every variant is validated before it is timed:
//   small shapes: out, lse, dq, dk, dv against a CPU double-precision loop (full score matrix)
//     on the same (bf16-representable) inputs: rel err < 1e-4 (f32 variant), out/lse < 1e-2 and
//     gradients < 2e-2 (bf16 variants: bf16 P, dS and outputs);
//   timed shapes: each bf16 variant against variant 1 (f32) on the device, same tolerances.
// Outputs are poisoned with NaN bytes before validation runs, so an unwritten element fails.
// Timing: CUDA events on the project's stream, 2 warm-up runs, median of 10 (--quick) or 20
// samples, each sample a run of back-to-back calls of at least ~1 ms. TFLOP/s counts the forward
// as 4 B H Tq Tk D (halved when causal) and the backward as 2.5x that, as the PyTorch SDPA
// figures we compare with (flash backend on the H100).
//
//   attention_lab [--quick]      (--quick: variant 1 is timed on the ViT shape only)
//
// Variants:
//   1  f32 flash path (attention_forward / _backward): SIMT f32 tiles of 32, online softmax
//   2  bf16 mma.sync flash, production (flash_attention_bf16_*, tiles in
//      flash_attention_bf16_tiles.cuh): forward 4 warps x 16 (D = 64) or x 32 (D = 128) query
//      rows, cp.async double-buffered K/V tiles; backward dq + dk/dv kernels (no atomics)
//   3  bf16 as 8 with 8 warps: 128-row query blocks (forward, dq), 128-key blocks (dk/dv)
//   4  bf16 as 8 with 32-key K/V tiles in forward and dq (fewer registers, more blocks per SM)
//   5  bf16 forward with 2 m16 tiles per warp (4 warps x 32 rows), 64-key tiles; backward as 2
//   6  the same with 48-key tiles at D = 128 (production at D = 128 since 2026-11-28)
//   7  the same with 32-key tiles
//   8  bf16 forward of 1 m16 tile per warp, 64-key tiles (production at D = 128 before; at
//      D = 64 still production); backward as 2
//   9  as 2 with the dq kernel of 2 m16 tiles per warp (4 warps x 32 rows), 32-key tiles
//  10  the same with 16-key tiles at D = 128
//  11  as 7 with a 3-stage K/V pipeline
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/flash_attention_bf16_launch.cuh"
#include "kernels/cuda/flash_attention_bf16_tiles.cuh"
#include "bench/cuda/lab_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "tensor/device_backend.h"

namespace kc = rscapret::kernels::cuda;
namespace fl = rscapret::kernels::cuda::flash;

namespace {


constexpr int kDevice = 0;
cudaStream_t stream() { return static_cast<cudaStream_t>(rscapret::cuda_runtime::stream(kDevice)); }

// ---- deterministic inputs: value(seed, i), computed identically on device and host ----

// bf16 bits of input element i: uniform in [-sqrt 3, sqrt 3) (unit variance).
__host__ __device__ inline uint16_t input_bits(uint64_t seed, uint64_t i) {
  return lab::uniform_bf16_bits(seed, i, 1.7320508f);
}
using lab::bf16_value;
using lab::splitmix64;

// The same values as bf16 and as f32 (the f32 variant reads exactly the bf16 inputs).
__global__ void fill_inputs(uint16_t* bf, float* f, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint16_t b = input_bits(seed, uint64_t(i));
    bf[i] = b;
    f[i] = bf16_value(b);
  }
}

// ---- shapes and buffers ----

struct Shape {
  const char* name;
  int B, H, Hkv, T, D;
  bool causal;
  double sdpa_fwd, sdpa_fwdbwd;  // PyTorch SDPA (flash) on the H100, TFLOP/s; 0: none
  int64_t nq() const { return int64_t(B) * H * T * D; }
  int64_t nk() const { return int64_t(B) * Hkv * T * D; }
  int64_t rows() const { return int64_t(B) * H * T; }
  double fwd_flops() const { return 4.0 * B * H * double(T) * T * D * (causal ? 0.5 : 1.0); }
  float scale() const { return float(1.0 / std::sqrt(double(D))); }
};

template <typename T>
T* dalloc(int64_t n) {
  void* p = nullptr;
  LAB_CHECK(cudaMalloc(&p, size_t(std::max<int64_t>(n, 1)) * sizeof(T)));
  return static_cast<T*>(p);
}

struct Buffers {
  Shape s;
  uint16_t *q, *k, *v, *dout;                 // bf16 inputs
  float *qf, *kf, *vf, *doutf;                // the same values in f32
  uint16_t *out, *dq, *dk, *dv;               // bf16 variants' outputs
  float *lse, *delta;                         // bf16 variants' lse and backward scratch
  float *outf, *lsef, *dqf, *dkf, *dvf;       // f32 variant's outputs
  std::vector<void*> all;

  explicit Buffers(const Shape& sh) : s(sh) {
    auto track = [&](auto* p) {
      all.push_back(p);
      return p;
    };
    q = track(dalloc<uint16_t>(s.nq())), dout = track(dalloc<uint16_t>(s.nq()));
    k = track(dalloc<uint16_t>(s.nk())), v = track(dalloc<uint16_t>(s.nk()));
    qf = track(dalloc<float>(s.nq())), doutf = track(dalloc<float>(s.nq()));
    kf = track(dalloc<float>(s.nk())), vf = track(dalloc<float>(s.nk()));
    out = track(dalloc<uint16_t>(s.nq())), dq = track(dalloc<uint16_t>(s.nq()));
    dk = track(dalloc<uint16_t>(s.nk())), dv = track(dalloc<uint16_t>(s.nk()));
    lse = track(dalloc<float>(s.rows())), delta = track(dalloc<float>(s.rows()));
    outf = track(dalloc<float>(s.nq())), dqf = track(dalloc<float>(s.nq()));
    dkf = track(dalloc<float>(s.nk())), dvf = track(dalloc<float>(s.nk()));
    lsef = track(dalloc<float>(s.rows()));
    const int64_t sizes[4] = {s.nq(), s.nk(), s.nk(), s.nq()};
    uint16_t* bfs[4] = {q, k, v, dout};
    float* fs[4] = {qf, kf, vf, doutf};
    for (int i = 0; i < 4; ++i) {
      fill_inputs<<<1024, 256, 0, stream()>>>(bfs[i], fs[i], sizes[i], uint64_t(11 + i));
      LAB_CHECK(cudaGetLastError());
    }
    LAB_CHECK(cudaStreamSynchronize(stream()));
  }
  ~Buffers() {
    for (void* p : all) cudaFree(p);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;

  // NaN bytes in every output, so an element a variant does not write fails validation.
  void poison() {
    for (auto [p, n] : {std::pair<void*, size_t>{out, s.nq() * 2}, {dq, s.nq() * 2}, {dk, s.nk() * 2},
                        {dv, s.nk() * 2}, {lse, s.rows() * 4}, {outf, s.nq() * 4}, {lsef, s.rows() * 4},
                        {dqf, s.nq() * 4}, {dkf, s.nk() * 4}, {dvf, s.nk() * 4}})
      LAB_CHECK(cudaMemsetAsync(p, 0xFF, n, stream()));
  }
};

// ---- variants ----

struct Variant {
  int id;
  const char* name;
  bool bf16;
  std::function<void(Buffers&)> fwd, bwd;
};

fl::Shape flash_shape(const Shape& s) { return fl::Shape{s.B, s.H, s.Hkv, s.T, s.T, s.scale(), s.causal}; }

// A bf16 variant launched with its own tile configurations, through production's launch code
// (flash_attention_bf16_launch.cuh; a launch error throws DeviceError).
template <class Fwd, class Dq, class Dkdv>
void cfg_forward(Buffers& b) {
  const fl::RowStrides qs = fl::contiguous_rows(b.s.H, b.s.T, b.s.D), kv = fl::contiguous_rows(b.s.Hkv, b.s.T, b.s.D);
  fl::forward_with<Fwd>(fl::FwdParams{b.q, b.k, b.v, b.out, b.lse, flash_shape(b.s), qs, kv, kv, qs}, stream());
}
template <class Fwd, class Dq, class Dkdv>
void cfg_backward(Buffers& b) {
  fl::backward_with<Dq, Dkdv>(
      fl::BwdParams{b.q, b.k, b.v, b.out, b.dout, b.lse, b.delta, b.dq, b.dk, b.dv, flash_shape(b.s)}, stream());
}

template <template <int> class Cfgs>
Variant cfg_variant(int id, const char* name) {
  auto fwd = [](Buffers& b) {
    if (b.s.D == 64)
      cfg_forward<typename Cfgs<64>::Fwd, typename Cfgs<64>::Dq, typename Cfgs<64>::Dkdv>(b);
    else
      cfg_forward<typename Cfgs<128>::Fwd, typename Cfgs<128>::Dq, typename Cfgs<128>::Dkdv>(b);
  };
  auto bwd = [](Buffers& b) {
    if (b.s.D == 64)
      cfg_backward<typename Cfgs<64>::Fwd, typename Cfgs<64>::Dq, typename Cfgs<64>::Dkdv>(b);
    else
      cfg_backward<typename Cfgs<128>::Fwd, typename Cfgs<128>::Dq, typename Cfgs<128>::Dkdv>(b);
  };
  return Variant{id, name, true, fwd, bwd};
}

template <int D>
struct Wide {  // variant 3: 8-warp blocks
  using Fwd = fl::FwdConfig<D, 8, 64, D == 64 ? 2 : 1>;
  using Dq = fl::DqConfig<D, 8, 64, 1>;
  using Dkdv = fl::DkdvConfig<D, 8, D == 64 ? 64 : 32, 1>;
};
template <int D>
struct NarrowKeys {  // variant 4: 32-key tiles, one more block per SM than variant 2
  using Fwd = fl::FwdConfig<D, 4, 32, D == 64 ? 4 : 3>;
  using Dq = fl::DqConfig<D, 4, 32, D == 64 ? 4 : 3>;
  using Dkdv = fl::DkdvConfig<D, 4, D == 64 ? 64 : 32, 2>;
};

// Variants 5-7: the forward with 2 m16 tiles per warp (flash_attention_bf16_fwd_mt.cuh: each
// K/V fragment feeds 4 mma instead of 2, ~40% fewer shared-memory bytes per FLOP), 4 warps x 32
// query rows = 128-row blocks; the backward is variant 2's. Predicted on the causal D = 128
// shape (forward 225 TFLOP/s in variant 2, which reads ~2x the shared-memory bytes per mma that
// the SM can feed): 280-310 TFLOP/s. On ViT (T = 257) 128-row blocks pad 257 rows to 384 (64-row
// blocks: 320), which eats most of the gain: about even with variant 2.
// Registers (ptxas, sm_90): D = 128: 64-key tiles 255 + 84 bytes spilled, 48-key 255 no spill,
// 32-key 252; D = 64 with 64-key (226) or 32-key (167) tiles, 2 blocks per SM: no spill.
template <int D>
struct TwoTiles64 {  // variant 5
  using Fwd = fl::FwdMtConfig<D, 4, 2, 64, 2>;
  using Dq = typename fl::ProductionTiles<D>::Dq;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};
template <int D>
struct TwoTiles48 {  // variant 6 (D = 64: 64-key tiles, as variant 5)
  using Fwd = fl::FwdMtConfig<D, 4, 2, D == 64 ? 64 : 48, 2>;
  using Dq = typename fl::ProductionTiles<D>::Dq;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};
template <int D>
struct TwoTiles32 {  // variant 7
  using Fwd = fl::FwdMtConfig<D, 4, 2, 32, 2>;
  using Dq = typename fl::ProductionTiles<D>::Dq;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};

template <int D>
struct OneTile {  // variant 8: production before the 2-m-tile forward (flash_fwd_kernel, 64-key tiles)
  using Fwd = fl::FwdConfig<D, 4, 64, D == 64 ? 3 : 2>;
  using Dq = typename fl::ProductionTiles<D>::Dq;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};

// Variants 9, 10: production forward, and the dq kernel with 2 m16 tiles per warp
// (flash_attention_bf16_dq_mt.cuh: 128-row blocks; ~30% fewer shared-memory bytes per FLOP at
// 32-key tiles). dq is 3 of the backward's 7 tile products, so a ~25% faster dq kernel would make
// the backward ~10% faster (causal D = 128 fwd+bwd: +5-8%). 16-key tiles (variant 10) spill
// nothing but read Q / dO fragments for only 4 mma each (1.3 per load): expected slower than 9.
// Registers (sm_90, 2 blocks per SM): D = 128: 32-key 255 + 20 bytes spilled, 16-key 238;
// D = 64 (both variants 32-key): 210.
template <int D>
struct TwoTileDq32 {  // variant 9
  using Fwd = typename fl::ProductionTiles<D>::Fwd;
  using Dq = fl::DqMtConfig<D, 4, 2, 32, 2>;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};
template <int D>
struct TwoTileDq16 {  // variant 10
  using Fwd = typename fl::ProductionTiles<D>::Fwd;
  using Dq = fl::DqMtConfig<D, 4, 2, D == 64 ? 32 : 16, 2>;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};

// Variant 11: variant 7 (32-key tiles) with a 3-stage K/V pipeline (two tiles loading while one
// is used; 85 KB of shared memory at D = 128, still 2 blocks per SM). Predicted within a few %
// of variant 7: with 8 warps per SM one tile of compute already covers a tile's load.
template <int D>
struct TwoTiles32x3 {  // variant 11
  using Fwd = fl::FwdMtConfig<D, 4, 2, 32, 2, 3>;
  using Dq = typename fl::ProductionTiles<D>::Dq;
  using Dkdv = typename fl::ProductionTiles<D>::Dkdv;
};

std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  v.push_back({1, "f32 flash (SIMT)", false,
               [](Buffers& b) {
                 const Shape& s = b.s;
                 kc::attention_forward(b.qf, b.kf, b.vf, nullptr, b.outf, b.lsef, s.B, s.H, s.Hkv, s.T, s.T, s.D, s.D,
                                       s.scale(), s.causal, kDevice);
               },
               [](Buffers& b) {
                 const Shape& s = b.s;
                 kc::attention_backward(b.qf, b.kf, b.vf, nullptr, b.outf, b.doutf, b.lsef, b.dqf, b.dkf, b.dvf, s.B,
                                        s.H, s.Hkv, s.T, s.T, s.D, s.D, s.scale(), s.causal, kDevice);
               }});
  v.push_back({2, "bf16 mma flash (production)", true,
               [](Buffers& b) {
                 const Shape& s = b.s;
                 kc::flash_attention_bf16_forward(b.q, b.k, b.v, b.out, b.lse, s.B, s.H, s.Hkv, s.T, s.T, s.D,
                                                  s.scale(), s.causal, kDevice);
               },
               [](Buffers& b) {
                 const Shape& s = b.s;
                 kc::flash_attention_bf16_backward(b.q, b.k, b.v, b.out, b.dout, b.lse, b.dq, b.dk, b.dv, s.B, s.H,
                                                   s.Hkv, s.T, s.T, s.D, s.scale(), s.causal, kDevice);
               }});
  v.push_back(cfg_variant<Wide>(3, "bf16 mma flash, 8 warps"));
  v.push_back(cfg_variant<NarrowKeys>(4, "bf16 mma flash, 32-key tiles"));
  v.push_back(cfg_variant<TwoTiles64>(5, "bf16 fwd 2 m-tiles/warp, 64-key tiles"));
  v.push_back(cfg_variant<TwoTiles48>(6, "bf16 fwd 2 m-tiles/warp, 48-key tiles"));
  v.push_back(cfg_variant<TwoTiles32>(7, "bf16 fwd 2 m-tiles/warp, 32-key tiles"));
  v.push_back(cfg_variant<OneTile>(8, "bf16 fwd 1 m-tile/warp (previous production)"));
  v.push_back(cfg_variant<TwoTileDq32>(9, "bf16 as 2, dq 2 m-tiles/warp, 32-key tiles"));
  v.push_back(cfg_variant<TwoTileDq16>(10, "bf16 as 2, dq 2 m-tiles/warp, 16-key tiles"));
  v.push_back(cfg_variant<TwoTiles32x3>(11, "bf16 fwd 2 m-tiles/warp, 32-key tiles, 3 stages"));
  return v;
}

// ---- results on the host ----

struct Result {
  std::vector<double> out, lse, dq, dk, dv;
};

std::vector<double> download_f32(const float* p, int64_t n) {
  std::vector<float> h(size_t(std::max<int64_t>(n, 0)));
  LAB_CHECK(cudaMemcpy(h.data(), p, h.size() * 4, cudaMemcpyDeviceToHost));
  return std::vector<double>(h.begin(), h.end());
}
std::vector<double> download_bf16(const uint16_t* p, int64_t n) {
  std::vector<uint16_t> h(size_t(std::max<int64_t>(n, 0)));
  LAB_CHECK(cudaMemcpy(h.data(), p, h.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<double> d(h.size());
  for (size_t i = 0; i < h.size(); ++i) d[i] = bf16_value(h[i]);
  return d;
}

// Runs a variant's forward and backward on poisoned outputs and downloads everything.
Result run_variant(const Variant& v, Buffers& b) {
  b.poison();
  v.fwd(b);
  v.bwd(b);
  LAB_CHECK(cudaStreamSynchronize(stream()));
  const Shape& s = b.s;
  if (v.bf16)
    return {download_bf16(b.out, s.nq()), download_f32(b.lse, s.rows()), download_bf16(b.dq, s.nq()),
            download_bf16(b.dk, s.nk()), download_bf16(b.dv, s.nk())};
  return {download_f32(b.outf, s.nq()), download_f32(b.lsef, s.rows()), download_f32(b.dqf, s.nq()),
          download_f32(b.dkf, s.nk()), download_f32(b.dvf, s.nk())};
}

// ||got - ref|| / ||ref||; any non-finite got is +inf (NaN never passes).
double rel_err(const std::vector<double>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Double-precision reference on the host (small shapes only): full score matrix per head.
Result cpu_reference(const Shape& s) {
  auto gen = [](int64_t n, uint64_t seed) {
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = bf16_value(input_bits(seed, uint64_t(i)));
    return x;
  };
  const std::vector<double> q = gen(s.nq(), 11), k = gen(s.nk(), 12), v = gen(s.nk(), 13), dout = gen(s.nq(), 14);
  Result r{std::vector<double>(q.size()), std::vector<double>(size_t(s.rows())), std::vector<double>(q.size()),
           std::vector<double>(k.size()), std::vector<double>(k.size())};
  const int T = s.T, D = s.D, group = s.H / s.Hkv;
  const double scale = s.scale();
  std::vector<double> p(static_cast<size_t>(T)), dp(static_cast<size_t>(T));
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      const int64_t qb = (int64_t(b) * s.H + h) * T, kb = (int64_t(b) * s.Hkv + h / group) * T;
      for (int i = 0; i < T; ++i) {
        const int nvis = s.causal ? i + 1 : T;  // Tq = Tk: query i sees keys 0..i
        double m = -INFINITY;
        for (int j = 0; j < nvis; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += q[size_t((qb + i) * D + d)] * k[size_t((kb + j) * D + d)];
          p[size_t(j)] = dot * scale;
          m = std::max(m, p[size_t(j)]);
        }
        double sum = 0;
        for (int j = 0; j < nvis; ++j) sum += p[size_t(j)] = std::exp(p[size_t(j)] - m);
        r.lse[size_t(qb + i)] = m + std::log(sum);
        for (int j = 0; j < nvis; ++j) p[size_t(j)] /= sum;
        double delta = 0;
        for (int j = 0; j < nvis; ++j) {
          double acc = 0;
          for (int d = 0; d < D; ++d) {
            r.out[size_t((qb + i) * D + d)] += p[size_t(j)] * v[size_t((kb + j) * D + d)];
            acc += dout[size_t((qb + i) * D + d)] * v[size_t((kb + j) * D + d)];
          }
          dp[size_t(j)] = acc;
          delta += p[size_t(j)] * acc;
        }
        for (int j = 0; j < nvis; ++j) {
          const double ds = scale * p[size_t(j)] * (dp[size_t(j)] - delta);
          for (int d = 0; d < D; ++d) {
            r.dq[size_t((qb + i) * D + d)] += ds * k[size_t((kb + j) * D + d)];
            r.dk[size_t((kb + j) * D + d)] += ds * q[size_t((qb + i) * D + d)];
            r.dv[size_t((kb + j) * D + d)] += p[size_t(j)] * dout[size_t((qb + i) * D + d)];
          }
        }
      }
    }
  return r;
}

// Largest of the five errors after scaling each by its tolerance (<= 1 passes); `why` names them.
double check(const Result& got, const Result& ref, bool bf16, std::string* why) {
  const double out_tol = bf16 ? 1e-2 : 1e-4, grad_tol = bf16 ? 2e-2 : 1e-4;
  const double e[5] = {rel_err(got.out, ref.out), rel_err(got.lse, ref.lse), rel_err(got.dq, ref.dq),
                       rel_err(got.dk, ref.dk), rel_err(got.dv, ref.dv)};
  char buf[200];
  std::snprintf(buf, sizeof buf, "out %.2e lse %.2e dq %.2e dk %.2e dv %.2e", e[0], e[1], e[2], e[3], e[4]);
  *why = buf;
  return std::max({e[0] / out_tol, e[1] / out_tol, e[2] / grad_tol, e[3] / grad_tol, e[4] / grad_tol});
}

// ---- timing ----

// Median over `samples` of the per-call time of `f`, each sample enough back-to-back calls to
// last ~1 ms (fewer launch gaps in short kernels).
double time_ms(const std::function<void()>& f, int samples) {
  cudaEvent_t a, b;
  LAB_CHECK(cudaEventCreate(&a));
  LAB_CHECK(cudaEventCreate(&b));
  f();  // warm-up (module load, shared-memory attributes)
  LAB_CHECK(cudaEventRecord(a, stream()));
  f();
  LAB_CHECK(cudaEventRecord(b, stream()));
  LAB_CHECK(cudaEventSynchronize(b));
  float once = 0;
  LAB_CHECK(cudaEventElapsedTime(&once, a, b));
  const int inner = std::max(1, std::min(50, int(std::ceil(1.0 / std::max(once, 1e-3f)))));
  std::vector<float> ms;
  for (int r = 0; r < samples; ++r) {
    LAB_CHECK(cudaEventRecord(a, stream()));
    for (int i = 0; i < inner; ++i) f();
    LAB_CHECK(cudaEventRecord(b, stream()));
    LAB_CHECK(cudaEventSynchronize(b));
    float t = 0;
    LAB_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t / float(inner));
  }
  LAB_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Row {
  std::string shape;
  int variant;
  const char* name;
  bool valid;
  double fwd_ms, fwd_tflops, all_ms, all_tflops, sdpa_fwd, sdpa_all;
};

}  // namespace

int run_lab(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--quick") quick = true;
  if (!rscapret::cuda_runtime::available()) {
    std::printf("no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  LAB_CHECK(cudaGetDeviceProperties(&prop, kDevice));
  std::printf("# attention_lab on %s (%d SMs, L2 %d MB)%s\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, quick ? " --quick" : "");
  const std::vector<Variant> variants = all_variants();

  // ---- 1. validation at small, odd shapes against the CPU ----
  bool all_valid = true;
  std::printf("\n## validation against a CPU double reference\n");
  const Shape small[] = {{"small", 1, 4, 2, 130, 64, true, 0, 0},
                         {"small", 2, 2, 1, 77, 128, false, 0, 0},
                         {"small", 1, 2, 2, 257, 128, true, 0, 0}};
  for (const Shape& s : small) {
    Buffers b(s);
    const Result ref = cpu_reference(s);
    for (const Variant& v : variants) {
      std::string why;
      const double score = check(run_variant(v, b), ref, v.bf16, &why);
      all_valid &= score <= 1.0;
      std::printf("%s variant %d B%d H%d/%d T%d D%d %s: %s\n", score <= 1.0 ? "ok  " : "FAIL", v.id, s.B, s.H, s.Hkv,
                  s.T, s.D, s.causal ? "causal" : "full", why.c_str());
    }
  }

  // ---- 2. timed shapes: validate the bf16 variants against the f32 variant, then time ----
  const Shape timed[] = {{"ViT B64 H16 T257 D64", 64, 16, 16, 257, 64, false, 107, 109},
                         {"causal B1 H32 T4096 D128", 1, 32, 32, 4096, 128, true, 482, 420}};
  const int samples = quick ? 10 : 20;
  std::vector<Row> rows;
  for (const Shape& s : timed) {
    Buffers b(s);
    std::printf("\n## %s\n", s.name);
    const Result f32 = run_variant(variants[0], b);
    for (const Variant& v : variants) {
      bool valid = true;
      if (v.bf16) {
        std::string why;
        const double score = check(run_variant(v, b), f32, true, &why);
        valid = score <= 1.0;
        std::printf("%s variant %d vs variant 1: %s\n", valid ? "ok  " : "FAIL", v.id, why.c_str());
      }
      all_valid &= valid;
      if (!valid || (quick && !v.bf16 && s.causal)) continue;  // time only what computes the right thing
      const double fwd = time_ms([&] { v.fwd(b); }, samples);
      const double all = time_ms(
          [&] {
            v.fwd(b);
            v.bwd(b);
          },
          samples);
      const double ff = s.fwd_flops();
      rows.push_back({s.name, v.id, v.name, valid, fwd, ff / fwd * 1e-9, all, 3.5 * ff / all * 1e-9, s.sdpa_fwd,
                      s.sdpa_fwdbwd});
      std::printf("variant %d: fwd %.3f ms (%.1f TFLOP/s), fwd+bwd %.3f ms (%.1f TFLOP/s)\n", v.id, fwd,
                  rows.back().fwd_tflops, all, rows.back().all_tflops);
    }
  }

  std::printf("\n| shape | variant | fwd ms | fwd TFLOP/s | vs SDPA (H100 figure) | fwd+bwd ms | fwd+bwd TFLOP/s | vs SDPA (H100 figure) |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %d %s | %.3f | %.1f | %.0f%% | %.3f | %.1f | %.0f%% |\n", r.shape.c_str(), r.variant, r.name,
                r.fwd_ms, r.fwd_tflops, 100 * r.fwd_tflops / r.sdpa_fwd, r.all_ms, r.all_tflops,
                100 * r.all_tflops / r.sdpa_all);
  std::printf("SDPA (flash, H100): ViT fwd 107 / fwd+bwd 109 TFLOP/s; causal 4096 fwd 482 / fwd+bwd 420 TFLOP/s\n");
  std::printf("validation: %s\n", all_valid ? "all variants pass" : "FAILURES (see above)");
  return all_valid ? 0 : 2;
}

// A launch error of a variant (production's launch code throws DeviceError) ends the run with its
// message rather than an uncaught exception.
int main(int argc, char** argv) {
  try {
    return run_lab(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attention_lab: %s\n", e.what());
    return 1;
  }
}
