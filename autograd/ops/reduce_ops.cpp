// Reductions along one axis, softmax and log_softmax. The reduced axis is moved last (a copy only
// when it is not already innermost), so kernels always see contiguous [rows, n] blocks.
#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

using kernels::ReduceOp;

namespace {

struct Rows {
  Tensor block;     // contiguous, reduced axis last
  int64_t rows, n;  // block is [rows, n]
  Shape kept;       // output shape without the axis
  std::vector<int> perm;
};

Rows to_rows(const char* name, const Tensor& x, int dim, DType ct) {
  if (x.device().is_cuda()) detail::cuda_compute_dtype(name, {&x});
  const int d = x.wrap_dim(dim, name);
  RS_CHECK(x.dim() > 0, ShapeError, name, "needs at least one dimension, got ", format_shape(x.shape()));
  Rows r;
  r.perm = detail::move_dim_last(x.dim(), d);
  r.block = detail::as_dtype(x, ct).permute(r.perm).contiguous();
  r.n = x.shape()[d];
  for (int i = 0; i < x.dim(); ++i)
    if (i != d) r.kept.push_back(x.shape()[i]);
  r.rows = shape_numel(r.kept);
  return r;
}

Shape output_shape(const Tensor& x, int dim, bool keepdim, const Shape& kept) {
  if (!keepdim) return kept;
  Shape s = x.shape();
  s[x.wrap_dim(dim, "reduce")] = 1;
  return s;
}

// Sum or mean over a non-last axis of f32 data: accumulate whole rows in place of a transpose.
Tensor reduce_middle(ReduceOp op, const Tensor& x, int d, bool keepdim) {
  const Tensor X = x.to(DType::f32).contiguous();
  int64_t outer = 1, inner = 1;
  Shape kept;
  for (int i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.shape()[i];
    if (i > d) inner *= x.shape()[i];
    if (i != d) kept.push_back(x.shape()[i]);
  }
  const int64_t n = x.shape()[d];
  Tensor out = Tensor::empty(kept, DType::f32);
  kernels::simd::sum_middle(X.data<float>(), out.data<float>(), outer, n, inner);
  if (op == ReduceOp::mean) {
    RS_CHECK(n > 0, ShapeError, "mean", "cannot reduce an empty axis of ", format_shape(x.shape()));
    float* p = out.data<float>();
    const float inv = 1.0f / float(n);
    for (int64_t i = 0; i < out.numel(); ++i) p[i] *= inv;
  }
  return out.view(output_shape(x, d, keepdim, kept));
}

Tensor reduce_op(ReduceOp op, const char* name, const Tensor& x, int dim, bool keepdim) {
  const DType ct = detail::compute_dtype(name, {&x});
  if (ct == DType::f32 && !reference_kernels_forced() && (op == ReduceOp::sum || op == ReduceOp::mean) &&
      x.device().is_cpu() && x.dim() > 0 && x.wrap_dim(dim, name) != x.dim() - 1)
    return reduce_middle(op, x, x.wrap_dim(dim, name), keepdim);
  Rows r = to_rows(name, x, dim, ct);
  RS_CHECK(r.n > 0 || op == ReduceOp::sum, ShapeError, name, "cannot reduce an empty axis of ",
           format_shape(x.shape()));
  Tensor out = Tensor::empty(r.kept, ct, x.device());
  if (x.device().is_cuda())
    kernels::cuda::reduce_rows(op, r.block.data<float>(), out.data<float>(), r.rows, r.n, x.device().index);
  else if (ct == DType::f64)
    kernels::ref::reduce_rows<double>(op, r.block.data<double>(), out.data<double>(), r.rows, r.n);
  else if (reference_kernels_forced())
    kernels::ref::reduce_rows<float>(op, r.block.data<float>(), out.data<float>(), r.rows, r.n);
  else
    kernels::simd::reduce_rows(op, r.block.data<float>(), out.data<float>(), r.rows, r.n);
  return out.view(output_shape(x, dim, keepdim, r.kept));
}

Tensor softmax_op(const char* name, const Tensor& x, int dim, bool log) {
  const DType ct = detail::compute_dtype(name, {&x});
  Rows r = to_rows(name, x, dim, ct);
  Tensor out = Tensor::empty(r.block.shape(), ct, x.device());
  if (r.n > 0) {
    if (x.device().is_cuda())
      kernels::cuda::softmax_rows(r.block.data<float>(), out.data<float>(), r.rows, r.n, log, x.device().index);
    else if (ct == DType::f64)
      kernels::ref::softmax_rows<double>(r.block.data<double>(), out.data<double>(), r.rows, r.n, log);
    else if (reference_kernels_forced())
      kernels::ref::softmax_rows<float>(r.block.data<float>(), out.data<float>(), r.rows, r.n, log);
    else
      kernels::simd::softmax_rows(r.block.data<float>(), out.data<float>(), r.rows, r.n, log);
  }
  return out.permute(detail::inverse_permutation(r.perm)).contiguous();
}

}  // namespace

namespace {

using Grads = std::vector<Tensor>;

// The cotangent of a reduction over `dim`, broadcast back over the input's shape.
Tensor expand_back(const Tensor& g, const Shape& in, int dim, bool keepdim) {
  Tensor k = keepdim ? g : g.unsqueeze(dim);
  return k.expand(in);
}

}  // namespace

Tensor sum(const Tensor& x, int dim, bool keepdim) {
  Tensor y = reduce_op(ReduceOp::sum, "sum", x, dim, keepdim);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "sum");
  return autograd::record("sum", y, {&x}, [in = x.shape(), d, keepdim](const Tensor& g) {
    return Grads{expand_back(g, in, d, keepdim).contiguous()};
  });
}

Tensor mean(const Tensor& x, int dim, bool keepdim) {
  Tensor y = reduce_op(ReduceOp::mean, "mean", x, dim, keepdim);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "mean");
  return autograd::record("mean", y, {&x}, [in = x.shape(), d, keepdim](const Tensor& g) {
    return Grads{mul(expand_back(g, in, d, keepdim), 1.0 / double(in[d]))};
  });
}

Tensor max(const Tensor& x, int dim, bool keepdim) {
  Tensor y = reduce_op(ReduceOp::max, "max", x, dim, keepdim);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "max");
  // The gradient goes to the first maximum only (the element argmax returns), as PyTorch's max(dim).
  return autograd::record("max", y, {&x}, [xs = detach(x), d, keepdim](const Tensor& g) {
    const Tensor idx = argmax(xs, d, true);
    Shape iota_shape(size_t(xs.dim()), 1);
    iota_shape[size_t(d)] = xs.shape()[size_t(d)];
    const Tensor iota = Tensor::arange(xs.shape()[size_t(d)]).view(iota_shape).to(xs.device());
    const Tensor hit = eq(iota, idx);
    return Grads{where(hit, expand_back(g, xs.shape(), d, keepdim), Tensor::scalar(0.0, g.dtype()))};
  });
}

Tensor logsumexp(const Tensor& x, int dim, bool keepdim) {
  Tensor y = reduce_op(ReduceOp::logsumexp, "logsumexp", x, dim, keepdim);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "logsumexp");
  return autograd::record("logsumexp", y, {&x}, [xs = detach(x), ys = y, d, keepdim](const Tensor& g) {
    const Tensor p = exp(sub(xs, expand_back(ys, xs.shape(), d, keepdim)));  // softmax
    return Grads{mul(p, expand_back(g, xs.shape(), d, keepdim))};
  });
}

Tensor softmax(const Tensor& x, int dim) {
  Tensor y = softmax_op("softmax", x, dim, false);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "softmax");
  return autograd::record("softmax", y, {&x}, [y, d](const Tensor& g) {  // y (g - sum(g y))
    return Grads{mul(y, sub(g, sum(mul(g, y), d, true)))};
  });
}

Tensor log_softmax(const Tensor& x, int dim) {
  Tensor y = softmax_op("log_softmax", x, dim, true);
  if (!autograd::needs_grad({&x})) return y;
  const int d = x.wrap_dim(dim, "log_softmax");
  return autograd::record("log_softmax", y, {&x}, [y, d](const Tensor& g) {  // g - softmax * sum(g)
    return Grads{sub(g, mul(exp(y), sum(g, d, true)))};
  });
}

Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  const DType ct = detail::compute_dtype("argmax", {&x});
  Rows r = to_rows("argmax", x, dim, ct);
  RS_CHECK(r.n > 0, ShapeError, "argmax", "cannot reduce an empty axis of ", format_shape(x.shape()));
  Tensor out = Tensor::empty(r.kept, DType::i64, x.device());
  if (x.device().is_cuda())
    kernels::cuda::argmax_rows(r.block.data<float>(), out.data<int64_t>(), r.rows, r.n, x.device().index);
  else if (ct == DType::f64)
    kernels::ref::argmax_rows<double>(r.block.data<double>(), out.data<int64_t>(), r.rows, r.n);
  else if (reference_kernels_forced())
    kernels::ref::argmax_rows<float>(r.block.data<float>(), out.data<int64_t>(), r.rows, r.n);
  else
    kernels::simd::argmax_rows(r.block.data<float>(), out.data<int64_t>(), r.rows, r.n);
  return out.view(output_shape(x, dim, keepdim, r.kept));
}

Tensor sum_all(const Tensor& x) { return sum(reshape(x, {-1}), 0); }

void register_reduce_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"sum", "mean", "max", "logsumexp", "softmax", "log_softmax"})
    out.push_back({n, "reduce", true, true, true});
  out.push_back({"argmax", "reduce", true, true, true, false});
}

}  // namespace rscapret::ops
