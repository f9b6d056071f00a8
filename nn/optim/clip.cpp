#include "nn/optim/clip.h"

#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"

namespace rscapret::nn {

namespace {
// Sum of squares of one gradient in double, element order: a fixed order, so fixed bits.
double sum_of_squares(const Tensor& g) {
  double sum = 0;
  auto add = [&](const auto* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
  };
  if (g.device().is_cpu() && g.is_contiguous() && g.dtype() == DType::f32)
    add(g.data<float>(), g.numel());  // the usual case: no copy
  else if (g.device().is_cpu() && g.is_contiguous() && g.dtype() == DType::f64)
    add(g.data<double>(), g.numel());
  else {
    const auto v = g.to_vector<double>();  // other dtypes, strides: one host copy
    add(v.data(), int64_t(v.size()));
  }
  return sum;
}
}  // namespace

namespace detail {
double sum_of_squares_by_ops(const std::vector<Tensor>& ts) {
  autograd::NoGradGuard no_grad;
  Tensor total;  // 0-d, on the tensors' device
  for (const Tensor& t : ts) {
    const Tensor sq = ops::sum_all(ops::mul(t, t));
    total = total.defined() ? ops::add(total, sq) : sq;
  }
  return total.defined() ? total.to(Device::cpu()).item() : 0.0;
}
}  // namespace detail

double grad_norm(const std::vector<Tensor>& params) {
  double sum = 0;
  std::vector<Tensor> on_device;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.device().is_cpu())
      sum += sum_of_squares(g);
    else
      on_device.push_back(g);
  }
  // Device grads are reduced where they live: one host read for all of them instead of a copy of
  // every gradient. (A model's parameters share one device.)
  if (!on_device.empty()) sum += detail::sum_of_squares_by_ops(on_device);
  return std::sqrt(sum);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  RS_CHECK(max_norm > 0, ValueError, "clip_grad_norm", "max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) return norm;  // reported, not applied: the caller skips the step
  // PyTorch's rule: coef = max_norm / (norm + 1e-6), clamped to 1 (multiplying by 1 is a no-op).
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;
  autograd::NoGradGuard no_grad;
  for (Tensor p : params) {  // a handle copy shares the autograd state, so this sets p's grad
    const Tensor g = p.grad();
    // Out of place: the engine may hand one cotangent tensor to several leaves as their grad,
    // and scaling it in place would scale it once per leaf.
    if (g.defined()) p.set_grad(ops::mul(g, coef));
  }
  return norm;
}

}  // namespace rscapret::nn
