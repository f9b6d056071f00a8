// Linked when the build has no CUDA: every device call reports that clearly.
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
void* allocate(size_t, int) { no_cuda(); }
void release(void*, int) noexcept {}
void copy_host_to_device(void*, const void*, size_t, int) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t, int) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t, int) { no_cuda(); }
void synchronize(int) { no_cuda(); }

}  // namespace rscapret::cuda_runtime
