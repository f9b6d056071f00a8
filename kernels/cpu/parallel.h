// parallel_for over the thread pool (tensor/thread_pool.h). Work is split into fixed chunks of
// `grain` items, so which thread runs a chunk never changes a result: kernels never split one
// reduction across threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tensor/thread_pool.h"

namespace rscapret::kernels {

inline int num_threads() { return thread_pool::num_threads(); }
inline void set_num_threads(int n) { thread_pool::set_num_threads(n); }

// Rows per chunk for row-wise kernels: about 32 K elements of work per chunk.
inline int64_t row_grain(int64_t row_length) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(row_length, 1)); }

template <typename Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || num_threads() == 1) {
    fn(begin, end);
    return;
  }
  thread_pool::run(chunks, [&](int64_t c) {
    const int64_t b = begin + c * grain;
    fn(b, std::min(end, b + grain));
  });
}

}  // namespace rscapret::kernels
