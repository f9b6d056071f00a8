// Contiguous conversions between f32 and the 16-bit float types (weights stored as bf16/f16).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/convert.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"
#include "tensor/dtype.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void Bf16ToF32(const uint16_t* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::bfloat16_t, decltype(d)> dbf;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  const auto* xb = reinterpret_cast<const hwy::bfloat16_t*>(x);
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::LoadU(dbf, xb + i)), d, y + i);
  for (; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void F16ToF32(const uint16_t* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  const auto* xh = reinterpret_cast<const hwy::float16_t*>(x);
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, xh + i)), d, y + i);
  for (; i < n; ++i) y[i] = f16_to_f32(x[i]);
}

// f32 -> bf16 rounds to nearest even, NaN stays NaN: the same bits as the scalar f32_to_bf16.
void F32ToBf16(const float* HWY_RESTRICT x, uint16_t* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<uint16_t, decltype(du)> du16;
  const hn::Rebind<int32_t, decltype(du)> di32;
  const int64_t N = int64_t(hn::Lanes(du));
  int64_t i = 0;
  const auto* xu = reinterpret_cast<const uint32_t*>(x);
  const auto exp_mask = hn::Set(du, 0x7fffffffu), inf = hn::Set(du, 0x7f800000u);
  for (; i + N <= n; i += N) {
    const auto u = hn::LoadU(du, xu + i);
    const auto is_nan = hn::Gt(hn::And(u, exp_mask), inf);
    const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
    const auto rounded = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), lsb)));
    const auto quiet = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
    const auto r = hn::IfThenElse(is_nan, quiet, rounded);
    // r < 65536: an i32 -> u16 demotion (saturating pack) is exact.
    hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di32, r)), du16, y + i);
  }
  for (; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

void F32ToF16(const float* HWY_RESTRICT x, uint16_t* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  auto* yh = reinterpret_cast<hwy::float16_t*>(y);
  for (; i + N <= n; i += N) hn::StoreU(hn::DemoteTo(dh, hn::LoadU(d, x + i)), dh, yh + i);
  for (; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(Bf16ToF32);
HWY_EXPORT(F16ToF32);
HWY_EXPORT(F32ToBf16);
HWY_EXPORT(F32ToF16);

namespace simd {
constexpr int64_t kConvertGrain = 1 << 16;
void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  parallel_for(0, n, kConvertGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(Bf16ToF32)(x + b, y + b, e - b); });
}
void f16_to_f32(const uint16_t* x, float* y, int64_t n) {
  parallel_for(0, n, kConvertGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(F16ToF32)(x + b, y + b, e - b); });
}
void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  parallel_for(0, n, kConvertGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(F32ToBf16)(x + b, y + b, e - b); });
}
void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  parallel_for(0, n, kConvertGrain, [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(F32ToF16)(x + b, y + b, e - b); });
}
}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
