// The launches of one tile configuration of the bf16 flash attention (host side): the forward,
// and the backward's delta, dq and dk/dv kernels, in stream order. Production launches its
// configurations (flash_attention_bf16_tiles.cuh) through here; so do the kernel lab's variants
// and the emulated tests (tests/cuda_emu), so all three run the same launch code.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/attention_device.cuh"
#include "kernels/cuda/flash_attention_bf16_dq_mt.cuh"
#include "kernels/cuda/flash_attention_bf16_fwd_mt.cuh"
#include "kernels/cuda/flash_attention_bf16_kernels.cuh"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda::flash {

// One kernel, or nothing for an empty grid; past 48 KB of shared memory the kernel needs the opt-in.
template <typename Params>
void launch_one(void (*kernel)(Params), const Launch& L, const Params& p, cudaStream_t stream, const char* what) {
  if (L.grid.x == 0 || L.grid.y == 0 || L.grid.z == 0) return;
  if (L.smem > 48 * 1024)
    check_cuda(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(L.smem)),
               what);
  attn::launch_kernel(kernel, L.grid, L.block, L.smem, stream, p);
  check_launch(what);
}

template <class Fwd>
void forward_with(const FwdParams& p, cudaStream_t stream) {
  launch_one(fwd_kernel(static_cast<Fwd*>(nullptr)), fwd_launch<Fwd>(p.s), p, stream, "flash_attention_bf16_forward");
}

// p.delta: scratch of B H Tq floats, written by the first launch and read by the other two.
template <class Dq, class Dkdv>
void backward_with(const BwdParams& p, cudaStream_t stream) {
  static_assert(Dq::D == Dkdv::D, "one head dim");
  launch_one(flash_bwd_delta_kernel<Dq::D>, delta_launch(p.s), p, stream, "flash_attention_bf16_backward (delta)");
  launch_one(dq_kernel(static_cast<Dq*>(nullptr)), dq_launch<Dq>(p.s), p, stream, "flash_attention_bf16_backward (dq)");
  launch_one(flash_bwd_dkdv_kernel<Dkdv>, dkdv_launch<Dkdv>(p.s), p, stream, "flash_attention_bf16_backward (dk, dv)");
}

}  // namespace rscapret::kernels::cuda::flash
