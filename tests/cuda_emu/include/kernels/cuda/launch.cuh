// Emulated stand-in for kernels/cuda/launch.cuh (same names): one device, no streams.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/kernel_types.h"
#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::kernels::cuda {

inline cudaStream_t stream_for(int) { return nullptr; }
inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw DeviceError(cat("[cuda] ", what, ": ", cudaGetErrorString(err)));
}
inline void check_launch(const char* what) { check_cuda(cudaGetLastError(), what); }
template <typename... Params, typename... Args>
void launch_plain(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t, const char*,
                  Args&&... args) {
  simt::launch(
      grid, block, smem, [&] { kernel(args...); }, false, reinterpret_cast<const void*>(kernel));
}
template <typename T>
inline T* dynamic_smem() {
  return reinterpret_cast<T*>(simt::state().smem);
}
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, cap)));
}

}  // namespace rscapret::kernels::cuda
