// The counter-based RNG: same seed, same bytes, whatever the thread count.
#include <gtest/gtest.h>

#include "tensor/thread_pool.h"
#include <xxhash.h>

#include <cmath>

#include "tensor/rng.h"

namespace rscapret {
namespace {

uint64_t hash(const Tensor& t) {
  const Tensor c = t.contiguous();
  return XXH3_64bits(c.raw_data(), size_t(c.numel()) * c.element_size());
}

uint64_t draw_hash(int threads) {
  thread_pool::set_num_threads(threads);
  Generator g(1234);
  // Large enough that the fill runs in parallel when threads > 1.
  const uint64_t a = hash(g.normal({1 << 20}));
  const uint64_t b = hash(g.uniform({3, 1000}));
  const uint64_t c = hash(g.randint({777}, 50));
  return a ^ (b * 31) ^ (c * 131);
}

TEST(Rng, SameBytesWithOneAndTwoThreads) {
  const uint64_t one = draw_hash(1);
  const uint64_t two = draw_hash(2);
  thread_pool::set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(Rng, SuccessiveDrawsDifferAndSeedsMatter) {
  Generator g(7), h(7), k(8);
  EXPECT_EQ(hash(g.normal({100})), hash(h.normal({100})));
  EXPECT_NE(hash(g.normal({100})), hash(k.normal({100})));
  Generator m(7);
  const auto first = hash(m.normal({100}));
  EXPECT_NE(first, hash(m.normal({100})));
}

TEST(Rng, MomentsAreRight) {
  Generator g(42);
  const auto n = g.normal({200000}).to_vector<double>();
  double s = 0, s2 = 0;
  for (double x : n) s += x, s2 += x * x;
  const double mean = s / n.size(), var = s2 / n.size() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);  // 5 sigma of the sample mean is 0.011
  EXPECT_NEAR(var, 1.0, 0.02);
  const auto u = g.uniform({100000}, 2.0, 3.0).to_vector<double>();
  for (double x : u) ASSERT_TRUE(x >= 2.0 && x < 3.0);
  const auto r = g.randint({10000}, 3).to_vector<int64_t>();
  int counts[3] = {};
  for (int64_t x : r) {
    ASSERT_TRUE(x >= 0 && x < 3);
    ++counts[x];
  }
  for (int c : counts) EXPECT_GT(c, 3000);
}

TEST(Rng, PhiloxKnownAnswer) {
  // The published known-answer vector of Philox-4x32-10 for counter 0 and key 0 (Random123's
  // kat_vectors): our generator is the standard one.
  const auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

}  // namespace
}  // namespace rscapret
