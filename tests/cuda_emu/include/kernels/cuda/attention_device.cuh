// Emulated stand-in for kernels/cuda/attention_device.cuh (same names and include guard).
#ifndef RSCAPRET_ATTENTION_DEVICE_CUH
#define RSCAPRET_ATTENTION_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/dependent_launch.cuh"

namespace rscapret::kernels::cuda::attn {

template <typename T>
inline T* dynamic_smem() {
  return reinterpret_cast<T*>(simt::state().smem);
}
inline uint32_t pack_bf16x2(float lo, float hi) {
  return uint32_t(__float2bfloat16_rn(lo).x) | (uint32_t(__float2bfloat16_rn(hi).x) << 16);
}
inline float bf16_lo(uint32_t pair) { return __uint_as_float(pair << 16); }
inline float bf16_hi(uint32_t pair) { return __uint_as_float(pair & 0xffff0000u); }

template <typename Params>
inline void launch_kernel(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem, cudaStream_t, const Params& p) {
  simt::launch(
      grid, block, smem, [&] { kernel(p); }, false, reinterpret_cast<const void*>(kernel));
}
template <typename Params>
inline void launch_kernel_dependent(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem, cudaStream_t,
                                    const Params& p, const char*) {
  simt::launch(
      grid, block, smem, [&] { kernel(p); }, /*dependent=*/true, reinterpret_cast<const void*>(kernel));
}

}  // namespace rscapret::kernels::cuda::attn

#endif  // RSCAPRET_ATTENTION_DEVICE_CUH
