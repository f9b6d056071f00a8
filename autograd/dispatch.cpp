#include "autograd/dispatch.h"

#include "autograd/ops.h"

namespace rscapret::ops {

namespace {
thread_local bool g_force_reference = false;
thread_local bool g_autocast_bf16 = false;
}

bool cuda_autocast_bf16() { return g_autocast_bf16; }
CudaAutocastBf16Guard::CudaAutocastBf16Guard(bool on) : previous_(g_autocast_bf16) { g_autocast_bf16 = on; }
CudaAutocastBf16Guard::~CudaAutocastBf16Guard() { g_autocast_bf16 = previous_; }

bool reference_kernels_forced() { return g_force_reference; }
ReferenceKernelsGuard::ReferenceKernelsGuard() : previous_(g_force_reference) { g_force_reference = true; }
ReferenceKernelsGuard::~ReferenceKernelsGuard() { g_force_reference = previous_; }

namespace detail {

Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  // A 0-d host tensor joins a device computation (a scalar such as eps or 1.0): it travels as
  // part of the launch. Anything larger must already be on the device.
  const Tensor* first = nullptr;
  for (const Tensor* t : ts)
    if (t->defined() && t->device().is_cuda()) { first = t; break; }
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) { first = t; continue; }
    if (t->dim() == 0 && t->device().is_cpu()) continue;
    RS_CHECK(t->device() == first->device(), DeviceError, op, "inputs on different devices: ",
             first->describe(), " vs ", t->describe());
  }
  return first ? first->device() : Device::cpu();
}

DType cuda_compute_dtype(const char* op, std::initializer_list<const Tensor*> ts) {
  const DType ct = compute_dtype(op, ts);
  RS_CHECK(ct == DType::f32, DTypeError, op, "f64 runs on the CPU only (the gradient checks); CUDA computes in f32");
  return ct;
}

Tensor on_device(const Tensor& x, DType dtype, Device device) {
  if (!x.defined()) return x;
  if (x.device() == device) return as_dtype(x, dtype);
  return as_dtype(x, dtype).contiguous().to(device);
}

DType compute_dtype(const char* op, std::initializer_list<const Tensor*> ts) {
  bool any64 = false;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    RS_CHECK(is_floating(t->dtype()), DTypeError, op, "needs floating-point inputs, got ", t->describe());
    any64 = any64 || t->dtype() == DType::f64;
  }
  return any64 ? DType::f64 : DType::f32;
}

Tensor as_dtype(const Tensor& x, DType dtype) { return x.dtype() == dtype ? x : x.to(dtype); }

kernels::BroadcastLoop broadcast_loop(const Shape& out_shape, std::initializer_list<const Tensor*> operands) {
  kernels::BroadcastLoop loop;
  loop.ndim = int(out_shape.size());
  for (int d = 0; d < loop.ndim; ++d) loop.shape[d] = out_shape[d];
  int k = 0;
  for (const Tensor* t : operands) {
    const int lead = loop.ndim - t->dim();
    for (int d = 0; d < loop.ndim; ++d) {
      if (d < lead) { loop.strides[k][d] = 0; continue; }
      const int td = d - lead;
      loop.strides[k][d] = t->shape()[td] == 1 ? 0 : t->strides()[td];
    }
    ++k;
  }
  return loop;
}

std::vector<int> move_dim_last(int ndim, int dim) {
  std::vector<int> perm;
  for (int d = 0; d < ndim; ++d)
    if (d != dim) perm.push_back(d);
  perm.push_back(dim);
  return perm;
}

std::vector<int> inverse_permutation(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = int(i);
  return inv;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  if (g.numel() == shape_numel(shape)) return g.reshape(shape);  // only size-1 dims differ
  // The common case, a bias [N] (or [1, N]) under g [..., N]: one reduction over the merged rows.
  const int64_t inner = shape.empty() ? 1 : shape.back();
  if (!shape.empty() && shape_numel(shape) == inner && g.dim() >= 1 && g.shape().back() == inner)
    return ops::sum(g.reshape({-1, inner}), 0).reshape(shape);
  Tensor r = g;
  const int lead = g.dim() - int(shape.size());
  for (int i = 0; i < lead; ++i) r = ops::sum(r, 0);
  for (int d = 0; d < int(shape.size()); ++d)
    if (shape[d] == 1 && r.shape()[d] != 1) r = ops::sum(r, d, true);
  return r.reshape(shape);
}

Tensor scatter_into_zeros(const Shape& shape, const Tensor& g, const std::function<Tensor(const Tensor&)>& region) {
  Tensor z = Tensor::zeros(shape, g.dtype(), g.device());
  region(z).copy_from(g);
  return z;
}

void no_cuda_kernel(const char* op) {
  throw DeviceError(cat("[", op, "] has no CUDA kernel: move the inputs to the CPU"));
}

}  // namespace detail
}  // namespace rscapret::ops
