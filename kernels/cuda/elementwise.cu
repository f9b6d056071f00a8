// Elementwise CUDA kernels. The first one proves the plug: same-shape f32 binary arithmetic with a
// grid-stride loop; broadcasting and the rest of the registry follow in the CUDA issue.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_kernels.h"
#include "tensor/error.h"

namespace rscapret::kernels::cuda {

namespace {

template <BinaryOp op>
__device__ __forceinline__ float apply(float a, float b) {
  if constexpr (op == BinaryOp::add) return a + b;
  if constexpr (op == BinaryOp::sub) return a - b;
  if constexpr (op == BinaryOp::mul) return a * b;
  return a / b;
}

template <BinaryOp op>
__global__ void binary_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out,
                              int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = apply<op>(a[i], b[i]);
}

void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw DeviceError(cat("[cuda] ", what, ": ", cudaGetErrorString(err)));
}

}  // namespace

void binary_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int device) {
  if (n == 0) return;
  if (cudaSetDevice(device) != cudaSuccess) throw DeviceError(cat("[cuda] cannot select cuda:", device));
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535 * 8);
  switch (op) {
    case BinaryOp::add: binary_kernel<BinaryOp::add><<<unsigned(blocks), threads>>>(a, b, out, n); break;
    case BinaryOp::sub: binary_kernel<BinaryOp::sub><<<unsigned(blocks), threads>>>(a, b, out, n); break;
    case BinaryOp::mul: binary_kernel<BinaryOp::mul><<<unsigned(blocks), threads>>>(a, b, out, n); break;
    case BinaryOp::div: binary_kernel<BinaryOp::div><<<unsigned(blocks), threads>>>(a, b, out, n); break;
  }
  check_launch("binary_f32");
}

}  // namespace rscapret::kernels::cuda
