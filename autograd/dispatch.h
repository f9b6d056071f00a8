// Kernel selection and the shared checks of the op layer.
// By default f32 ops run the fast kernels and f64 ops the scalar references; a
// ReferenceKernelsGuard forces the references for f32 too (the op tests compare the two).
#pragma once

#include <functional>
#include <initializer_list>

#include "kernels/kernel_types.h"
#include "tensor/tensor.h"

namespace rscapret::ops {

bool reference_kernels_forced();

class ReferenceKernelsGuard {
 public:
  ReferenceKernelsGuard();
  ~ReferenceKernelsGuard();
  ReferenceKernelsGuard(const ReferenceKernelsGuard&) = delete;
  ReferenceKernelsGuard& operator=(const ReferenceKernelsGuard&) = delete;

 private:
  bool previous_;
};

// bf16 autocast for attention on CUDA: inside the guard, CUDA attention with D = Dv in {64, 128}
// and no key mask runs the bf16 tensor-core flash kernel (q, k, v rounded to bf16, f32 softmax
// statistics), as PyTorch's autocast SDPA does; outside it, and for every other shape, the f32
// flash kernel runs. The CPU is unaffected.
bool cuda_autocast_bf16();

class CudaAutocastBf16Guard {
 public:
  explicit CudaAutocastBf16Guard(bool on = true);
  ~CudaAutocastBf16Guard();
  CudaAutocastBf16Guard(const CudaAutocastBf16Guard&) = delete;
  CudaAutocastBf16Guard& operator=(const CudaAutocastBf16Guard&) = delete;

 private:
  bool previous_;
};

namespace detail {

// Throws unless every defined tensor lives on the same device; returns that device. A 0-d host
// tensor may join a CUDA computation (scalars such as eps); the op moves it with on_device.
Device common_device(const char* op, std::initializer_list<const Tensor*> ts);
// compute_dtype for a CUDA op: f32, or DTypeError for f64 (the f64 path is the CPU's).
DType cuda_compute_dtype(const char* op, std::initializer_list<const Tensor*> ts);
// x converted to dtype and placed on device (a no-op when it already is).
Tensor on_device(const Tensor& x, DType dtype, Device device);
// f64 when any input is f64, else f32 (16-bit inputs compute in f32). Throws DTypeError for
// non-floating inputs.
DType compute_dtype(const char* op, std::initializer_list<const Tensor*> ts);
// x converted to dtype (a no-op view when it already is).
Tensor as_dtype(const Tensor& x, DType dtype);
// A loop over a contiguous output of out_shape reading each operand with broadcast strides.
kernels::BroadcastLoop broadcast_loop(const Shape& out_shape, std::initializer_list<const Tensor*> operands);
// Permutation that moves `dim` last, keeping the order of the others.
std::vector<int> move_dim_last(int ndim, int dim);
std::vector<int> inverse_permutation(const std::vector<int>& perm);
[[noreturn]] void no_cuda_kernel(const char* op);
// Sums a broadcast gradient back to `shape` (leading dims and dims of size 1): the vjp of broadcasting.
Tensor sum_to(const Tensor& g, const Shape& shape);
// A zero tensor of `shape` with `g` written into the view `region(zeros)`: vjps of narrow/select.
Tensor scatter_into_zeros(const Shape& shape, const Tensor& g, const std::function<Tensor(const Tensor&)>& region);

}  // namespace detail
}  // namespace rscapret::ops
