// Rotary position embedding. Frequency i of a head: theta^(-2i / rotary_dim); the angle is
// position * frequency, computed in double (the fixtures' reference runs in float64).
#include <cmath>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
void rope(const T* x, T* y, const int64_t* positions, int64_t B, int64_t T_, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse) {
  const int64_t half = rotary_dim / 2;
  for (int64_t bt = 0; bt < B * T_; ++bt) {
    const double pos = double(positions[bt]);
    for (int64_t h = 0; h < H; ++h) {
      const T* xh = x + (bt * H + h) * D;
      T* yh = y + (bt * H + h) * D;
      for (int64_t d = rotary_dim; d < D; ++d) yh[d] = xh[d];  // pass-through tail
      for (int64_t i = 0; i < half; ++i) {
        const double freq = std::pow(theta, -2.0 * double(i) / double(rotary_dim));
        const double angle = pos * freq;
        const double c = std::cos(angle), s = inverse ? -std::sin(angle) : std::sin(angle);
        const int64_t i1 = layout == RopeLayout::half_split ? i : 2 * i;
        const int64_t i2 = layout == RopeLayout::half_split ? i + half : 2 * i + 1;
        const double x1 = double(xh[i1]), x2 = double(xh[i2]);
        yh[i1] = T(x1 * c - x2 * s);
        yh[i2] = T(x2 * c + x1 * s);
      }
    }
  }
}

template void rope<float>(const float*, float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t,
                          double, RopeLayout, bool);
template void rope<double>(const double*, double*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                           int64_t, double, RopeLayout, bool);

}  // namespace rscapret::kernels::ref
