#include "tensor/host_allocator.h"

#include <atomic>
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

std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};

void count_alloc(size_t size) {
  const size_t now = g_live.fetch_add(size) + size;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

size_t padded(size_t nbytes) {
  const size_t p = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  return p == 0 ? kAlignment : p;
}

}  // namespace

void* allocate(size_t nbytes) {
  const size_t size = padded(nbytes);
  count_alloc(size);
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
  if (!p) {
    g_live.fetch_sub(size);
    throw Error(cat("[alloc] out of memory allocating ", nbytes, " bytes on the host"));
  }
  return p;
}

void release(void* p, size_t nbytes) noexcept {
  if (!p) return;
  const size_t size = padded(nbytes);
  g_live.fetch_sub(size);
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

Usage usage() { return {g_live.load(), g_peak.load()}; }
void reset_peak() { g_peak.store(g_live.load()); }

void clear_cache() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, p] : c.blocks) std::free(p);
  c.blocks.clear();
  c.bytes = 0;
}

}  // namespace rscapret::host_allocator
