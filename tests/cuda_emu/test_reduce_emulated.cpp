// Row reductions, softmax / log_softmax, argmax and the whole-buffer sum (kernels/cuda/reduce.cu),
// their own source on the host emulator (simt.h), against the CPU reference kernels
// (kernels/cpu/ref/reduce_ref.cpp): both kernels of each (a warp a row up to 1024 elements, a
// block a row beyond), lengths that are not a multiple of the warp or of the block, partly empty
// blocks, n = 0, the special values the reference defines (NaN, +-inf, all -inf, all NaN, logits
// far from 0), argmax ties and NaNs, and sum_all over one block and several (its grid-stride loop),
// also against a replay of its documented summation order. Block-a-row cases also run with one
// warp at a time up to each barrier, which breaks a reuse of shared memory that another warp is
// still reading. Outputs are followed by sentinels (a write past the end changes their bits) and
// inputs by NaNs (a read past the end poisons a result).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/reduce.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::normal;
using emu_test::Registered;
using emu_test::expect_like;
using emu_test::kSentinel;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::kernels::ReduceOp;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kPad = 5;
constexpr int64_t kSentinelIndex = -7;

// n values followed by kPad sentinels.
std::vector<float> padded(std::vector<float> v) {
  v.insert(v.end(), kPad, kSentinel);
  return v;
}
void expect_untouched_tail(const std::vector<float>& v, size_t n) {
  for (size_t i = n; i < v.size(); ++i) EXPECT_EQ(bits(v[i]), bits(kSentinel)) << "written past the end at " << i;
}

// The timings a case runs under: warps in lockstep, and (block a row only, where warps meet at
// barriers) one warp at a time up to each barrier.
std::vector<bool> serial_timings(int64_t n) {
  return n > 1024 ? std::vector<bool>{false, true} : std::vector<bool>{false};
}

constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::logsumexp};
const char* op_name(ReduceOp op) {
  return op == ReduceOp::sum ? "sum" : op == ReduceOp::mean ? "mean" : op == ReduceOp::max ? "max" : "logsumexp";
}

// reduce_rows on x [rows, n] (x without its padding), checked against the reference. The sums
// run in f32 in another order than the reference's double: each addition's rounding is at most
// 2^-24 of the running |sum|, over at most 37 additions on the way to the result (32 a lane and 5
// butterfly steps at n = 1024), so 4e-6 of the sum of |x| bounds it (a dropped or doubled element
// moves the result by ~|x| ~ 1).
void check_reduce_rows(const std::vector<float>& x, int64_t rows, int64_t n) {
  const std::vector<float> xp = padded(x);
  for (const bool serial : serial_timings(n)) {
    const simt::Timing timing(true, serial);
    for (const ReduceOp op : kOps) {
      SCOPED_TRACE(::testing::Message() << op_name(op) << " " << rows << " x " << n << (serial ? " warp-serial" : ""));
      std::vector<float> want(static_cast<size_t>(rows)), got = padded(std::vector<float>(size_t(rows), kSentinel));
      ref::reduce_rows(op, x.data(), want.data(), rows, n);
      {
        const Registered reg{{xp.data(), x.size() * 4}, {got.data(), size_t(rows) * 4}};
        kc::reduce_rows(op, xp.data(), got.data(), rows, n, 0);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const size_t i = size_t(r);
        if (op == ReduceOp::max) {  // a comparison, exact: NaN and -inf (n = 0) included
          EXPECT_EQ(bits(got[i]), bits(want[i])) << "row " << r << ": " << got[i] << " vs " << want[i];
          continue;
        }
        double abs_sum = 0;
        for (int64_t c = 0; c < n; ++c) abs_sum += std::fabs(x[size_t(r * n + c)]);
        double tol = 4e-6 * abs_sum / (op == ReduceOp::mean ? double(n) : 1.0);
        // logsumexp: m + log(s) with s >= 1 summed as above (relative 4e-6 of s is 4e-6 in its log),
        // plus the roundings of log and of the final addition (a few ulp of |result|).
        if (op == ReduceOp::logsumexp) tol = 4e-6 + 4e-7 * std::fabs(want[i]);
        expect_like(got[i], want[i], tol, "row", i);
      }
      expect_untouched_tail(got, size_t(rows));
    }
  }
}

// Lengths below a warp, not a multiple of it, the warp-a-row limit and one past it, and a block
// row that leaves part of the block's last stride empty. A warp a row: 9 rows leave the second
// block of 8 warps with one row (its idle warps skip the loop), 1 row one warp in the grid. n = 0
// gives the reference's empty-row values (sum 0, mean NaN, max and logsumexp -inf); rows = 0
// launches nothing.
TEST(EmulatedReduce, RowReductionsMatchTheCpuReference) {
  for (const int64_t n : {0, 1, 31, 33, 1024, 1025, 2100}) {
    for (const int64_t rows : {1, 9}) {
      if (n > 1024 && rows > 1 && n != 1025) continue;  // a block a row is slow to emulate: one wide case is enough
      check_reduce_rows(normal(size_t(rows * n), unsigned(n + rows), 0.3f), rows, n);
    }
  }
  const long long launches = simt::state().launches;
  kc::reduce_rows(ReduceOp::sum, nullptr, nullptr, 0, 10, 0);
  kc::argmax_rows(nullptr, nullptr, 0, 10, 0);
  kc::softmax_rows(nullptr, nullptr, 0, 10, false, 0);
  EXPECT_EQ(simt::state().launches, launches);
}

// Rows the reference treats specially, at a warp a row (40) and a block a row (1100). The NaN and
// +inf sit at indices that belong to different lanes and warps than index 0.
std::vector<std::vector<float>> special_rows(int64_t n) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> base = normal(size_t(n), 11);
  std::vector<std::vector<float>> rows;
  auto with = [&](std::initializer_list<std::pair<int64_t, float>> set) {
    std::vector<float> r = base;
    for (const auto& [i, v] : set) r[size_t(i)] = v;
    rows.push_back(r);
  };
  with({});
  with({{n - 3, nan}});                                  // max NaN; logsumexp and softmax NaN (the sum holds it)
  with({{n / 2, kInf}});                                 // max, logsumexp +inf; softmax NaN
  with({{0, -kInf}, {n - 1, -kInf}});                    // -inf elements add nothing
  rows.push_back(std::vector<float>(size_t(n), -kInf));  // all -inf: max, logsumexp -inf; softmax NaN
  rows.push_back(std::vector<float>(size_t(n), nan));    // all NaN
  std::vector<float> far = base;                         // logits far from 0: exp only after subtracting the maximum
  for (float& v : far) v = 1e4f + 10.f * v;
  rows.push_back(far);
  for (float& v : far) v = -2e4f + (v - 1e4f);
  rows.push_back(far);
  return rows;
}

TEST(EmulatedReduce, SpecialValuesFollowTheReference) {
  for (const int64_t n : {40, 1100}) {
    const std::vector<std::vector<float>> rows = special_rows(n);
    std::vector<float> x;
    for (const auto& r : rows) x.insert(x.end(), r.begin(), r.end());
    const int64_t R = int64_t(rows.size());
    SCOPED_TRACE(::testing::Message() << "n " << n);
    check_reduce_rows(x, R, n);  // its tolerance covers these rows too: sum |x| scales with them
    for (const bool log : {false, true}) {
      SCOPED_TRACE(log ? "log_softmax" : "softmax");
      std::vector<float> want(x.size()), got = padded(std::vector<float>(x.size(), kSentinel));
      ref::softmax_rows(x.data(), want.data(), R, n, log);
      const std::vector<float> xp = padded(x);
      {
        const Registered reg{{xp.data(), x.size() * 4}, {got.data(), x.size() * 4}};
        kc::softmax_rows(xp.data(), got.data(), R, n, log, 0);
      }
      // As in SoftmaxMatchesTheCpuReference.
      for (size_t i = 0; i < x.size(); ++i)
        expect_like(got[i], want[i], log ? 4e-6 * (1 + std::fabs(want[i])) : 4e-6 * want[i] + 1e-12, "element", i);
      expect_untouched_tail(got, x.size());
    }
  }
}

// softmax and log_softmax against the reference (exp, log and the sum in double): the f32 kernel
// has expf of a rounded x - m (relative error ~ |x - m| 2^-24, |x - m| < 10 here) and its f32 sum
// (relative ~2e-6, as in check_reduce_rows), so 4e-6 of each probability; log_softmax adds the
// absolute errors of z and log(s): 4e-6 of 1 + |y|.
TEST(EmulatedReduce, SoftmaxMatchesTheCpuReference) {
  for (const int64_t n : {1, 33, 1024, 1025, 2100}) {
    for (const int64_t rows : {1, 9}) {
      if (n > 1025 && rows > 1) continue;  // a block a row is slow to emulate
      const std::vector<float> x = normal(size_t(rows * n), unsigned(3 * n + rows), -1.f), xp = padded(x);
      for (const bool serial : serial_timings(n)) {
        const simt::Timing timing(true, serial);
        for (const bool log : {false, true}) {
          SCOPED_TRACE(::testing::Message()
                       << (log ? "log_softmax " : "softmax ") << rows << " x " << n << (serial ? " warp-serial" : ""));
          std::vector<float> want(x.size()), got = padded(std::vector<float>(x.size(), kSentinel));
          ref::softmax_rows(x.data(), want.data(), rows, n, log);
          {
            const Registered reg{{xp.data(), x.size() * 4}, {got.data(), x.size() * 4}};
            kc::softmax_rows(xp.data(), got.data(), rows, n, log, 0);
          }
          for (size_t i = 0; i < x.size(); ++i)
            ASSERT_NEAR(got[i], want[i], log ? 4e-6 * (1 + std::fabs(want[i])) : 4e-6 * want[i] + 1e-12) << i;
          expect_untouched_tail(got, x.size());
        }
      }
    }
  }
  // n = 0 launches nothing and writes nothing.
  std::vector<float> y = padded({});
  const long long launches = simt::state().launches;
  kc::softmax_rows(y.data(), y.data(), 3, 0, false, 0);
  EXPECT_EQ(simt::state().launches, launches);
  expect_untouched_tail(y, 0);
}

// argmax is the reference's index exactly: the first maximum (the lowest index among ties), NaNs skipped
// unless at index 0 (the reference compares later elements against it, and nothing is greater
// than NaN), 0 for an all-NaN or empty row. Ties are placed so that lane order, warp order and
// index order disagree.
TEST(EmulatedReduce, ArgmaxIsTheReferencesFirstMaximum) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const int64_t n : {0, 1, 40, 1024, 1100}) {
    std::vector<std::vector<float>> rows;
    const std::vector<float> base = normal(size_t(n), 21);
    rows.push_back(base);
    if (n >= 40) {
      auto with = [&](std::initializer_list<std::pair<int64_t, float>> set) {
        std::vector<float> r = base;
        for (const auto& [i, v] : set) r[size_t(i)] = v;
        rows.push_back(r);
      };
      // Index 33 is lane 1's second element, index 2 lane 2's first: the smaller index wins, not
      // the lane that found it first. Then three equal maxima; at n = 1100 (a block a row) indices
      // 1099, 1030 and 300 belong to threads 75, 6 and 44, warps 2, 0 and 1: the warp holding the
      // smallest index is not the first warp.
      with({{33, 9.f}, {2, 9.f}});
      if (n > 1024)
        with({{1099, 9.f}, {1030, 9.f}, {300, 9.f}});
      else
        with({{n - 1, 9.f}, {n - 7, 9.f}, {n - 10, 9.f}});
      with({{0, nan}, {5, 9.f}});                                           // NaN at index 0: 0
      with({{3, nan}, {n - 2, nan}, {7, 9.f}});                             // NaNs elsewhere are skipped
      with({{4, -0.f}, {9, 0.f}});                                          // (all below 0 but these two, see below)
      for (float& v : rows.back()) v = v == 0.f ? v : -std::fabs(v) - 1.f;  // +0 and -0 tie: the first
      rows.push_back(std::vector<float>(size_t(n), -kInf));                 // all -inf: the first
      rows.push_back(std::vector<float>(size_t(n), nan));                   // all NaN: 0
      rows.push_back(std::vector<float>(size_t(n), 2.f));                   // all equal: 0
      with({{n - 1, kInf}, {n / 3, kInf}});
    }
    std::vector<float> x;
    for (const auto& r : rows) x.insert(x.end(), r.begin(), r.end());
    const int64_t R = n == 0 ? 3 : int64_t(rows.size());
    const std::vector<float> xp = padded(x);
    for (const bool serial : serial_timings(n)) {
      const simt::Timing timing(true, serial);
      SCOPED_TRACE(::testing::Message() << "n " << n << (serial ? " warp-serial" : ""));
      std::vector<int64_t> want(static_cast<size_t>(R)), got(size_t(R) + kPad, kSentinelIndex);
      ref::argmax_rows(x.data(), want.data(), R, n);
      {
        const Registered reg{{xp.data(), x.size() * 4}, {got.data(), size_t(R) * 8}};
        kc::argmax_rows(xp.data(), got.data(), R, n, 0);
      }
      for (int64_t r = 0; r < R; ++r) EXPECT_EQ(got[size_t(r)], want[size_t(r)]) << "row " << r;
      for (size_t i = size_t(R); i < got.size(); ++i) EXPECT_EQ(got[i], kSentinelIndex) << "written past the end";
    }
  }
}

// sum_all's documented order, replayed on the host in f32: block b's thread t sums x[b*256 + t +
// k*blocks*256] in k order, each warp folds by butterfly (xor 16, 8, 4, 2, 1; lane 0's value), the
// block adds its warps in order; the final block does the same over the partials.
float replay_block(const std::vector<float>& per_thread) {
  float warps[8];
  for (int w = 0; w < 8; ++w) {
    float v[32];
    for (int l = 0; l < 32; ++l) v[l] = per_thread[size_t(32 * w + l)];
    for (int o = 16; o > 0; o >>= 1) {
      float next[32];
      for (int l = 0; l < 32; ++l) next[l] = v[l] + v[l ^ o];
      std::memcpy(v, next, sizeof v);
    }
    warps[w] = v[0];
  }
  float t = warps[0];
  for (int w = 1; w < 8; ++w) t += warps[w];
  return t;
}
float replay_sum_all(const std::vector<float>& x) {
  const int64_t n = int64_t(x.size());
  const int64_t blocks = std::min<int64_t>(1024, std::max<int64_t>(1, (n + 4095) / 4096));
  std::vector<float> partial(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    std::vector<float> t(256, 0.f);
    for (int64_t i = b * 256; i < n; i += blocks * 256)
      for (int64_t j = i; j < std::min(n, i + 256); ++j) t[size_t(j - i)] += x[size_t(j)];
    partial[size_t(b)] = replay_block(t);
  }
  std::vector<float> t(256, 0.f);
  for (int64_t i = 0; i < blocks; ++i) t[size_t(i % 256)] += partial[size_t(i)];
  return replay_block(t);
}

// One block (n up to 4096), two and four blocks (each thread's grid-stride loop then crosses
// blocks), n = 0 (0) and 1. Against the reference's double sum with check_reduce_rows' bound (at
// most 16 additions a thread + 5 + 7 + the final block's), and bit for bit against the replay: the
// result is meant to depend on n alone.
TEST(EmulatedReduce, SumAllMatchesTheReferenceAndItsFixedOrder) {
  for (const int64_t n : {0, 1, 1000, 4096, 4097, 3 * 4096 + 5}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const std::vector<float> x = normal(size_t(n), unsigned(n + 5), 0.2f), xp = padded(x);
    std::vector<float> got = padded({kSentinel});
    double want = 0, abs_sum = 0;
    for (const float v : x) want += v, abs_sum += std::fabs(v);
    {
      const Registered reg{{xp.data(), x.size() * 4}, {got.data(), 4}};
      kc::sum_all(xp.data(), got.data(), n, 0);
    }
    EXPECT_NEAR(got[0], want, 4e-6 * abs_sum);
    EXPECT_EQ(bits(got[0]), bits(replay_sum_all(x))) << got[0] << " vs " << replay_sum_all(x);
    expect_untouched_tail(got, 1);
  }
}

}  // namespace
