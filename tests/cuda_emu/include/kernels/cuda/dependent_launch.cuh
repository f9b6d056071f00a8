// Emulated stand-in for kernels/cuda/dependent_launch.cuh (same names and include guard, so the
// real header is never read). Launches run one after the other, so a programmatic dependent's
// wait has nothing to wait for; what the emulation checks is the rule that keeps dependent
// launches safe: every thread waits before its first checked global load (simt::State::dependent).
#ifndef RSCAPRET_DEPENDENT_LAUNCH_CUH
#define RSCAPRET_DEPENDENT_LAUNCH_CUH

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

inline void wait_for_predecessor() { simt::me().waited = true; }
inline void allow_dependents() {}
inline void prefetch_l2(const void*) {}  // a hint: any address is legal

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t, const char*,
                      Args&&... args) {
  simt::launch(
      grid, block, smem, [&] { kernel(args...); }, /*dependent=*/true, reinterpret_cast<const void*>(kernel));
}

}  // namespace rscapret::kernels::cuda

#endif  // RSCAPRET_DEPENDENT_LAUNCH_CUH
