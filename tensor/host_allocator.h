// Host memory for tensors: 64-byte aligned, with a cache of large freed blocks.
// Why: glibc serves blocks above 32 MB with fresh mmaps, so every large temporary (a 4096 x 4096
// activation) would page-fault on first touch, on every step. Reusing freed blocks of the same
// size keeps the pages mapped. The cache holds at most RSCAPRET_HOST_CACHE_MB (default 1024) MB.
#pragma once

#include <cstddef>

namespace rscapret::host_allocator {

void* allocate(size_t nbytes);         // never null: throws Error when out of memory
void release(void* p, size_t nbytes) noexcept;
size_t cached_bytes();                 // bytes held in the cache now
void clear_cache() noexcept;           // returns every cached block to the system

// Bytes held by live tensors (cache excluded) now, and the most since the last reset: the
// memory benchmarks read these around a forward or backward pass.
struct Usage {
  size_t live_bytes;
  size_t peak_bytes;
};
Usage usage();
void reset_peak();

}  // namespace rscapret::host_allocator
