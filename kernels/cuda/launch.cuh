// What every CUDA kernel file needs on the host side: the device's stream, launch checks, grids,
// the plain launch, and the block's dynamic shared memory.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "kernels/kernel_types.h"
#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::kernels::cuda {

// Makes `device` current and returns its stream (created on first use).
inline cudaStream_t stream_for(int device) { return static_cast<cudaStream_t>(cuda_runtime::stream(device)); }

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw DeviceError(cat("[cuda] ", what, ": ", cudaGetErrorString(err)));
}
// After every launch: a bad configuration shows here; faults inside the kernel show at the next sync.
inline void check_launch(const char* what) { check_cuda(cudaGetLastError(), what); }

// The plain launch, kernel<<<grid, block, smem, stream>>>(args...) then check_launch(what), in one
// spelling for the kernel files whose launchers the host emulation runs (tests/cuda_emu supplies
// its own version of this header).
template <typename... Params, typename... Args>
void launch_plain(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char* what,
                  Args&&... args) {
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  check_launch(what);
}

// The block's dynamic shared memory (16-byte aligned), viewed as T.
template <typename T>
__device__ __forceinline__ T* dynamic_smem() {
  extern __shared__ uint4 launch_dynamic_smem_raw[];
  return reinterpret_cast<T*>(launch_dynamic_smem_raw);
}

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, cap)));
}

}  // namespace rscapret::kernels::cuda
