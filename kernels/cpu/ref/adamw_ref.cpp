#include <cmath>

#include "kernels/cpu/adamw.h"

namespace rscapret::kernels::ref {

template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s) {
  const T decay = T(1.0 - s.lr * s.weight_decay);
  // 1 - beta in double, then rounded (as PyTorch applies its Python-float hyper-parameters):
  // 1 - 0.999f in f32 would be off by 1.3e-5 relative.
  const T b1 = T(s.beta1), b2 = T(s.beta2), one_minus_b1 = T(1.0 - s.beta1), one_minus_b2 = T(1.0 - s.beta2);
  const T step_size = T(s.lr / s.bias_correction1);
  const T inv_sqrt_bc2 = T(1.0 / std::sqrt(s.bias_correction2));
  const T eps = T(s.eps);
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= decay;
    m[i] = b1 * m[i] + one_minus_b1 * g[i];
    v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t, const AdamWStep&);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t, const AdamWStep&);

}  // namespace rscapret::kernels::ref
