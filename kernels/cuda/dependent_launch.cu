// The switch and per-device state of launch_dependent (dependent_launch.cuh).
#include <array>
#include <atomic>
#include <cstdio>

#include "kernels/cuda/dependent_launch.cuh"
#include "tensor/feature_switch.h"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kMaxDevices = 64;

// Compiled like every kernel of the library: its PTX version says whether the kernels were built
// for compute capability >= 9.0, i.e. whether their wait_for_predecessor is griddepcontrol.wait or
// nothing. A binary built for an older GPU (-DCMAKE_CUDA_ARCHITECTURES=80) and run on a Hopper card
// by JIT has no wait in its kernels, so its launches must stay plain.
__global__ void pdl_build_probe_kernel() {}

std::atomic<bool>& switch_slot() {
  static std::atomic<bool> on{feature_enabled_by_env("dependent_launch")};
  return on;
}

// Per device: 0 not yet known, 1 dependent launches allowed, 2 not (cc < 9.0, kernels built
// without the wait, or one was refused).
std::array<std::atomic<int>, kMaxDevices>& device_state() {
  static std::array<std::atomic<int>, kMaxDevices> state{};
  return state;
}

}  // namespace

void set_cuda_dependent_launch(bool on) { switch_slot().store(on, std::memory_order_relaxed); }
bool cuda_dependent_launch() { return switch_slot().load(std::memory_order_relaxed); }

namespace pdl {

bool enabled(int device) {
  if (!cuda_dependent_launch() || device < 0 || device >= kMaxDevices) return false;
  std::atomic<int>& slot = device_state()[size_t(device)];
  int state = slot.load(std::memory_order_acquire);
  if (state == 0) {
    int major = 0;  // attribute queries, cheap, but asked once per device
    cudaFuncAttributes probe{};
    const bool hopper_or_later =
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
    const bool built_with_wait =
        hopper_or_later && cudaFuncGetAttributes(&probe, pdl_build_probe_kernel) == cudaSuccess && probe.ptxVersion >= 90;
    if (hopper_or_later && !built_with_wait) (void)cudaGetLastError();  // a failed query is an answer, not an error
    int expected = 0;
    slot.compare_exchange_strong(expected, built_with_wait ? 1 : 2, std::memory_order_acq_rel);
    state = slot.load(std::memory_order_acquire);
  }
  return state == 1;
}

void disable_after_failure(int device, cudaError_t err, const char* what) {
  if (device < 0 || device >= kMaxDevices) return;
  if (device_state()[size_t(device)].exchange(2, std::memory_order_acq_rel) != 2)
    std::fprintf(stderr, "rscapret: cuda:%d refused a programmatic dependent launch (%s: %s); plain launches from now on\n",
                 device, what, cudaGetErrorString(err));
}

}  // namespace pdl

bool cuda_dependent_launch_active(int device) { return pdl::enabled(device); }

}  // namespace rscapret::kernels::cuda
