// LayerNorm, RMSNorm and rotary position embedding, over contiguous rows of the last dim.
#include <atomic>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tensor/feature_switch.h"

namespace rscapret::ops {

namespace {

void check_param(const char* op, const char* what, const Tensor& p, int64_t C) {
  if (!p.defined()) return;
  RS_CHECK(p.dim() == 1 && p.shape()[0] == C, ShapeError, op, what, " must have shape (", C, "), got ",
           format_shape(p.shape()));
}

template <typename T>
const T* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

using Grads = std::vector<Tensor>;
bool wants(const Tensor& t) { return t.defined() && t.requires_grad(); }

// Sum over every dim but the last: [..., C] -> [C] (the weight and bias gradients).
Tensor sum_rows(const Tensor& t) { return sum(t.reshape({-1, t.shape().back()}), 0); }

// The backward of a normalisation, composed of ops (the first backward; a fused kernel can
// replace it and be tested against it). xhat is the normalised input, gh = g * weight.
//   LayerNorm: dx = rstd (gh - mean(gh) - xhat mean(gh xhat))
//   RMSNorm:   dx = rstd (gh - xhat mean(gh xhat))
Tensor norm_input_grad(const Tensor& gh, const Tensor& xhat, const Tensor& rstd, bool centered) {
  Tensor inner = sub(gh, mul(xhat, mean(mul(gh, xhat), -1, true)));
  if (centered) inner = sub(inner, mean(gh, -1, true));
  return mul(rstd, inner);
}

// LayerNorm (centered) or RMSNorm on the GPU: the forward keeps mean/rstd per row, the backward is
// one fused kernel (dx, and dw/db as deterministic column sums) instead of the composed ops.
// y_bf16 (LayerNorm at inference only): y written as bf16 by the kernel, the bits of casting the f32 y.
Tensor cuda_norm(const char* op, bool centered, const Tensor& x, const Tensor& weight, const Tensor& bias,
                 double eps, bool y_bf16 = false) {
  const Device dev = x.device();
  const DType ct = detail::cuda_compute_dtype(op, {&x, &weight, &bias});
  const int64_t C = x.shape().back();
  const Tensor X = detail::as_dtype(x, ct).contiguous();
  const bool grad = autograd::needs_grad({&x, &weight, &bias});
  // Inference with a bf16 RMSNorm weight on the device (a bf16 model): the kernel reads it in place
  // rather than after a cast launch per call.
  const bool w16 = !grad && !centered && weight.defined() && weight.dtype() == DType::bf16 &&
                   weight.device() == dev && weight.is_contiguous();
  const Tensor W = weight.defined() && !w16 ? detail::on_device(weight, ct, dev).contiguous() : Tensor();
  const Tensor B = bias.defined() ? detail::on_device(bias, ct, dev).contiguous() : Tensor();
  const int64_t rows = C ? X.numel() / C : 0;
  if (y_bf16) {
    RS_ASSERT(centered && !grad, "bf16 norm output is LayerNorm's, at inference");
    Tensor y16 = Tensor::empty(x.shape(), DType::bf16, dev);  // [..., C]
    kernels::cuda::layer_norm_bf16_out(X.data<float>(), ptr_or_null<float>(W), ptr_or_null<float>(B),
                                       static_cast<uint16_t*>(y16.raw_data()), rows, C, float(eps), dev.index);
    return y16;
  }
  Tensor y = Tensor::empty(x.shape(), ct, dev);
  Tensor mean = centered ? Tensor::empty({rows}, ct, dev) : Tensor(), rstd = Tensor::empty({rows}, ct, dev);
  if (centered)
    kernels::cuda::layer_norm(X.data<float>(), ptr_or_null<float>(W), ptr_or_null<float>(B), y.data<float>(),
                              mean.data<float>(), rstd.data<float>(), rows, C, float(eps), dev.index);
  else
    kernels::cuda::rms_norm(X.data<float>(), ptr_or_null<float>(W), y.data<float>(), rstd.data<float>(), rows, C,
                            float(eps), dev.index, w16 ? static_cast<const uint16_t*>(weight.raw_data()) : nullptr);
  if (!grad) return y;
  return autograd::record(op, y, {&x, &weight, &bias},
                          [X = detach(X), W = detach(W), mean, rstd, centered, rows, C, ww = wants(weight),
                           wb = wants(bias)](const Tensor& g) {
    const Tensor dY = g.contiguous();
    const Device d = dY.device();
    Tensor dx = Tensor::empty(X.shape(), DType::f32, d);
    Tensor dw = ww ? Tensor::empty({C}, DType::f32, d) : Tensor(), db = wb ? Tensor::empty({C}, DType::f32, d) : Tensor();
    if (centered)
      kernels::cuda::layer_norm_backward(dY.data<float>(), X.data<float>(), ptr_or_null<float>(W),
                                         mean.data<float>(), rstd.data<float>(), dx.data<float>(),
                                         dw.defined() ? dw.data<float>() : nullptr,
                                         db.defined() ? db.data<float>() : nullptr, rows, C, d.index);
    else
      kernels::cuda::rms_norm_backward(dY.data<float>(), X.data<float>(), ptr_or_null<float>(W), rstd.data<float>(),
                                       dx.data<float>(), dw.defined() ? dw.data<float>() : nullptr, rows, C, d.index);
    return Grads{dx, dw, db};
  });
}

// layer_norm's argument checks; returns the operands' device.
Device check_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Device dev = detail::common_device("layer_norm", {&x, &weight, &bias});
  RS_CHECK(x.dim() >= 1, ShapeError, "layer_norm", "needs at least one dimension");
  check_param("layer_norm", "weight", weight, x.shape().back());
  check_param("layer_norm", "bias", bias, x.shape().back());
  return dev;
}

}  // namespace

Tensor layer_norm_bf16_out(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const Device dev = check_layer_norm(x, weight, bias);
  if (dev.is_cuda() && !autograd::needs_grad({&x, &weight, &bias}))
    return cuda_norm("layer_norm", true, x, weight, bias, eps, /*y_bf16=*/true);
  return cast(layer_norm(x, weight, bias, eps), DType::bf16);
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const Device dev = check_layer_norm(x, weight, bias);
  const int64_t C = x.shape().back();
  if (dev.is_cuda()) return cuda_norm("layer_norm", true, x, weight, bias, eps);
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
  if (!autograd::needs_grad({&x, &weight, &bias})) return y;
  return autograd::record("layer_norm", y, {&x, &weight, &bias},
                          [X = detach(X), W = detach(W), eps, wx = wants(x), ww = wants(weight), wb = wants(bias)](const Tensor& g) {
    const Tensor centered = sub(X, mean(X, -1, true));
    const Tensor rstd = rsqrt(add(mean(mul(centered, centered), -1, true), eps));
    const Tensor xhat = mul(centered, rstd);
    const Tensor gh = W.defined() ? mul(g, W) : g;
    return Grads{wx ? norm_input_grad(gh, xhat, rstd, true) : Tensor(), ww ? sum_rows(mul(g, xhat)) : Tensor(),
                 wb ? sum_rows(g) : Tensor()};
  });
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const Device dev = detail::common_device("rms_norm", {&x, &weight});
  RS_CHECK(x.dim() >= 1, ShapeError, "rms_norm", "needs at least one dimension");
  const int64_t C = x.shape().back();
  check_param("rms_norm", "weight", weight, C);
  if (dev.is_cuda()) return cuda_norm("rms_norm", false, x, weight, Tensor(), eps);
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
  if (!autograd::needs_grad({&x, &weight})) return y;
  return autograd::record("rms_norm", y, {&x, &weight}, [X = detach(X), W = detach(W), eps, wx = wants(x), ww = wants(weight)](const Tensor& g) {
    const Tensor rstd = rsqrt(add(mean(mul(X, X), -1, true), eps));
    const Tensor xhat = mul(X, rstd);
    const Tensor gh = W.defined() ? mul(g, W) : g;
    return Grads{wx ? norm_input_grad(gh, xhat, rstd, false) : Tensor(), ww ? sum_rows(mul(g, xhat)) : Tensor()};
  });
}

namespace {
std::atomic<bool> g_fused_rope_append{feature_enabled_by_env("fused_rope_append")};

// rope's argument checks for x [B, T, ., D] (shared with rope_append); returns rotary_dim with -1
// resolved to D.
int64_t check_rope_args(const char* op, int64_t B, int64_t T, int64_t D, int64_t rotary_dim, const Tensor& positions,
                        double theta) {
  if (rotary_dim < 0) rotary_dim = D;
  RS_CHECK(rotary_dim % 2 == 0 && rotary_dim <= D, ShapeError, op, "rotary_dim ", rotary_dim,
           " must be even and at most D = ", D);
  RS_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32, DTypeError, op,
           "positions must be integer, got ", positions.describe());
  RS_CHECK((positions.dim() == 1 && positions.shape()[0] == T) ||
               (positions.dim() == 2 && positions.shape()[0] == B && positions.shape()[1] == T),
           ShapeError, op, "positions must be [T] or [B, T] = [", B, ", ", T, "], got ",
           format_shape(positions.shape()));
  RS_CHECK(theta > 0, ValueError, op, "theta must be positive, got ", theta);
  return rotary_dim;
}

}  // namespace

void set_cuda_fused_rope_append(bool on) { g_fused_rope_append.store(on, std::memory_order_relaxed); }
bool cuda_fused_rope_append() { return g_fused_rope_append.load(std::memory_order_relaxed); }

Tensor rope_append(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, double theta,
                   RopeLayout layout, int64_t rotary_dim, Tensor& k_dst, Tensor& v_dst) {
  const Device dev = q.device();
  if (!g_fused_rope_append.load(std::memory_order_relaxed) || !dev.is_cuda()) return {};
  for (const Tensor* t : std::initializer_list<const Tensor*>{&q, &k, &v, &k_dst, &v_dst})
    if (t->device() != dev || t->dtype() != DType::f32 || t->dim() != 4 || t->strides()[3] != 1) return {};
  if (autograd::needs_grad({&q, &k, &v, &k_dst, &v_dst})) return {};
  const int64_t B = q.shape()[0], T = q.shape()[1], H = q.shape()[2], D = q.shape()[3], Hkv = k.shape()[2];
  const Shape kv{B, T, Hkv, D}, dst{B, Hkv, T, D};
  if (k.shape() != kv || v.shape() != kv || k_dst.shape() != dst || v_dst.shape() != dst) return {};
  rotary_dim = check_rope_args("rope_append", B, T, D, rotary_dim, positions, theta);
  const Tensor pos = detail::on_device(positions, DType::i64, dev).expand({B, T}).contiguous();  // [B, T]
  Tensor q_out = Tensor::empty(q.shape(), DType::f32, dev);                                       // [B, T, H, D]
  auto st = [](const Tensor& t, int d) { return t.strides()[size_t(d)]; };
  const kernels::cuda::RopeAppendArgs a{q.data<float>(),     st(q, 0),     st(q, 1),     st(q, 2),
                                        k.data<float>(),     st(k, 0),     st(k, 1),     st(k, 2),
                                        v.data<float>(),     st(v, 0),     st(v, 1),     st(v, 2),
                                        q_out.data<float>(), st(q_out, 0), st(q_out, 1), st(q_out, 2),
                                        k_dst.data<float>(), st(k_dst, 0), st(k_dst, 1), st(k_dst, 2),
                                        v_dst.data<float>(), st(v_dst, 0), st(v_dst, 1), st(v_dst, 2),
                                        pos.data<int64_t>(), B,            T,            H,
                                        Hkv,                 D,            rotary_dim,   theta,
                                        layout};
  kernels::cuda::rope_append(a, dev.index);
  return q_out;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta, RopeLayout layout, int64_t rotary_dim,
            bool inverse) {
  const Device dev = x.device();  // positions may be a host tensor: they travel with the launch
  RS_CHECK(x.dim() == 4, ShapeError, "rope", "x must be [B, T, H, D], got ", format_shape(x.shape()));
  const int64_t B = x.shape()[0], T = x.shape()[1], H = x.shape()[2], D = x.shape()[3];
  rotary_dim = check_rope_args("rope", B, T, D, rotary_dim, positions, theta);
  const Tensor pos = detail::on_device(positions, DType::i64, dev).expand({B, T}).contiguous();
  const DType ct = dev.is_cuda() ? detail::cuda_compute_dtype("rope", {&x}) : detail::compute_dtype("rope", {&x});
  const Tensor X = detail::as_dtype(x, ct).contiguous();
  Tensor y = Tensor::empty(x.shape(), ct, dev);
  if (dev.is_cuda())
    kernels::cuda::rope(X.data<float>(), y.data<float>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta, layout,
                        inverse, dev.index);
  else if (ct == DType::f64)
    kernels::ref::rope<double>(X.data<double>(), y.data<double>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta,
                               layout, inverse);
  else if (reference_kernels_forced())
    kernels::ref::rope<float>(X.data<float>(), y.data<float>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta,
                              layout, inverse);
  else
    kernels::simd::rope(X.data<float>(), y.data<float>(), pos.data<int64_t>(), B, T, H, D, rotary_dim, theta, layout,
                        inverse);
  if (!autograd::needs_grad({&x})) return y;
  // A rotation's transpose is the rotation by the negative angle.
  return autograd::record("rope", y, {&x, &positions}, [pos, theta, layout, rotary_dim, inverse](const Tensor& g) {
    return Grads{rope(g, pos, theta, layout, rotary_dim, !inverse), Tensor()};
  });
}

void register_norm_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"layer_norm", "rms_norm", "rope"}) out.push_back({n, "norm", true, true, true});
}

}  // namespace rscapret::ops
