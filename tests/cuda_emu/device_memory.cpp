// The device allocator of the kernel files' scratch buffers (tensor/device_backend.h), in the
// emulation: host memory.
#include <cstdlib>

#include "tensor/device_backend.h"

namespace rscapret::cuda_runtime {
void* allocate(size_t bytes, int) { return std::malloc(bytes ? bytes : 1); }
void release(void* p, int) noexcept { std::free(p); }
}  // namespace rscapret::cuda_runtime
