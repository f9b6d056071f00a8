// LayerNorm, RMSNorm and rotary position embedding, over contiguous rows of the last dim.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"

namespace rscapret::ops {

namespace {

void check_param(const char* op, const char* what, const Tensor& p, int64_t C) {
  if (!p.defined()) return;
  RS_CHECK(p.dim() == 1 && p.shape()[0] == C, ShapeError, op, what, " must have shape (", C, "), got ",
           format_shape(p.shape()));
}

template <typename T>
const T* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const Device dev = detail::common_device("layer_norm", {&x, &weight, &bias});
  if (!dev.is_cpu()) detail::no_cuda_kernel("layer_norm");
  RS_CHECK(x.dim() >= 1, ShapeError, "layer_norm", "needs at least one dimension");
  const int64_t C = x.shape().back();
  check_param("layer_norm", "weight", weight, C);
  check_param("layer_norm", "bias", bias, C);
  const DType ct = detail::compute_dtype("layer_norm", {&x, &weight, &bias});
  const Tensor X = detail::as_dtype(x, ct).contiguous();
  const Tensor W = weight.defined() ? detail::as_dtype(weight, ct).contiguous() : Tensor();
  const Tensor B = bias.defined() ? detail::as_dtype(bias, ct).contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), ct);
  const int64_t rows = C ? X.numel() / C : 0;
  if (ct == DType::f64)
    kernels::ref::layer_norm<double>(X.data<double>(), ptr_or_null<double>(W), ptr_or_null<double>(B),
                                     y.data<double>(), nullptr, nullptr, rows, C, eps);
  else if (reference_kernels_forced())
    kernels::ref::layer_norm<float>(X.data<float>(), ptr_or_null<float>(W), ptr_or_null<float>(B), y.data<float>(),
                                    nullptr, nullptr, rows, C, float(eps));
  else
    kernels::simd::layer_norm(X.data<float>(), ptr_or_null<float>(W), ptr_or_null<float>(B), y.data<float>(),
                              nullptr, nullptr, rows, C, float(eps));
  return y;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const Device dev = detail::common_device("rms_norm", {&x, &weight});
  if (!dev.is_cpu()) detail::no_cuda_kernel("rms_norm");
  RS_CHECK(x.dim() >= 1, ShapeError, "rms_norm", "needs at least one dimension");
  const int64_t C = x.shape().back();
  check_param("rms_norm", "weight", weight, C);
  const DType ct = detail::compute_dtype("rms_norm", {&x, &weight});
  const Tensor X = detail::as_dtype(x, ct).contiguous();
  const Tensor W = weight.defined() ? detail::as_dtype(weight, ct).contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), ct);
  const int64_t rows = C ? X.numel() / C : 0;
  if (ct == DType::f64)
    kernels::ref::rms_norm<double>(X.data<double>(), ptr_or_null<double>(W), y.data<double>(), nullptr, rows, C, eps);
  else if (reference_kernels_forced())
    kernels::ref::rms_norm<float>(X.data<float>(), ptr_or_null<float>(W), y.data<float>(), nullptr, rows, C,
                                  float(eps));
  else
    kernels::simd::rms_norm(X.data<float>(), ptr_or_null<float>(W), y.data<float>(), nullptr, rows, C, float(eps));
  return y;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta, RopeLayout layout, int64_t rotary_dim,
            bool inverse) {
  const Device dev = detail::common_device("rope", {&x, &positions});
  if (!dev.is_cpu()) detail::no_cuda_kernel("rope");
  RS_CHECK(x.dim() == 4, ShapeError, "rope", "x must be [B, T, H, D], got ", format_shape(x.shape()));
  const int64_t B = x.shape()[0], T = x.shape()[1], H = x.shape()[2], D = x.shape()[3];
  if (rotary_dim < 0) rotary_dim = D;
  RS_CHECK(rotary_dim % 2 == 0 && rotary_dim <= D, ShapeError, "rope", "rotary_dim ", rotary_dim,
           " must be even and at most D = ", D);
  RS_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32, DTypeError, "rope",
           "positions must be integer, got ", positions.describe());
  RS_CHECK((positions.dim() == 1 && positions.shape()[0] == T) ||
               (positions.dim() == 2 && positions.shape()[0] == B && positions.shape()[1] == T),
           ShapeError, "rope", "positions must be [T] or [B, T] = [", B, ", ", T, "], got ",
           format_shape(positions.shape()));
  RS_CHECK(theta > 0, ValueError, "rope", "theta must be positive, got ", theta);
  const Tensor pos = positions.to(DType::i64).expand({B, T}).contiguous();
  const DType ct = detail::compute_dtype("rope", {&x});
  const Tensor X = detail::as_dtype(x, ct).contiguous();
  Tensor y = Tensor::empty(x.shape(), ct);
  if (ct == DType::f64)
    kernels::ref::rope<double>(X.data<double>(), y.data<double>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta,
                               layout, inverse);
  else if (reference_kernels_forced())
    kernels::ref::rope<float>(X.data<float>(), y.data<float>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta,
                              layout, inverse);
  else
    kernels::simd::rope(X.data<float>(), y.data<float>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta, layout,
                        inverse);
  return y;
}

void register_norm_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"layer_norm", "rms_norm", "rope"}) out.push_back({n, "norm", true, true, false});
}

}  // namespace rscapret::ops
