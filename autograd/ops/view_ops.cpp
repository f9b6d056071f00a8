// Differentiable views: each returns the raw view of tensor/ and records the vjp that routes the
// cotangent back to the input's shape and layout.
#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"

namespace rscapret::ops {

Tensor detach(const Tensor& x) {
  Tensor d = x;
  d.set_autograd_meta(nullptr);
  return d;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.reshape(shape);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("reshape", y, {&x}, [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  Tensor y = x.permute(dims);
  if (!autograd::needs_grad({&x})) return y;
  std::vector<int> wrapped;
  for (int d : dims) wrapped.push_back(x.wrap_dim(d, "permute"));
  const auto inv = detail::inverse_permutation(wrapped);
  return autograd::record("permute", y, {&x}, [inv](const Tensor& g) { return std::vector<Tensor>{g.permute(inv)}; });
}

Tensor transpose(const Tensor& x, int d0, int d1) {
  Tensor y = x.transpose(d0, d1);
  if (!autograd::needs_grad({&x})) return y;
  return autograd::record("transpose", y, {&x},
                          [d0, d1](const Tensor& g) { return std::vector<Tensor>{g.transpose(d0, d1)}; });
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  Tensor y = x.narrow(dim, start, length);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("narrow", y, {&x}, [=](const Tensor& g) {
    return std::vector<Tensor>{detail::scatter_into_zeros(in, g, [&](const Tensor& z) { return z.narrow(dim, start, length); })};
  });
}

Tensor select(const Tensor& x, int dim, int64_t index) {
  Tensor y = x.select(dim, index);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("select", y, {&x}, [=](const Tensor& g) {
    return std::vector<Tensor>{detail::scatter_into_zeros(in, g, [&](const Tensor& z) { return z.select(dim, index); })};
  });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor y = x.expand(shape);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("expand", y, {&x}, [in](const Tensor& g) { return std::vector<Tensor>{detail::sum_to(g, in)}; });
}

Tensor squeeze(const Tensor& x, int dim) {
  Tensor y = x.squeeze(dim);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("squeeze", y, {&x}, [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Tensor unsqueeze(const Tensor& x, int dim) {
  Tensor y = x.unsqueeze(dim);
  if (!autograd::needs_grad({&x})) return y;
  const Shape in = x.shape();
  return autograd::record("unsqueeze", y, {&x}, [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Tensor contiguous(const Tensor& x) {
  Tensor y = x.contiguous();
  if (!autograd::needs_grad({&x})) return y;
  return autograd::record("contiguous", y, {&x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

void register_view_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"reshape", "permute", "transpose", "narrow", "select", "expand", "squeeze", "unsqueeze",
                        "contiguous"})
    out.push_back({n, "view", true, false, false});
}

}  // namespace rscapret::ops
