// Fused scaled-dot-product attention on f32, one query row per task: scores for all visible keys
// (SIMD dot products), a stable softmax, then the weighted sum of values (SIMD axpy). Memory per
// thread is O(Tk), never O(Tq x Tk). GQA: query head h reads key/value head h / (H / Hkv).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

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

// One query row. scores has room for Tk floats.
void AttentionRowF32(const float* HWY_RESTRICT qi, const float* HWY_RESTRICT kb, const float* HWY_RESTRICT vb,
                     const bool* keep, float* HWY_RESTRICT oi, float* HWY_RESTRICT scores, int64_t Tk,
                     int64_t visible_end, int64_t D, int64_t Dv, float scale) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float m = neg_inf;
  for (int64_t j = 0; j < visible_end; ++j) {
    if (keep && !keep[j]) { scores[j] = neg_inf; continue; }
    scores[j] = DotF32(qi, kb + j * D, D) * scale;
    m = scores[j] > m ? scores[j] : m;
  }
  for (int64_t c = 0; c < Dv; ++c) oi[c] = 0.0f;
  if (m == neg_inf) return;  // no visible key: zeros (documented in ref_kernels.h)
  const auto vm = hn::Set(d, m);
  auto vs = hn::Zero(d);
  int64_t j = 0;
  for (; j + N <= visible_end; j += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, scores + j), vm));
    hn::StoreU(e, d, scores + j);
    vs = hn::Add(vs, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vs));
  for (; j < visible_end; ++j) sum += scores[j] = std::exp(scores[j] - m);
  for (j = 0; j < visible_end; ++j)
    if (scores[j] != 0.0f) Axpy(scores[j], vb + j * Dv, oi, Dv);
  const float inv = 1.0f / sum;
  for (int64_t c = 0; c < Dv; ++c) oi[c] *= inv;
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(DotF32);
HWY_EXPORT(AttentionRowF32);

namespace simd {

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n); }

void attention(const float* q, const float* k, const float* v, const bool* key_keep, float* out, int64_t B,
               int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
               bool causal) {
  const int64_t group = H / Hkv;
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
                                            Tk, std::max<int64_t>(visible_end, 0), D, Dv, scale);
    }
  });
}

}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
