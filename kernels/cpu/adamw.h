// The fused AdamW update of one tensor, operation for operation as PyTorch's single-tensor
// torch.optim.AdamW (amsgrad off, maximize off), each hyper-parameter rounded to T as PyTorch
// rounds its Python-float scalars:
//   p *= 1 - lr*wd
//   m  = lerp(m, g, 1 - b1)               (m + w (g - m), or g - (1 - w)(g - m) when w >= 0.5)
//   v  = v*b2 + (1 - b2)*g*g
//   p += (-lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),     bc_i = 1 - b_i^t
// Elements are independent, so any split of the range gives the same bits.
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
