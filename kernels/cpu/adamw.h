// The fused AdamW update of one tensor (PyTorch's torch.optim.AdamW, amsgrad off):
//   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 - b_i^t.
#pragma once

#include <cstdint>

namespace rscapret::kernels {

struct AdamWStep {
  double lr, beta1, beta2, eps, weight_decay;
  double bias_correction1, bias_correction2;  // 1 - beta^t
};

namespace ref {
template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s);
}
namespace simd {
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);
}

}  // namespace rscapret::kernels
