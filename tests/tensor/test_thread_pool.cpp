// The thread pool: every chunk runs exactly once and has finished when run() returns, over many
// short jobs in a row whose functions capture the caller's stack, as parallel_for does.
// Why: the pool once let a worker woken late for a finished job claim a chunk of the next one
// through a stale counter (it compared an old job's counter with the new job's chunk count, read
// without synchronisation), and count it as done; run() could then return while a chunk still
// ran on the caller's dead frame. It crashed `train lm` in a `where` kernel after ~1,000 steps, at
// a different step each run. The window is nanoseconds wide: plain runs of these loops never hit it
// on the old pool, but built with ThreadSanitizer (test_thread_pool_tsan, tests/tensor/CMakeLists)
// they report the old pool's race at once (checked) and the current pool's none. Every job's
// contract is checked too, with more threads than cores to vary the timing.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "tensor/thread_pool.h"

namespace rscapret {
namespace {

struct ThreadsGuard {
  explicit ThreadsGuard(int n) { thread_pool::set_num_threads(n); }
  ~ThreadsGuard() { thread_pool::set_num_threads(0); }
};

TEST(ThreadPool, EveryChunkOnceAndDoneOnReturn) {
  for (int threads : {2, 3, 8}) {
    ThreadsGuard guard(threads);
    EXPECT_EQ(thread_pool::num_threads(), threads);
    for (int job = 0; job < 20000; ++job) {
      const int64_t chunks = 2 + job % 7;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(chunks));  // on this frame: dies with the job
      for (auto& h : hits) h.store(0);
      thread_pool::run(chunks, [&](int64_t c) {
        // A little work of varying length, so that workers join some jobs late.
        volatile int64_t spin = 0;
        for (int64_t i = 0; i < (job * 7 + c * 13) % 200; ++i) spin = spin + i;
        hits[size_t(c)].fetch_add(1);
      });
      for (int64_t c = 0; c < chunks; ++c)
        ASSERT_EQ(hits[size_t(c)].load(), 1) << "job " << job << " chunk " << c << " with " << threads << " threads";
    }
  }
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadsGuard guard(4);
  std::atomic<int64_t> sum{0};
  thread_pool::run(8, [&](int64_t c) { thread_pool::run(4, [&](int64_t d) { sum.fetch_add(c * 4 + d); }); });
  EXPECT_EQ(sum.load(), 31 * 32 / 2);
}

}  // namespace
}  // namespace rscapret
