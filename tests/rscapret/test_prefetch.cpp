// Prefetched bridge batches are exactly the wrapped function's batches, in any request order, and
// errors reach the caller that asks for the failing batch.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "train/bridge/prefetch.h"

namespace rscapret::train {
namespace {

std::string key(int64_t s, int64_t m) { return std::to_string(s) + "/" + std::to_string(m); }

struct Recorder {
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> calls{0};
  BridgeBatchFn fn() {
    return [this](int64_t s, int64_t m) {
      {
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(std::this_thread::get_id());
      }
      ++calls;
      if (s == 7 && m == 1) throw std::runtime_error("bad image at 7/1");
      BridgeBatch b;
      b.captions = {key(s, m)};
      return b;
    };
  }
};

TEST(Prefetch, InOrderRequestsMatchTheWrappedFunctionAndRunAhead) {
  Recorder r;
  const auto f = prefetch_batches(r.fn(), /*grad_accum=*/3, /*depth=*/2);
  for (int64_t s = 0; s < 5; ++s)
    for (int64_t m = 0; m < 3; ++m) EXPECT_EQ(f(s, m).captions.at(0), key(s, m));
  // All but the first batch were made ahead, on the worker thread.
  EXPECT_EQ(r.threads.size(), 2u);
  EXPECT_LE(r.calls.load(), 15 + 2);  // at most `depth` made beyond the last request
}

TEST(Prefetch, JumpsAndRepeatsStillGiveTheRightBatch) {
  Recorder r;
  const auto f = prefetch_batches(r.fn(), 2, 3);
  EXPECT_EQ(f(0, 0).captions.at(0), key(0, 0));
  EXPECT_EQ(f(4, 1).captions.at(0), key(4, 1));  // a resume-like jump
  EXPECT_EQ(f(5, 0).captions.at(0), key(5, 0));
  EXPECT_EQ(f(5, 0).captions.at(0), key(5, 0));  // asked twice: made again, same answer
  EXPECT_EQ(f(2, 0).captions.at(0), key(2, 0));  // backwards
  EXPECT_EQ(f(2, 1).captions.at(0), key(2, 1));
}

TEST(Prefetch, AnErrorReachesTheCallerOfThatBatchOnly) {
  Recorder r;
  const auto f = prefetch_batches(r.fn(), 2, 2);
  EXPECT_EQ(f(6, 1).captions.at(0), key(6, 1));
  EXPECT_EQ(f(7, 0).captions.at(0), key(7, 0));  // 7/1 already failed in the background
  EXPECT_THROW(f(7, 1), std::runtime_error);
  EXPECT_EQ(f(8, 0).captions.at(0), key(8, 0));
}

TEST(Prefetch, DepthZeroIsTheFunctionItself) {
  Recorder r;
  const auto f = prefetch_batches(r.fn(), 1, 0);
  EXPECT_EQ(f(3, 0).captions.at(0), key(3, 0));
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(r.threads.count(std::this_thread::get_id()), 1u);
}

}  // namespace
}  // namespace rscapret::train
