#include "nn/optim/clip.h"

#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"

namespace rscapret::nn {

double grad_norm(const std::vector<Tensor>& params) {
  double sum = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    for (double x : g.to_vector<double>()) sum += x * x;
  }
  return std::sqrt(sum);
}

bool grads_finite(const std::vector<Tensor>& params) { return std::isfinite(grad_norm(params)); }

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  RS_CHECK(max_norm > 0, ValueError, "clip_grad_norm", "max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  autograd::NoGradGuard no_grad;
  const double scale = max_norm / (norm + 1e-6);
  for (Tensor p : params) {  // a handle copy shares the autograd state, so this sets p's grad
    const Tensor g = p.grad();
    if (g.defined()) p.set_grad(ops::mul(g, scale));
  }
  return norm;
}

}  // namespace rscapret::nn
