#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "tensor/device_backend.h"
#include "tensor/error.h"
#include "tensor/host_allocator.h"

namespace rscapret {

namespace {
// Larger than any machine we run on: a request above it is a bug or a hostile file, not a tensor.
constexpr size_t kMaxAllocation = size_t(1) << 46;  // 64 TiB
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  RS_CHECK(nbytes <= kMaxAllocation, ValueError, "alloc", "refusing to allocate ", nbytes,
           " bytes on ", device.str());
  if (device.is_cuda()) {
    void* p = cuda_runtime::allocate(nbytes, device.index);
    const int idx = device.index;
    std::shared_ptr<void> owner(p, [idx](void* q) { cuda_runtime::release(q, idx); });
    return std::shared_ptr<Storage>(new Storage(p, nbytes, device, std::move(owner), false));
  }
  void* p = host_allocator::allocate(nbytes);
  std::shared_ptr<void> owner(p, [nbytes](void* q) { host_allocator::release(q, nbytes); });
  return std::shared_ptr<Storage>(new Storage(p, nbytes, device, std::move(owner), false));
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device,
                                       std::shared_ptr<void> owner, bool read_only) {
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::move(owner), read_only));
}

}  // namespace rscapret
