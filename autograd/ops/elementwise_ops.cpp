// Elementwise ops: unary functions, broadcast arithmetic, comparisons, where, masked_fill.
#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;

namespace {

Tensor unary_op(UnaryOp op, const char* name, const Tensor& x, double param = 0.0) {
  const Device dev = detail::common_device(name, {&x});
  if (dev.is_cuda()) {
    const DType ct = detail::cuda_compute_dtype(name, {&x});
    const Tensor in = detail::as_dtype(x, ct).contiguous();
    Tensor out = Tensor::empty(x.shape(), ct, dev);
    kernels::cuda::unary(op, in.data<float>(), out.data<float>(), in.numel(), float(param), dev.index);
    return out;
  }
  const DType ct = detail::compute_dtype(name, {&x});
  const Tensor in = detail::as_dtype(x, ct).contiguous();
  Tensor out = Tensor::empty(x.shape(), ct);
  const int64_t n = in.numel();
  if (ct == DType::f64) {
    kernels::ref::unary<double>(op, in.data<double>(), out.data<double>(), n, param);
  } else if (reference_kernels_forced()) {
    kernels::ref::unary<float>(op, in.data<float>(), out.data<float>(), n, float(param));
  } else {
    kernels::simd::unary(op, in.data<float>(), out.data<float>(), n, float(param));
  }
  return out;
}

Tensor binary_op(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  const Device dev = detail::common_device(name, {&a, &b});
  const DType ct = detail::compute_dtype(name, {&a, &b});
  const Tensor A = detail::as_dtype(a, ct), B = detail::as_dtype(b, ct);
  const Shape shape = broadcast_shapes(A.shape(), B.shape(), name);
  if (dev.is_cuda()) {
    detail::cuda_compute_dtype(name, {&a, &b});
    const Tensor Ad = detail::on_device(A, ct, dev), Bd = detail::on_device(B, ct, dev);
    Tensor out = Tensor::empty(shape, ct, dev);
    kernels::cuda::binary(op, Ad.data<float>(), Bd.data<float>(), out.data<float>(),
                          detail::broadcast_loop(shape, {&Ad, &Bd}), dev.index);
    return out;
  }
  Tensor out = Tensor::empty(shape, ct);
  const kernels::BroadcastLoop loop = detail::broadcast_loop(shape, {&A, &B});
  if (ct == DType::f64)
    kernels::ref::binary<double>(op, A.data<double>(), B.data<double>(), out.data<double>(), loop);
  else if (reference_kernels_forced())
    kernels::ref::binary<float>(op, A.data<float>(), B.data<float>(), out.data<float>(), loop);
  else
    kernels::simd::binary(op, A.data<float>(), B.data<float>(), out.data<float>(), loop);
  return out;
}

bool is_integer(DType t) { return t == DType::i32 || t == DType::i64; }

Tensor compare_op(CompareOp op, const char* name, const Tensor& a, const Tensor& b) {
  const Device dev = detail::common_device(name, {&a, &b});
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, DType::boolean, dev);
  const bool ints = is_integer(a.dtype()) || is_integer(b.dtype());
  RS_CHECK(!ints || (is_integer(a.dtype()) && is_integer(b.dtype())), DTypeError, name,
           "cannot compare integer and floating tensors: ", a.describe(), " vs ", b.describe());
  if (dev.is_cuda()) {
    const DType ct = ints ? DType::i64 : detail::cuda_compute_dtype(name, {&a, &b});
    const Tensor A = detail::on_device(a, ct, dev), B = detail::on_device(b, ct, dev);
    const kernels::BroadcastLoop loop = detail::broadcast_loop(shape, {&A, &B});
    if (ints)
      kernels::cuda::compare_i64(op, A.data<int64_t>(), B.data<int64_t>(), out.data<bool>(), loop, dev.index);
    else
      kernels::cuda::compare(op, A.data<float>(), B.data<float>(), out.data<bool>(), loop, dev.index);
    return out;
  }
  if (ints) {
    // Ids compare exactly as i64 (scalar loop: masks over ids are small).
    const Tensor A = a.to(DType::i64), B = b.to(DType::i64);
    kernels::ref::compare<int64_t>(op, A.data<int64_t>(), B.data<int64_t>(), out.data<bool>(),
                                   detail::broadcast_loop(shape, {&A, &B}));
    return out;
  }
  const DType ct = detail::compute_dtype(name, {&a, &b});
  const Tensor A = detail::as_dtype(a, ct), B = detail::as_dtype(b, ct);
  const kernels::BroadcastLoop loop = detail::broadcast_loop(shape, {&A, &B});
  if (ct == DType::f64)
    kernels::ref::compare<double>(op, A.data<double>(), B.data<double>(), out.data<bool>(), loop);
  else if (reference_kernels_forced())
    kernels::ref::compare<float>(op, A.data<float>(), B.data<float>(), out.data<bool>(), loop);
  else
    kernels::simd::compare(op, A.data<float>(), B.data<float>(), out.data<bool>(), loop);
  return out;
}

}  // namespace

namespace {

using Grads = std::vector<Tensor>;
bool wants(const Tensor& t) { return t.defined() && t.requires_grad(); }

// A unary op whose vjp is g * dfdx(saved), saved being the input or the output.
Tensor unary_with_vjp(const char* name, const Tensor& x, Tensor y, std::function<Tensor(const Tensor&)> vjp) {
  if (!autograd::needs_grad({&x})) return y;
  return autograd::record(name, y, {&x}, [vjp = std::move(vjp)](const Tensor& g) { return Grads{vjp(g)}; });
}

// Derivative kernels are not differentiated again (first-order autograd).
Tensor first_order_only(const char* name, const Tensor& x, Tensor y) {
  if (!autograd::needs_grad({&x})) return y;
  return autograd::record(name, y, {&x}, [name](const Tensor&) -> Grads {
    throw ValueError(cat("[", name, "] second derivatives are not supported"));
  });
}

}  // namespace

Tensor neg(const Tensor& x) {
  return unary_with_vjp("neg", x, unary_op(UnaryOp::neg, "neg", x), [](const Tensor& g) { return neg(g); });
}
Tensor exp(const Tensor& x) {
  const Tensor y = unary_op(UnaryOp::exp, "exp", x);
  return unary_with_vjp("exp", x, y, [y](const Tensor& g) { return mul(g, y); });
}
Tensor log(const Tensor& x) {
  const Tensor xs = detach(x);
  return unary_with_vjp("log", x, unary_op(UnaryOp::log, "log", x), [xs](const Tensor& g) { return div(g, xs); });
}
Tensor sqrt(const Tensor& x) {
  const Tensor y = unary_op(UnaryOp::sqrt, "sqrt", x);
  return unary_with_vjp("sqrt", x, y, [y](const Tensor& g) { return div(mul(g, 0.5), y); });
}
Tensor rsqrt(const Tensor& x) {
  const Tensor y = unary_op(UnaryOp::rsqrt, "rsqrt", x);  // d/dx x^(-1/2) = -y^3 / 2
  return unary_with_vjp("rsqrt", x, y, [y](const Tensor& g) { return mul(g, mul(pow_scalar(y, 3.0), -0.5)); });
}
Tensor tanh(const Tensor& x) {
  const Tensor y = unary_op(UnaryOp::tanh, "tanh", x);  // 1 - y^2
  return unary_with_vjp("tanh", x, y, [y](const Tensor& g) { return mul(g, add(neg(mul(y, y)), 1.0)); });
}
Tensor sigmoid(const Tensor& x) {
  const Tensor y = unary_op(UnaryOp::sigmoid, "sigmoid", x);  // y (1 - y)
  return unary_with_vjp("sigmoid", x, y, [y](const Tensor& g) { return mul(g, mul(y, add(neg(y), 1.0))); });
}
Tensor gelu_erf(const Tensor& x) {
  const Tensor xs = detach(x);
  return unary_with_vjp("gelu_erf", x, unary_op(UnaryOp::gelu_erf, "gelu_erf", x),
                        [xs](const Tensor& g) { return mul(g, gelu_erf_grad(xs)); });
}
Tensor gelu_tanh(const Tensor& x) {
  const Tensor xs = detach(x);
  return unary_with_vjp("gelu_tanh", x, unary_op(UnaryOp::gelu_tanh, "gelu_tanh", x),
                        [xs](const Tensor& g) { return mul(g, gelu_tanh_grad(xs)); });
}
Tensor quick_gelu(const Tensor& x) {
  const Tensor xs = detach(x);
  return unary_with_vjp("quick_gelu", x, unary_op(UnaryOp::quick_gelu, "quick_gelu", x),
                        [xs](const Tensor& g) { return mul(g, quick_gelu_grad(xs)); });
}
Tensor silu(const Tensor& x) {
  const Tensor xs = detach(x);
  return unary_with_vjp("silu", x, unary_op(UnaryOp::silu, "silu", x),
                        [xs](const Tensor& g) { return mul(g, silu_grad(xs)); });
}
Tensor pow_scalar(const Tensor& x, double e) {
  const Tensor xs = detach(x);
  return unary_with_vjp("pow_scalar", x, unary_op(UnaryOp::pow_scalar, "pow_scalar", x, e),
                        [xs, e](const Tensor& g) { return mul(g, mul(pow_scalar(xs, e - 1.0), e)); });
}
Tensor gelu_erf_grad(const Tensor& x) {
  return first_order_only("gelu_erf_grad", x, unary_op(UnaryOp::gelu_erf_grad, "gelu_erf_grad", x));
}
Tensor gelu_tanh_grad(const Tensor& x) {
  return first_order_only("gelu_tanh_grad", x, unary_op(UnaryOp::gelu_tanh_grad, "gelu_tanh_grad", x));
}
Tensor quick_gelu_grad(const Tensor& x) {
  return first_order_only("quick_gelu_grad", x, unary_op(UnaryOp::quick_gelu_grad, "quick_gelu_grad", x));
}
Tensor silu_grad(const Tensor& x) {
  return first_order_only("silu_grad", x, unary_op(UnaryOp::silu_grad, "silu_grad", x));
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_op(BinaryOp::add, "add", a, b);
  if (!autograd::needs_grad({&a, &b})) return y;
  return autograd::record("add", y, {&a, &b}, [sa = a.shape(), sb = b.shape(), wa = wants(a), wb = wants(b)](const Tensor& g) {
    return Grads{wa ? detail::sum_to(g, sa) : Tensor(), wb ? detail::sum_to(g, sb) : Tensor()};
  });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_op(BinaryOp::sub, "sub", a, b);
  if (!autograd::needs_grad({&a, &b})) return y;
  return autograd::record("sub", y, {&a, &b}, [sa = a.shape(), sb = b.shape(), wa = wants(a), wb = wants(b)](const Tensor& g) {
    return Grads{wa ? detail::sum_to(g, sa) : Tensor(), wb ? detail::sum_to(neg(g), sb) : Tensor()};
  });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_op(BinaryOp::mul, "mul", a, b);
  if (!autograd::needs_grad({&a, &b})) return y;
  const Tensor as = detach(a), bs = detach(b);
  return autograd::record("mul", y, {&a, &b}, [as, bs, wa = wants(a), wb = wants(b)](const Tensor& g) {
    return Grads{wa ? detail::sum_to(mul(g, bs), as.shape()) : Tensor(),
                 wb ? detail::sum_to(mul(g, as), bs.shape()) : Tensor()};
  });
}
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary_op(BinaryOp::div, "div", a, b);
  if (!autograd::needs_grad({&a, &b})) return y;
  const Tensor as = detach(a), bs = detach(b);
  return autograd::record("div", y, {&a, &b}, [as, bs, wa = wants(a), wb = wants(b)](const Tensor& g) {
    return Grads{wa ? detail::sum_to(div(g, bs), as.shape()) : Tensor(),
                 wb ? detail::sum_to(neg(div(mul(g, as), mul(bs, bs))), bs.shape()) : Tensor()};
  });
}
Tensor add(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype() == DType::f64 ? DType::f64 : DType::f32)); }
Tensor mul(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype() == DType::f64 ? DType::f64 : DType::f32)); }

Tensor eq(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare_op(CompareOp::ge, "ge", a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Device dev = detail::common_device("where", {&cond, &a, &b});
  RS_CHECK(cond.dtype() == DType::boolean, DTypeError, "where", "condition must be bool, got ", cond.describe());
  const DType ct = detail::compute_dtype("where", {&a, &b});
  const Tensor A = detail::as_dtype(a, ct), B = detail::as_dtype(b, ct);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), A.shape(), "where"), B.shape(), "where");
  Tensor out = Tensor::empty(shape, ct, dev);
  if (dev.is_cuda()) {
    detail::cuda_compute_dtype("where", {&a, &b});
    const Tensor C = detail::on_device(cond, DType::boolean, dev);
    const Tensor Ad = detail::on_device(A, ct, dev), Bd = detail::on_device(B, ct, dev);
    kernels::cuda::where(C.data<bool>(), Ad.data<float>(), Bd.data<float>(), out.data<float>(),
                         detail::broadcast_loop(shape, {&C, &Ad, &Bd}), dev.index);
  } else {
    const kernels::BroadcastLoop loop = detail::broadcast_loop(shape, {&cond, &A, &B});
    if (ct == DType::f64)
      kernels::ref::where<double>(cond.data<bool>(), A.data<double>(), B.data<double>(), out.data<double>(), loop);
    else if (reference_kernels_forced())
      kernels::ref::where<float>(cond.data<bool>(), A.data<float>(), B.data<float>(), out.data<float>(), loop);
    else
      kernels::simd::where(cond.data<bool>(), A.data<float>(), B.data<float>(), out.data<float>(), loop);
  }
  if (!autograd::needs_grad({&a, &b})) return out;
  return autograd::record("where", out, {&cond, &a, &b}, [c = detach(cond), sa = a.shape(), sb = b.shape(),
                                                           wa = wants(a), wb = wants(b)](const Tensor& g) {
    const Tensor zero = Tensor::scalar(0.0, g.dtype());
    return Grads{Tensor(), wa ? detail::sum_to(where(c, g, zero), sa) : Tensor(),
                 wb ? detail::sum_to(where(c, zero, g), sb) : Tensor()};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  RS_CHECK(mask.dtype() == DType::boolean, DTypeError, "masked_fill", "mask must be bool, got ", mask.describe());
  RS_CHECK(broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(), ShapeError, "masked_fill",
           "mask ", format_shape(mask.shape()), " must broadcast to ", format_shape(x.shape()));
  const DType ct = detail::compute_dtype("masked_fill", {&x});
  Tensor y;
  {
    autograd::NoGradGuard no_grad;  // recorded below as one op
    y = where(mask, Tensor::scalar(value, ct), x);
  }
  if (!autograd::needs_grad({&x})) return y;
  return autograd::record("masked_fill", y, {&x, &mask}, [m = detach(mask)](const Tensor& g) {
    return Grads{where(m, Tensor::scalar(0.0, g.dtype()), g), Tensor()};
  });
}

void register_elementwise_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "gelu_erf", "gelu_tanh",
                        "quick_gelu", "silu", "pow_scalar", "gelu_erf_grad", "gelu_tanh_grad", "quick_gelu_grad",
                        "silu_grad"})
    out.push_back({n, "elementwise", true, true, true, std::string(n).find("_grad") == std::string::npos});
  for (const char* n : {"add", "sub", "mul", "div"}) out.push_back({n, "elementwise", true, true, true});
  for (const char* n : {"eq", "ne", "lt", "le", "gt", "ge"}) out.push_back({n, "elementwise", true, true, true, false});
  for (const char* n : {"where", "masked_fill"}) out.push_back({n, "elementwise", true, true, true});
}

}  // namespace rscapret::ops
