#include <cmath>

#include "kernels/cpu/adamw.h"

// As in the SIMD kernel: no multiply-add contraction, so both give the same bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

namespace rscapret::kernels::ref {

template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s) {
  // Every constant is formed in double and rounded once (1 - 0.999f in f32 would be off by
  // 1.3e-5 relative), as PyTorch does with its Python-float hyper-parameters.
  const T decay = T(1.0 - s.lr * s.weight_decay);
  const double w = 1.0 - s.beta1;  // lerp weight
  // lerp(m, g, w) = base + c (g - m): PyTorch's two forms, chosen once (negation is exact).
  const bool from_m = std::abs(w) < 0.5;
  const T c = from_m ? T(w) : -(T(1) - T(w));
  const T b2 = T(s.beta2), one_minus_b2 = T(1.0 - s.beta2);
  const T neg_step_size = T(-s.lr / s.bias_correction1);
  const T sqrt_bc2 = T(std::sqrt(s.bias_correction2));
  const T eps = T(s.eps);
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= decay;
    m[i] = (from_m ? m[i] : g[i]) + c * (g[i] - m[i]);
    v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
    p[i] += neg_step_size * m[i] / (std::sqrt(v[i]) / sqrt_bc2 + eps);
  }
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t, const AdamWStep&);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t, const AdamWStep&);

}  // namespace rscapret::kernels::ref
