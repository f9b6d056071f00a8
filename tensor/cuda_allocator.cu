// The caching device allocator. cudaMalloc and cudaFree synchronise the device and cost tens of
// microseconds, and a training step frees and re-allocates the same sizes every step; so freed
// blocks are kept per device, keyed by size, and handed out again (best fit within 2x, so a huge
// block is not spent on a small request). Sizes are rounded up (512 B below 1 MiB, 2 MiB above)
// so that nearby sizes share blocks. Single stream per device: reuse is ordered by the stream.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cuda_check.cuh"
#include "tensor/device_backend.h"

namespace rscapret::cuda_runtime {

namespace {

constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t(2) << 20;
constexpr size_t kLargeThreshold = size_t(1) << 20;

size_t round_size(size_t n) {
  const size_t r = n < kLargeThreshold ? kSmallRound : kLargeRound;
  return (n + r - 1) / r * r;
}

struct DeviceCache {
  std::multimap<size_t, void*> free_blocks;  // size -> block
  std::unordered_map<void*, size_t> live;     // block -> size
  MemoryStats stats;
};

// Both are leaked on purpose: tensors held by other static objects are released during exit,
// after function-local statics could already have been destroyed.
std::mutex& cache_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<DeviceCache>& caches() {
  static auto* c = new std::vector<DeviceCache>(size_t(std::max(device_count(), 1)));
  return *c;
}
DeviceCache& cache_of(int device) {
  auto& c = caches();
  RS_CHECK(device >= 0 && size_t(device) < c.size(), DeviceError, "cuda", "no device cuda:", device);
  return c[size_t(device)];
}

// Returns every cached block of `c` to the driver. Caller holds the mutex and has selected the device.
void free_cached(DeviceCache& c) {
  for (auto& [size, p] : c.free_blocks) {
    cudaFree(p);
    c.stats.cached -= size;
  }
  c.free_blocks.clear();
}

}  // namespace

void* allocate(size_t nbytes, int device) {
  if (nbytes == 0) return nullptr;
  stream(device);  // selects the device
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& c = cache_of(device);
  void* p = nullptr;
  auto it = c.free_blocks.lower_bound(size);
  if (it != c.free_blocks.end() && it->first <= 2 * size) {
    p = it->second;
    c.stats.cached -= it->first;
    c.live[p] = it->first;
    c.stats.allocated += it->first;
    c.free_blocks.erase(it);
  } else {
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, give the cache back and try once more
      cudaDeviceSynchronize();
      free_cached(c);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw DeviceError(cat("[cuda] cannot allocate ", nbytes, " bytes on cuda:", device, " (",
                            cudaGetErrorString(err), "; ", c.stats.allocated, " bytes in use by rscapret, ",
                            free_b, " of ", total_b, " bytes free on the device)"));
    }
    ++c.stats.device_mallocs;
    c.live[p] = size;
    c.stats.allocated += size;
  }
  c.stats.peak_allocated = std::max(c.stats.peak_allocated, c.stats.allocated);
  return p;
}

void release(void* ptr, int device) noexcept {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto& all = caches();
  if (device < 0 || size_t(device) >= all.size()) return;
  DeviceCache& c = all[size_t(device)];
  auto it = c.live.find(ptr);
  if (it == c.live.end()) return;  // not ours: never free what we did not allocate
  c.free_blocks.emplace(it->second, ptr);
  c.stats.allocated -= it->second;
  c.stats.cached += it->second;
  c.live.erase(it);
}

MemoryStats memory_stats(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  return cache_of(device).stats;
}

void reset_peak(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& c = cache_of(device);
  c.stats.peak_allocated = c.stats.allocated;
}

void empty_cache(int device) {
  synchronize(device);
  std::lock_guard<std::mutex> lock(cache_mutex());
  free_cached(cache_of(device));
}

}  // namespace rscapret::cuda_runtime
