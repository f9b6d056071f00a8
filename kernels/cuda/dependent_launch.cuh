// Programmatic dependent launch (Hopper and later) for the decode chain.
//
// At batch-1 decode a token is ~8 kernels per layer, most of them a few microseconds long, and
// between two kernels the device drains the first grid, then launches and ramps up the next: the
// HBM stream stops at every boundary. A kernel launched with `launch_dependent` may be scheduled
// while its predecessor still runs (once every block of the predecessor has called
// `allow_dependents`, or when it ends); it must call `wait_for_predecessor` before it reads
// anything the predecessor (or any earlier work) may write, and before it writes anything at all.
// Until then it may only do what cannot depend on earlier work: address arithmetic, and L2
// prefetches of constant weights (`prefetch_l2`: a hint, never a read, and L2 is coherent, so even
// a weight being updated cannot be read stale through it). The decode GEMV prefetches the start of
// its weight rows there, so the weight stream begins while the norm or attention before it runs.
// After the wait, data an earlier kernel wrote is read with ordinary (coherent) loads, not the
// read-only path (__ldg / ld.global.nc), whose contract is that the data stays unchanged for the
// whole life of the kernel, which a dependent launch begins before its predecessor's writes.
//
// Without a dependency (a plain launch, or before Hopper) `wait_for_predecessor` returns at once
// and `allow_dependents` does nothing, so a kernel written this way is correct under either launch.
// Classic include guard (not #pragma once), as attention_device.cuh: the host emulation of the
// kernels (tests/cuda_emu) supplies its own versions of these device functions.
#ifndef RSCAPRET_DEPENDENT_LAUNCH_CUH
#define RSCAPRET_DEPENDENT_LAUNCH_CUH

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

// ---- device side ----

// Blocks until every grid this one depends on has finished and its writes are visible.
__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the next grid (if launched with launch_dependent) be scheduled before this one ends. Called
// by each block after its own wait_for_predecessor, so at most two grids of the chain overlap.
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Asks L2 to fetch the 128-byte line holding p (global memory); no value is returned. The generic
// form of the instruction: p is a generic address.
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.L2 [%0];" ::"l"(p));
#endif
}

// ---- host side ----

namespace pdl {
// Whether launch_dependent adds the dependency on `device`: the switch (set_cuda_dependent_launch)
// is on, the device is cc >= 9.0, the kernels were built for it (their wait is real), and no
// launch with the attribute has failed there.
bool enabled(int device);
// A launch with the attribute failed on `device`: plain launches from now on, said once on stderr.
void disable_after_failure(int device, cudaError_t err, const char* what);
}  // namespace pdl

// kernel<<<grid, block, smem, stream>>>(args...) on the current device, as a programmatic
// dependent of the stream's previous kernel where pdl::enabled. The kernel must follow the rules
// at the top of this file. Launch errors throw DeviceError (as check_launch).
template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                      const char* what, Args&&... args) {
  int device = 0;
  if (cudaGetDevice(&device) == cudaSuccess && pdl::enabled(device)) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    config.attrs = attr;
    config.numAttrs = 1;
    const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
    if (err == cudaSuccess) return;
    (void)cudaGetLastError();  // a refused launch is not sticky: clear it and try a plain one
    kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
    check_launch(what);
    pdl::disable_after_failure(device, err, what);  // only the attribute was refused
    return;
  }
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  check_launch(what);
}

}  // namespace rscapret::kernels::cuda

#endif  // RSCAPRET_DEPENDENT_LAUNCH_CUH
