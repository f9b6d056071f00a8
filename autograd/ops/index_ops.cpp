// Gathers, concatenation and casts: embedding, index_select, concat, stack, cast.
#include <cstring>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/gather.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

namespace {

// Ids as a contiguous i64 tensor on `device`, each checked against [0, limit). Device ids are
// checked on a host copy: a kernel must never read outside its table, and ids are small.
Tensor checked_ids(const char* op, const Tensor& ids, int64_t limit, Device device = Device::cpu()) {
  RS_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32, DTypeError, op,
           "indices must be i32 or i64, got ", ids.describe());
  Tensor out = ids.to(DType::i64).contiguous();
  const Tensor host = out.to(Device::cpu());
  const int64_t* p = host.data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    RS_CHECK(p[i] >= 0 && p[i] < limit, IndexError, op, "index ", p[i], " out of range [0, ", limit, ")");
  return out.to(device);
}

void outer_inner(const Shape& shape, int d, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < d; ++i) outer *= shape[i];
  for (int i = d + 1; i < int(shape.size()); ++i) inner *= shape[i];
}

using Grads = std::vector<Tensor>;

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  // Ids may stay on the host (they are checked there anyway) and travel with the launch.
  const Device dev = detail::common_device("embedding", {&weight});
  RS_CHECK(weight.dim() == 2, ShapeError, "embedding", "weight must be [V, C], got ", format_shape(weight.shape()));
  const DType ct = dev.is_cuda() ? detail::cuda_compute_dtype("embedding", {&weight})
                                 : detail::compute_dtype("embedding", {&weight});
  const int64_t V = weight.shape()[0], C = weight.shape()[1];
  const Tensor idx = checked_ids("embedding", ids, V, dev);
  const Tensor table = weight.contiguous();  // a no-op for checkpoints (mmapped, dense)
  Shape shape = ids.shape();
  shape.push_back(C);
  Tensor out = Tensor::empty(shape, ct, dev);
  if (dev.is_cuda())
    kernels::cuda::embedding(table.raw_data(), table.dtype(), idx.data<int64_t>(), out.data<float>(), idx.numel(), C,
                             dev.index);
  else if (reference_kernels_forced() || ct == DType::f64)
    kernels::ref::gather_rows(table.raw_data(), table.dtype(), C, idx.data<int64_t>(), idx.numel(), out.raw_data(), ct);
  else
    kernels::simd::gather_rows(table.raw_data(), table.dtype(), C, idx.data<int64_t>(), idx.numel(), out.raw_data(), ct);
  if (!autograd::needs_grad({&weight})) return out;
  return autograd::record("embedding", out, {&weight, &ids}, [idx, V, C, ct](const Tensor& g) {
    return Grads{index_add(Tensor::zeros({V, C}, ct, g.device()), 0, idx.reshape({-1}), g.reshape({-1, C})), Tensor()};
  });
}

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  const Device dev = x.device();
  RS_CHECK(index.dim() == 1, ShapeError, "index_select", "index must be 1-D, got ", format_shape(index.shape()));
  const int d = x.wrap_dim(dim, "index_select");
  const int64_t n = x.shape()[d];
  const Tensor idx = checked_ids("index_select", index, n, dev);
  const Tensor src = x.contiguous();
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  Shape shape = x.shape();
  shape[d] = idx.numel();
  Tensor out = Tensor::empty(shape, x.dtype(), dev);
  if (dev.is_cuda()) {
    RS_CHECK(x.dtype() == DType::f32, DTypeError, "index_select", "CUDA gathers f32 rows, got ", x.describe());
    kernels::cuda::index_select(src.data<float>(), idx.data<int64_t>(), out.data<float>(), outer, n, inner,
                                idx.numel(), dev.index);
  } else if (reference_kernels_forced())
    kernels::ref::gather_blocks(src.raw_data(), outer, n, inner, idx.data<int64_t>(), idx.numel(), x.element_size(),
                                out.raw_data());
  else
    kernels::simd::gather_blocks(src.raw_data(), outer, n, inner, idx.data<int64_t>(), idx.numel(),
                                 x.element_size(), out.raw_data());
  if (!autograd::needs_grad({&x})) return out;
  return autograd::record("index_select", out, {&x, &index}, [idx, d, in = x.shape()](const Tensor& g) {
    return Grads{index_add(Tensor::zeros(in, g.dtype(), g.device()), d, idx, g), Tensor()};
  });
}

Tensor index_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  const Device dev = detail::common_device("index_add", {&x, &src});  // index may be a host tensor
  RS_CHECK(index.dim() == 1, ShapeError, "index_add", "index must be 1-D, got ", format_shape(index.shape()));
  const int d = x.wrap_dim(dim, "index_add");
  Shape expect = x.shape();
  expect[d] = index.numel();
  RS_CHECK(src.shape() == expect, ShapeError, "index_add", "src ", format_shape(src.shape()), " must be ",
           format_shape(expect), " for x ", format_shape(x.shape()));
  const Tensor idx = checked_ids("index_add", index, x.shape()[d], dev);
  const DType ct = dev.is_cuda() ? detail::cuda_compute_dtype("index_add", {&x, &src})
                                 : detail::compute_dtype("index_add", {&x, &src});
  Tensor out = detail::as_dtype(x, ct).clone();
  const Tensor S = detail::as_dtype(src, ct).contiguous();
  int64_t outer, inner;
  outer_inner(x.shape(), d, outer, inner);
  const int64_t n = x.shape()[d], k = idx.numel();
  if (dev.is_cuda())
    kernels::cuda::index_add(out.data<float>(), idx.data<int64_t>(), S.data<float>(), outer, n, inner, k, dev.index);
  else if (ct == DType::f64)
    kernels::ref::index_add<double>(out.data<double>(), outer, n, inner, idx.data<int64_t>(), k, S.data<double>());
  else if (reference_kernels_forced())
    kernels::ref::index_add<float>(out.data<float>(), outer, n, inner, idx.data<int64_t>(), k, S.data<float>());
  else
    kernels::simd::index_add(out.data<float>(), outer, n, inner, idx.data<int64_t>(), k, S.data<float>());
  if (!autograd::needs_grad({&x, &src})) return out;
  return autograd::record("index_add", out, {&x, &index, &src},
                          [idx, d, wx = x.requires_grad(), ws = src.requires_grad()](const Tensor& g) {
    return Grads{wx ? g : Tensor(), Tensor(), ws ? index_select(g, d, idx) : Tensor()};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  RS_CHECK(!xs.empty(), ValueError, "concat", "needs at least one tensor");
  const Tensor& first = xs[0];
  const int d = first.wrap_dim(dim, "concat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (const Tensor& x : xs) {
    RS_CHECK(x.device() == first.device(), DeviceError, "concat", "devices differ: ", first.describe(), " vs ",
             x.describe());
    RS_CHECK(x.dtype() == first.dtype(), DTypeError, "concat", "dtypes differ: ", first.describe(), " vs ",
             x.describe());
    RS_CHECK(x.dim() == first.dim(), ShapeError, "concat", "ranks differ: ", format_shape(first.shape()), " vs ",
             format_shape(x.shape()));
    for (int i = 0; i < x.dim(); ++i)
      RS_CHECK(i == d || x.shape()[i] == first.shape()[i], ShapeError, "concat", "shapes differ outside dim ", d,
               ": ", format_shape(first.shape()), " vs ", format_shape(x.shape()));
    shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  int64_t outer, inner;
  outer_inner(shape, d, outer, inner);
  const size_t esz = first.element_size();
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    const int64_t len = x.shape()[d];
    if (out.device().is_cuda()) {
      out.narrow(d, offset, len).copy_from(x);  // one strided device copy per input
    } else if (reference_kernels_forced()) {
      copy_strided_host(x, out.narrow(d, offset, len));
    } else {
      // Each input contributes `outer` contiguous runs of len * inner elements.
      const Tensor src = x.contiguous();
      const size_t run = size_t(len * inner) * esz, out_row = size_t(shape[d] * inner) * esz;
      const char* s = static_cast<const char*>(src.raw_data());
      char* o = static_cast<char*>(out.raw_data()) + size_t(offset * inner) * esz;
      for (int64_t i = 0; i < outer; ++i) std::memcpy(o + size_t(i) * out_row, s + size_t(i) * run, run);
    }
    offset += len;
  }
  std::vector<Tensor> inputs(xs.begin(), xs.end());
  bool any = false;
  for (const Tensor& x : xs) any = any || autograd::needs_grad({&x});
  if (!any) return out;
  std::vector<int64_t> lengths;
  for (const Tensor& x : xs) lengths.push_back(x.shape()[d]);
  return autograd::record("concat", out, inputs, [lengths, d](const Tensor& g) {
    Grads grads;
    int64_t off = 0;
    for (int64_t len : lengths) {
      grads.push_back(g.narrow(d, off, len).contiguous());
      off += len;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int dim) {
  RS_CHECK(!xs.empty(), ValueError, "stack", "needs at least one tensor");
  const int d = xs[0].wrap_dim(dim, "stack", 1);
  std::vector<Tensor> parts;
  parts.reserve(xs.size());
  for (const Tensor& x : xs) {
    RS_CHECK(x.shape() == xs[0].shape(), ShapeError, "stack", "shapes differ: ", format_shape(xs[0].shape()), " vs ",
             format_shape(x.shape()));
    parts.push_back(unsqueeze(x, d));  // differentiable: stack's gradient flows through concat
  }
  return concat(parts, d);
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  if (x.device().is_cuda()) {
    Tensor out = x.to(dtype);  // the device copy kernel converts
    if (!is_floating(dtype) || !autograd::needs_grad({&x})) return out;
    return autograd::record("cast", out, {&x}, [from = x.dtype()](const Tensor& g) { return Grads{cast(g, from)}; });
  }
  Tensor out = Tensor::empty(x.shape(), dtype);
  const bool fast = !reference_kernels_forced() && x.is_contiguous();
  const int64_t n = x.numel();
  const auto* in16 = static_cast<const uint16_t*>(x.raw_data());
  if (fast && x.dtype() == DType::bf16 && dtype == DType::f32) kernels::simd::bf16_to_f32(in16, out.data<float>(), n);
  else if (fast && x.dtype() == DType::f16 && dtype == DType::f32) kernels::simd::f16_to_f32(in16, out.data<float>(), n);
  else if (fast && x.dtype() == DType::f32 && dtype == DType::bf16)
    kernels::simd::f32_to_bf16(x.data<float>(), static_cast<uint16_t*>(out.raw_data()), n);
  else if (fast && x.dtype() == DType::f32 && dtype == DType::f16)
    kernels::simd::f32_to_f16(x.data<float>(), static_cast<uint16_t*>(out.raw_data()), n);
  else copy_strided_host(x, out);
  if (!is_floating(dtype) || !autograd::needs_grad({&x})) return out;
  return autograd::record("cast", out, {&x}, [from = x.dtype()](const Tensor& g) { return Grads{cast(g, from)}; });
}

void register_index_ops(std::vector<OpInfo>& out) {
  for (const char* n : {"embedding", "index_select", "index_add", "concat", "stack", "cast"})
    out.push_back({n, "index", true, true, true});
}

}  // namespace rscapret::ops
