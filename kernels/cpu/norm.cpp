// Fused f32 normalisation kernels: LayerNorm (two-pass mean/variance, biased as PyTorch), RMSNorm,
// and rotary position embedding. Rows are independent and go to threads whole.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/norm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE float SumSquaresCentered(const float* HWY_RESTRICT x, float c, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vc = hn::Set(d, c);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::Sub(hn::LoadU(d, x + i), vc);
    const auto b = hn::Sub(hn::LoadU(d, x + i + N), vc);
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::Sub(hn::LoadU(d, x + i), vc);
    s0 = hn::MulAdd(a, a, s0);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += (x[i] - c) * (x[i] - c);
  return s;
}

HWY_INLINE float Sum(const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) s = hn::Add(s, hn::LoadU(d, x + i));
  float r = hn::GetLane(hn::SumOfLanes(d, s));
  for (; i < n; ++i) r += x[i];
  return r;
}

void LayerNormRowsF32(const float* HWY_RESTRICT x, const float* w, const float* b, float* HWY_RESTRICT y,
                      float* mean_out, float* rstd_out, int64_t r0, int64_t r1, int64_t cols, float eps) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float mean = Sum(xr, cols) / float(cols);
    const float var = SumSquaresCentered(xr, mean, cols) / float(cols);
    const float rstd = 1.0f / std::sqrt(var + eps);
    const auto vm = hn::Set(d, mean), vr = hn::Set(d, rstd);
    int64_t i = 0;
    for (; i + N <= cols; i += N) {
      auto v = hn::Mul(hn::Sub(hn::LoadU(d, xr + i), vm), vr);
      if (w) v = hn::Mul(v, hn::LoadU(d, w + i));
      if (b) v = hn::Add(v, hn::LoadU(d, b + i));
      hn::StoreU(v, d, yr + i);
    }
    for (; i < cols; ++i) {
      float v = (xr[i] - mean) * rstd;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
    if (mean_out) mean_out[r] = mean;
    if (rstd_out) rstd_out[r] = rstd;
  }
}

void RmsNormRowsF32(const float* HWY_RESTRICT x, const float* w, float* HWY_RESTRICT y, float* rstd_out,
                    int64_t r0, int64_t r1, int64_t cols, float eps) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float rstd = 1.0f / std::sqrt(SumSquaresCentered(xr, 0.0f, cols) / float(cols) + eps);
    const auto vr = hn::Set(d, rstd);
    int64_t i = 0;
    for (; i + N <= cols; i += N) {
      auto v = hn::Mul(hn::LoadU(d, xr + i), vr);
      if (w) v = hn::Mul(v, hn::LoadU(d, w + i));
      hn::StoreU(v, d, yr + i);
    }
    for (; i < cols; ++i) yr[i] = xr[i] * rstd * (w ? w[i] : 1.0f);
    if (rstd_out) rstd_out[r] = rstd;
  }
}

// Rotates the pairs of one head given cos/sin per frequency. Half-split pairs (i, i + half) are two
// dense vectors; interleaved pairs (2i, 2i+1) are handled by the scalar loop.
void RopeHeadF32(const float* HWY_RESTRICT x, float* HWY_RESTRICT y, const float* HWY_RESTRICT cosv,
                 const float* HWY_RESTRICT sinv, int64_t half, int64_t D, int64_t rotary_dim, bool split) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  if (split) {
    for (; i + N <= half; i += N) {
      const auto x1 = hn::LoadU(d, x + i), x2 = hn::LoadU(d, x + i + half);
      const auto c = hn::LoadU(d, cosv + i), s = hn::LoadU(d, sinv + i);
      hn::StoreU(hn::NegMulAdd(x2, s, hn::Mul(x1, c)), d, y + i);
      hn::StoreU(hn::MulAdd(x1, s, hn::Mul(x2, c)), d, y + i + half);
    }
  }
  for (; i < half; ++i) {
    const int64_t i1 = split ? i : 2 * i, i2 = split ? i + half : 2 * i + 1;
    const float x1 = x[i1], x2 = x[i2];
    y[i1] = x1 * cosv[i] - x2 * sinv[i];
    y[i2] = x2 * cosv[i] + x1 * sinv[i];
  }
  for (int64_t k = rotary_dim; k < D; ++k) y[k] = x[k];
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(LayerNormRowsF32);
HWY_EXPORT(RmsNormRowsF32);
HWY_EXPORT(RopeHeadF32);

namespace simd {


void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                int64_t rows, int64_t cols, float eps) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LayerNormRowsF32)(x, w, b, y, mean, rstd, r0, r1, cols, eps);
  });
}

void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t cols, float eps) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(RmsNormRowsF32)(x, w, y, rstd, r0, r1, cols, eps);
  });
}

void rope(const float* x, float* y, const int64_t* positions, int64_t B, int64_t T, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse) {
  const int64_t half = rotary_dim / 2;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) freq[i] = std::pow(theta, -2.0 * double(i) / double(rotary_dim));
  parallel_for(0, B * T, std::max<int64_t>(1, 4096 / std::max<int64_t>(H * D, 1)), [&](int64_t b0, int64_t b1) {
    std::vector<float> cosv(static_cast<size_t>(half)), sinv(static_cast<size_t>(half));
    for (int64_t bt = b0; bt < b1; ++bt) {
      // Angles in double, as the reference: positions up to 1e5 times frequencies near 1 need it.
      const double pos = double(positions[bt]);
      for (int64_t i = 0; i < half; ++i) {
        cosv[i] = float(std::cos(pos * freq[i]));
        sinv[i] = float(inverse ? -std::sin(pos * freq[i]) : std::sin(pos * freq[i]));
      }
      for (int64_t h = 0; h < H; ++h)
        HWY_DYNAMIC_DISPATCH(RopeHeadF32)(x + (bt * H + h) * D, y + (bt * H + h) * D, cosv.data(),
                                          sinv.data(), half, D, rotary_dim, layout == RopeLayout::half_split);
    }
  });
}

}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
