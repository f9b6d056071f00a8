// Fused scaled-dot-product attention on f32. Memory per thread is O(D Tk), never O(Tq x Tk). GQA:
// query head h reads key/value head h / (H / Hkv).
//
// Many query rows (prefill, encoders: Tq >= kBlockedMinRows): a task takes up to kQueryBlock rows
// of one head, transposes that head's keys once into K^T [D][Tk], then handles 4 rows at a time:
// scores with the keys along the vector lanes (each K^T load feeds 4 rows, no horizontal sums),
// a stable softmax per row, and P V with the 4 output rows' 64-column slices held in registers
// (each V load feeds 4 rows). Few rows (decode): one row per task, scores by SIMD dot products and
// the weighted sum by SIMD axpy, which reads K in place (a transpose would cost as much as the
// row itself).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float DotF32(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += a * x
HWY_INLINE void Axpy(float a, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

// In place over s[0, n): masked keys (keep[j] false) and keys at or past `visible` become 0 after
// the softmax; returns 1 / sum of the exponentials, or 0 when no key is visible (zeros out).
HWY_INLINE float SoftmaxRow(float* HWY_RESTRICT s, int64_t n, int64_t visible, const bool* keep) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float m = neg_inf;
  for (int64_t j = 0; j < visible; ++j) {
    if (keep && !keep[j]) s[j] = neg_inf;
    m = s[j] > m ? s[j] : m;
  }
  if (m == neg_inf) {
    for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
    return 0.0f;
  }
  const auto vm = hn::Set(d, m);
  auto vs = hn::Zero(d);
  int64_t j = 0;
  for (; j + N <= visible; j += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + j), vm));
    hn::StoreU(e, d, s + j);
    vs = hn::Add(vs, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vs));
  for (; j < visible; ++j) sum += s[j] = std::exp(s[j] - m);
  for (j = visible; j < n; ++j) s[j] = 0.0f;
  return 1.0f / sum;
}

// One query row over keys [0, visible_end). scores has room for visible_end floats.
void AttentionRowF32(const float* HWY_RESTRICT qi, const float* HWY_RESTRICT kb, const float* HWY_RESTRICT vb,
                     const bool* keep, float* HWY_RESTRICT oi, float* HWY_RESTRICT scores, int64_t visible_end,
                     int64_t D, int64_t Dv, float scale) {
  for (int64_t j = 0; j < visible_end; ++j)  // masked keys: no dot product (SoftmaxRow masks them)
    scores[j] = keep && !keep[j] ? 0.0f : DotF32(qi, kb + j * D, D) * scale;
  const float inv = SoftmaxRow(scores, visible_end, visible_end, keep);
  for (int64_t c = 0; c < Dv; ++c) oi[c] = 0.0f;
  if (inv == 0.0f) return;  // no visible key: zeros (documented in ref_kernels.h)
  for (int64_t j = 0; j < visible_end; ++j)
    if (scores[j] != 0.0f) Axpy(scores[j], vb + j * Dv, oi, Dv);
  for (int64_t c = 0; c < Dv; ++c) oi[c] *= inv;
}

// s[r * lds + j] = scale * q_r . k_j for R query rows (q, rows of D) and keys j < n, from K^T
// (kt [D][ldk], keys contiguous).
template <int R>
HWY_INLINE void ScoresRows(const float* HWY_RESTRICT q, int64_t D, const float* HWY_RESTRICT kt, int64_t ldk, int64_t n,
                           float scale, float* HWY_RESTRICT s, int64_t lds) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vscale = hn::Set(d, scale);
  int64_t j = 0;
  for (; j + 2 * N <= n; j += 2 * N) {
    V acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = hn::Zero(d);
    for (int64_t c = 0; c < D; ++c) {
      const float* row = kt + c * ldk + j;
      const V k0 = hn::LoadU(d, row), k1 = hn::LoadU(d, row + N);
      for (int r = 0; r < R; ++r) {
        const V qv = hn::Set(d, q[r * D + c]);
        acc[r][0] = hn::MulAdd(qv, k0, acc[r][0]);
        acc[r][1] = hn::MulAdd(qv, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      hn::StoreU(hn::Mul(acc[r][0], vscale), d, s + r * lds + j);
      hn::StoreU(hn::Mul(acc[r][1], vscale), d, s + r * lds + j + N);
    }
  }
  for (; j + N <= n; j += N) {
    V acc[R];
    for (int r = 0; r < R; ++r) acc[r] = hn::Zero(d);
    for (int64_t c = 0; c < D; ++c) {
      const V k0 = hn::LoadU(d, kt + c * ldk + j);
      for (int r = 0; r < R; ++r) acc[r] = hn::MulAdd(hn::Set(d, q[r * D + c]), k0, acc[r]);
    }
    for (int r = 0; r < R; ++r) hn::StoreU(hn::Mul(acc[r], vscale), d, s + r * lds + j);
  }
  for (; j < n; ++j)
    for (int r = 0; r < R; ++r) {
      float a = 0.0f;
      for (int64_t c = 0; c < D; ++c) a += q[r * D + c] * kt[c * ldk + j];
      s[r * lds + j] = a * scale;
    }
}


// o_r = inv_r * sum_j p[r * ldp + j] v_j for R rows over keys j < n (v rows of Dv); o rows of Dv.
template <int R>
HWY_INLINE void WeightedValues(const float* HWY_RESTRICT p, int64_t ldp, const float* inv, const float* HWY_RESTRICT v,
                               int64_t n, int64_t Dv, float* HWY_RESTRICT o) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t c0 = 0;
  for (; c0 + 4 * N <= Dv; c0 += 4 * N) {  // 64 columns (AVX-512) of all R rows in registers
    V acc[R][4];
    for (int r = 0; r < R; ++r)
      for (int x = 0; x < 4; ++x) acc[r][x] = hn::Zero(d);
    for (int64_t j = 0; j < n; ++j) {
      const float* vr = v + j * Dv + c0;
      const V v0 = hn::LoadU(d, vr), v1 = hn::LoadU(d, vr + N), v2 = hn::LoadU(d, vr + 2 * N), v3 = hn::LoadU(d, vr + 3 * N);
      for (int r = 0; r < R; ++r) {
        const V pv = hn::Set(d, p[r * ldp + j]);
        acc[r][0] = hn::MulAdd(pv, v0, acc[r][0]);
        acc[r][1] = hn::MulAdd(pv, v1, acc[r][1]);
        acc[r][2] = hn::MulAdd(pv, v2, acc[r][2]);
        acc[r][3] = hn::MulAdd(pv, v3, acc[r][3]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const V vi = hn::Set(d, inv[r]);
      for (int x = 0; x < 4; ++x) hn::StoreU(hn::Mul(acc[r][x], vi), d, o + r * Dv + c0 + x * N);
    }
  }
  for (int r = 0; r < R; ++r) {  // the last Dv % 4N columns
    float* orow = o + r * Dv;
    for (int64_t c = c0; c < Dv; ++c) orow[c] = 0.0f;
    for (int64_t j = 0; j < n && c0 < Dv; ++j) Axpy(p[r * ldp + j], v + j * Dv + c0, orow + c0, Dv - c0);
    for (int64_t c = c0; c < Dv; ++c) orow[c] *= inv[r];
  }
}

// Rows [i0, i1) (at most kQueryBlock) of one head: q rows of D from q_head, out rows of Dv.
// scratch: D * Tk (K^T) + 4 * Tk (scores) floats.
void AttentionRowsF32(const float* HWY_RESTRICT q_head, const float* HWY_RESTRICT kb, const float* HWY_RESTRICT vb,
                      const bool* keep, float* HWY_RESTRICT out_head, float* HWY_RESTRICT scratch, int64_t i0,
                      int64_t i1, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale, bool causal) {
  // Query i sees keys [0, visible(i)); the block needs keys up to its last row's.
  auto visible = [&](int64_t i) { return causal ? std::clamp<int64_t>(Tk - Tq + i + 1, 0, Tk) : Tk; };
  const int64_t n = visible(i1 - 1);
  float* kt = scratch;           // [D][n]
  float* sc = scratch + D * Tk;  // [4][n]
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < D; ++c) kt[c * n + j] = kb[j * D + c];
  for (int64_t i = i0; i < i1; i += 4) {
    const int rows = int(std::min<int64_t>(4, i1 - i));
    const float* qi = q_head + i * D;
    float* oi = out_head + i * Dv;
    float inv[4];
    switch (rows) {
      case 4: ScoresRows<4>(qi, D, kt, n, n, scale, sc, n); break;
      case 3: ScoresRows<3>(qi, D, kt, n, n, scale, sc, n); break;
      case 2: ScoresRows<2>(qi, D, kt, n, n, scale, sc, n); break;
      default: ScoresRows<1>(qi, D, kt, n, n, scale, sc, n); break;
    }
    for (int r = 0; r < rows; ++r) inv[r] = SoftmaxRow(sc + r * n, n, visible(i + r), keep);
    switch (rows) {
      case 4: WeightedValues<4>(sc, n, inv, vb, n, Dv, oi); break;
      case 3: WeightedValues<3>(sc, n, inv, vb, n, Dv, oi); break;
      case 2: WeightedValues<2>(sc, n, inv, vb, n, Dv, oi); break;
      default: WeightedValues<1>(sc, n, inv, vb, n, Dv, oi); break;
    }
  }
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(DotF32);
HWY_EXPORT(AttentionRowF32);
HWY_EXPORT(AttentionRowsF32);

namespace simd {

namespace {
constexpr int64_t kBlockedMinRows = 8;  // fewer query rows: one row per task, K read in place
constexpr int64_t kQueryBlock = 64;     // rows per task share one K^T
}  // namespace

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n); }

void attention(const float* q, const float* k, const float* v, const bool* key_keep, float* out, int64_t B,
               int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
               bool causal) {
  const int64_t group = H / Hkv;
  if (Tq >= kBlockedMinRows && Tk > 0) {
    // Tasks: (b, h, block of up to kQueryBlock query rows).
    const int64_t blocks = (Tq + kQueryBlock - 1) / kQueryBlock;
    parallel_for(0, B * H * blocks, 1, [&](int64_t t0, int64_t t1) {
      // Per thread, kept between calls: a layer's tasks would otherwise each allocate and zero it.
      thread_local std::vector<float> scratch;
      scratch.resize(std::max(scratch.size(), size_t((D + 4) * Tk)));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t blk = t % blocks, bh = t / blocks, h = bh % H, b = bh / H, hk = h / group;
        const int64_t i0 = blk * kQueryBlock, i1 = std::min(Tq, i0 + kQueryBlock);
        HWY_DYNAMIC_DISPATCH(AttentionRowsF32)(q + bh * Tq * D, k + (b * Hkv + hk) * Tk * D, v + (b * Hkv + hk) * Tk * Dv,
                                               key_keep ? key_keep + b * Tk : nullptr, out + bh * Tq * Dv,
                                               scratch.data(), i0, i1, Tq, Tk, D, Dv, scale, causal);
      }
    });
    return;
  }
  const int64_t rows = B * H * Tq;
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(Tk * D, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<float> scores(size_t(std::max<int64_t>(Tk, 1)));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % Tq, bh = r / Tq, h = bh % H, b = bh / H;
      const int64_t hk = h / group;
      // Keys after the query's absolute position (Tk - Tq + i) are invisible under the causal mask.
      const int64_t visible_end = causal ? std::min<int64_t>(Tk, Tk - Tq + i + 1) : Tk;
      HWY_DYNAMIC_DISPATCH(AttentionRowF32)(q + r * D, k + (b * Hkv + hk) * Tk * D, v + (b * Hkv + hk) * Tk * Dv,
                                            key_keep ? key_keep + b * Tk : nullptr, out + r * Dv, scores.data(),
                                            std::max<int64_t>(visible_end, 0), D, Dv, scale);
    }
  });
}

}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
