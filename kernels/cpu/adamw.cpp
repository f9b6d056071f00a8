// AdamW over one f32 tensor in a single pass (p, g, m, v each read once, p, m, v written once):
// the same operations in the same order as the scalar reference (kernels/cpu/ref/adamw_ref.cpp).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/adamw.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/parallel.h"

// No multiply-add contraction: every operation rounds once, so the result is the same bits on
// every SIMD target (SSE4 has no FMA, AVX2 has), in the scalar tail, and in the reference, and a
// run resumed on another machine still continues bit for bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AdamWF32(float* HWY_RESTRICT p, const float* HWY_RESTRICT g, float* HWY_RESTRICT m, float* HWY_RESTRICT v,
              int64_t n, const AdamWStep& s) {
  const float decay = float(1.0 - s.lr * s.weight_decay);
  const double w = 1.0 - s.beta1;
  const bool from_m = std::abs(w) < 0.5;  // PyTorch's lerp form (see the header)
  const float c = from_m ? float(w) : -(1.0f - float(w));
  const float b2 = float(s.beta2), one_minus_b2 = float(1.0 - s.beta2);
  const float neg_step_size = float(-s.lr / s.bias_correction1);
  const float sqrt_bc2 = float(std::sqrt(s.bias_correction2)), eps = float(s.eps);

  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vdecay = hn::Set(d, decay), vc = hn::Set(d, c), vb2 = hn::Set(d, b2), v1b2 = hn::Set(d, one_minus_b2),
             vstep = hn::Set(d, neg_step_size), vbc2 = hn::Set(d, sqrt_bc2), veps = hn::Set(d, eps);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto gv = hn::LoadU(d, g + i);
    const auto m0 = hn::LoadU(d, m + i);
    const auto pv = hn::Mul(hn::LoadU(d, p + i), vdecay);
    const auto mv = hn::Add(from_m ? m0 : gv, hn::Mul(vc, hn::Sub(gv, m0)));
    const auto vv = hn::Add(hn::Mul(hn::LoadU(d, v + i), vb2), hn::Mul(hn::Mul(v1b2, gv), gv));
    const auto denom = hn::Add(hn::Div(hn::Sqrt(vv), vbc2), veps);
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(vstep, mv), denom)), d, p + i);
  }
  for (; i < n; ++i) {  // tail: the reference's scalar loop
    p[i] *= decay;
    m[i] = (from_m ? m[i] : g[i]) + c * (g[i] - m[i]);
    v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
    p[i] += neg_step_size * m[i] / (std::sqrt(v[i]) / sqrt_bc2 + eps);
  }
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(AdamWF32);
namespace simd {
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  // The grain is a multiple of every vector width, so the vector/tail split of each element, and
  // with it its bits, is the same for any thread count.
  parallel_for(0, n, 1 << 15, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(AdamWF32)(p + b, g + b, m + b, v + b, e - b, s);
  });
}
}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
