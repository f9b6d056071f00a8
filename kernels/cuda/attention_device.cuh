// What the attention kernels and launchers use that is not plain C++: the block's dynamic shared
// memory, the conversions between f32 and packed bf16 pairs, and the kernel launch itself. A
// classic include guard (not #pragma once) lets the host emulation of the kernels (tests/cuda_emu)
// supply its own versions of exactly these functions (as for gemm_ptx.cuh's cp.async, ldmatrix
// and mma) and run the launchers of attention.cu and flash_attention_bf16.cu unchanged.
#ifndef RSCAPRET_ATTENTION_DEVICE_CUH
#define RSCAPRET_ATTENTION_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/dependent_launch.cuh"

namespace rscapret::kernels::cuda::attn {

// The block's dynamic shared memory (16-byte aligned), viewed as T.
template <typename T>
__device__ __forceinline__ T* dynamic_smem() {
  extern __shared__ uint4 attn_smem_raw[];
  return reinterpret_cast<T*>(attn_smem_raw);
}

// Two f32 -> one register of two bf16 (round to nearest even): `lo` in bits 0..15, `hi` in
// 16..31, the order of mma fragments (the element with the lower column index in the low half).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (low half), .y = hi
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The two bf16 of a packed pair as f32 (bf16 is the top half of an f32).
__device__ __forceinline__ float bf16_lo(uint32_t pair) { return __uint_as_float(pair << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t pair) { return __uint_as_float(pair & 0xffff0000u); }

// kernel<<<grid, block, smem, stream>>>(p): the launchers' plain launch.
template <typename Params>
inline void launch_kernel(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                          const Params& p) {
  kernel<<<grid, block, smem, stream>>>(p);
}

// The same as a programmatic dependent of the stream's previous kernel (dependent_launch.cuh): the
// kernel must wait_for_predecessor before touching memory. Throws on a launch error.
template <typename Params>
inline void launch_kernel_dependent(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                    const Params& p, const char* what) {
  launch_dependent(kernel, grid, block, smem, stream, what, p);
}

}  // namespace rscapret::kernels::cuda::attn

#endif  // RSCAPRET_ATTENTION_DEVICE_CUH
