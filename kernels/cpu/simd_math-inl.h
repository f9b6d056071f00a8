// Vector math that Highway's contrib/math lacks: sigmoid and erf. Included inside each per-ISA
// namespace (no include guard: foreach_target re-includes it once per target).
#if defined(RSCAPRET_SIMD_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef RSCAPRET_SIMD_MATH_INL_H_
#undef RSCAPRET_SIMD_MATH_INL_H_
#else
#define RSCAPRET_SIMD_MATH_INL_H_
#endif

#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 1 / (1 + exp(-x)); exp's argument is clamped so that it neither overflows to inf
// (-x > 88.7) nor loses the tiny results: sigmoid(-100) underflows to 0 like the scalar form.
// The division is a reciprocal estimate refined by one Newton step (r' = r (2 - d r)): on x86 the
// estimate has 14 bits (AVX-512) or 12 bits (AVX2), so one step reaches f32 precision
// (2^-24 or a few ulp), at a fraction of a vector division's cost.
template <class D, class V>
HWY_INLINE V Reciprocal(D d, V den) {
  const V r = hn::ApproximateReciprocal(den);
  return hn::Mul(r, hn::NegMulAdd(den, r, hn::Set(d, 2.0f)));
}

template <class D, class V>
HWY_INLINE V Sigmoid(D d, V x) {
  const V arg = hn::Min(hn::Neg(x), hn::Set(d, 88.0f));
  return Reciprocal(d, hn::Add(hn::Set(d, 1.0f), hn::Exp(d, arg)));
}

// erf(x) by Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7, below f32 resolution near 1).
template <class D, class V>
HWY_INLINE V Erf(D d, V x) {
  const V ax = hn::Abs(x);
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(hn::Set(d, 0.3275911f), ax, hn::Set(d, 1.0f)));
  V poly = hn::Set(d, 1.061405429f);
  poly = hn::MulAdd(poly, t, hn::Set(d, -1.453152027f));
  poly = hn::MulAdd(poly, t, hn::Set(d, 1.421413741f));
  poly = hn::MulAdd(poly, t, hn::Set(d, -0.284496736f));
  poly = hn::MulAdd(poly, t, hn::Set(d, 0.254829592f));
  poly = hn::Mul(poly, t);
  const V e = hn::Exp(d, hn::Neg(hn::Mul(ax, ax)));
  const V y = hn::NegMulAdd(poly, e, hn::Set(d, 1.0f));  // 1 - poly * e
  return hn::CopySign(y, x);
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // RSCAPRET_SIMD_MATH_INL_H_
