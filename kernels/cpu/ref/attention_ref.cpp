// Scaled-dot-product attention, one query row at a time, two passes (max, then weights), double sums.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
void attention(const T* q, const T* k, const T* v, const bool* key_keep, T* out, int64_t B, int64_t H,
               int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, T scale, bool causal) {
  const int64_t group = H / Hkv;  // query heads per key/value head (GQA)
  std::vector<double> s(size_t(Tk > 0 ? Tk : 1));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / group;
      const T* kb = k + (b * Hkv + hk) * Tk * D;
      const T* vb = v + (b * Hkv + hk) * Tk * Dv;
      for (int64_t i = 0; i < Tq; ++i) {
        const T* qi = q + ((b * H + h) * Tq + i) * D;
        T* oi = out + ((b * H + h) * Tq + i) * Dv;
        const int64_t qpos = Tk - Tq + i;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Tk; ++j) {
          const bool visible = (!causal || j <= qpos) && (!key_keep || key_keep[b * Tk + j]);
          if (!visible) { s[j] = -std::numeric_limits<double>::infinity(); continue; }
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += double(qi[d]) * double(kb[j * D + d]);
          s[j] = dot * double(scale);
          m = std::max(m, s[j]);
        }
        for (int64_t d = 0; d < Dv; ++d) oi[d] = T(0);
        if (std::isinf(m) && m < 0) continue;  // no visible key: zeros
        double sum = 0;
        for (int64_t j = 0; j < Tk; ++j) sum += s[j] = std::exp(s[j] - m);
        for (int64_t d = 0; d < Dv; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Tk; ++j) acc += s[j] * double(vb[j * Dv + d]);
          oi[d] = T(acc / sum);
        }
      }
    }
}

template void attention<float>(const float*, const float*, const float*, const bool*, float*, int64_t, int64_t,
                               int64_t, int64_t, int64_t, int64_t, int64_t, float, bool);
template void attention<double>(const double*, const double*, const double*, const bool*, double*, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, bool);

}  // namespace rscapret::kernels::ref
