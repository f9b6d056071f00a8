#include "tensor/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "tensor/error.h"

namespace rscapret::host_allocator {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCacheFrom = size_t(1) << 20;  // smaller blocks are malloc's business

size_t cache_limit() {
  static const size_t limit = [] {
    const char* env = std::getenv("RSCAPRET_HOST_CACHE_MB");
    const long mb = env ? std::atol(env) : 1024;
    return size_t(mb < 0 ? 0 : mb) << 20;
  }();
  return limit;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> blocks;  // padded size -> block
  size_t bytes = 0;
  ~Cache() {
    for (auto& [size, p] : blocks) std::free(p);
  }
};
Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may be freed during static teardown
  return *c;
}

size_t padded(size_t nbytes) {
  const size_t p = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  return p == 0 ? kAlignment : p;
}

}  // namespace

void* allocate(size_t nbytes) {
  const size_t size = padded(nbytes);
  if (size >= kCacheFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.blocks.find(size);
    if (it != c.blocks.end()) {
      void* p = it->second;
      c.blocks.erase(it);
      c.bytes -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p && size >= kCacheFrom) {  // memory is tight: give the cache back and retry once
    clear_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  if (!p) throw Error(cat("[alloc] out of memory allocating ", nbytes, " bytes on the host"));
  return p;
}

void release(void* p, size_t nbytes) noexcept {
  if (!p) return;
  const size_t size = padded(nbytes);
  if (size >= kCacheFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + size <= cache_limit()) {
      c.blocks.emplace(size, p);
      c.bytes += size;
      return;
    }
  }
  std::free(p);
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void clear_cache() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, p] : c.blocks) std::free(p);
  c.blocks.clear();
  c.bytes = 0;
}

}  // namespace rscapret::host_allocator
