// A plain parallel read of memory, the yardstick for bandwidth-bound kernels: every 64-bit word of
// [p, p + n) summed, in chunks of 2 MB spread over the thread pool (as the kernels spread theirs).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace rscapret::bench {

inline uint64_t parallel_word_sum(const uint64_t* p, int64_t n) {
  constexpr int64_t kGrain = int64_t(1) << 18;  // words per chunk
  std::vector<uint64_t> sums(size_t(n / kGrain + 1), 0);
  kernels::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    uint64_t s0 = 0, s1 = 0;  // two chains, so the adds never limit the stream
    int64_t i = b;
    for (; i + 1 < e; i += 2) {
      s0 += p[i];
      s1 += p[i + 1];
    }
    if (i < e) s0 += p[i];
    sums[size_t(b / kGrain)] = s0 + s1;
  });
  uint64_t total = 0;
  for (uint64_t v : sums) total += v;
  return total;
}

}  // namespace rscapret::bench
