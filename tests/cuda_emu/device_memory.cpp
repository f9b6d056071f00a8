// The device allocator of the kernel files' scratch buffers (tensor/device_backend.h), in the
// emulation: host memory, valid global memory for the emulated kernels while it is allocated.
#include <cstdlib>

#include "tensor/device_backend.h"
#include "tests/cuda_emu/simt.h"

namespace rscapret::cuda_runtime {
void* allocate(size_t bytes, int) {
  void* p = std::malloc(bytes ? bytes : 1);
  simt::register_buffer(p, bytes);
  return p;
}
void release(void* p, int) noexcept {
  simt::unregister_buffer(p);
  std::free(p);
}
}  // namespace rscapret::cuda_runtime
