// Linked when the build has no CUDA: every device call reports that clearly.
#include "kernels/cuda/cuda_kernels.h"
#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::cuda_runtime {

namespace {
[[noreturn]] void no_cuda() {
  throw DeviceError("[cuda] this build of rscapret has no CUDA backend (configure with nvcc present)");
}
}  // namespace

bool available() { return false; }
int device_count() { return 0; }
void* stream(int) { no_cuda(); }
void* allocate(size_t, int) { no_cuda(); }
void release(void*, int) noexcept {}
MemoryStats memory_stats(int) { return {}; }
void reset_peak(int) {}
void empty_cache(int) {}
void set_small_copy_ring(bool) {}
void copy_host_to_device(void*, const void*, size_t, int) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t, int) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t, int) { no_cuda(); }
void synchronize(int) { no_cuda(); }
bool in_use(int) { return false; }

}  // namespace rscapret::cuda_runtime

// The device copy kernels are part of the tensor library (its copies and casts call them).
namespace rscapret::kernels::cuda {
void strided_copy(const void*, DType, void*, DType, const BroadcastLoop&, int) {
  throw DeviceError("[cuda] this build of rscapret has no CUDA backend");
}
void fill(void*, DType, int64_t, double, int) { throw DeviceError("[cuda] this build of rscapret has no CUDA backend"); }
}  // namespace rscapret::kernels::cuda
