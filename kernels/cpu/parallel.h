// A small parallel-for over OpenMP. Work is split into fixed chunks of `grain` items, so which
// thread runs a chunk never changes a result: kernels never split one reduction across threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace rscapret::kernels {

// Number of threads kernels use (RSCAPRET_THREADS, else OpenMP's default).
int num_threads();
void set_num_threads(int n);

template <typename Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || num_threads() == 1 || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = begin + c * grain;
    fn(b, std::min(end, b + grain));
  }
}

}  // namespace rscapret::kernels
