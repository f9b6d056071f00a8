// The CUDA row reductions (kernels/cuda/reduce.cu) against kernels::ref: sum, mean, max,
// logsumexp, argmax and (log-)softmax over row lengths around the warp (32) and warp-per-row
// (1024) boundaries and far beyond, 1 to 4096 rows; the reference's edge cases (n = 0, -inf,
// +inf and NaN rows, argmax ties); sum_all against a double sum, bit-identical across runs.
// Outputs start poisoned (NaN, or -1 for argmax), so an unwritten row fails.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;
using kernels::ReduceOp;

constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::logsumexp};
constexpr int64_t kLengths[] = {1, 31, 32, 33, 1000, 1024, 1025, 100000};
constexpr int64_t kRowCounts[] = {1, 7, 4096};
// The 4096-row cases stop at this many elements (4096 x 100000 would be 1.6 GB for no new path).
constexpr int64_t kMaxElements = int64_t(1) << 23;

// Sums, means, logsumexp, softmax: f32 accumulation in a fixed tree against the reference's
// double sums; inputs have mean 0.5 so the sums do not cancel. A few ulp of the largest partial
// sums: well under 1e-5 relative at 100000 elements.
constexpr double kReduceTol = 1e-5;

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> input(int64_t n, uint64_t seed) {
  std::vector<float> x = random_normal(n, seed);
  for (float& v : x) v += 0.5f;
  return x;
}

// got against ref where ref may hold inf or NaN: those must be matched exactly (the same inf, or
// NaN), a non-finite got where ref is finite fails, and the finite entries are compared by rel_err.
double special_err(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  std::vector<float> g, r;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(ref[i])) {
      if (!std::isnan(got[i])) return INFINITY;
    } else if (std::isinf(ref[i])) {
      if (got[i] != ref[i]) return INFINITY;
    } else {
      g.push_back(got[i]);
      r.push_back(ref[i]);
    }
  }
  return rel_err(g, r);
}

void check_reduce(ReduceOp op, const std::vector<float>& x, int64_t rows, int64_t n) {
  std::vector<float> ref(static_cast<size_t>(rows));
  kernels::ref::reduce_rows<float>(op, x.data(), ref.data(), rows, n);
  DeviceBuffer<float> X(x), Out(rows);
  kc::reduce_rows(op, X.get(), Out.get(), rows, n, 0);
  const std::vector<float> got = Out.download();
  if (op == ReduceOp::max) {
    // The maximum is one of the inputs: exact.
    for (int64_t r = 0; r < rows; ++r) {
      const float g = got[size_t(r)], w = ref[size_t(r)];
      ASSERT_TRUE(std::isnan(w) ? std::isnan(g) : g == w) << "row " << r << ": " << g << " vs " << w;
    }
  } else {
    EXPECT_LE(special_err(got, ref), kReduceTol);
  }
  EXPECT_TRUE(X.guards_intact());
  EXPECT_TRUE(Out.guards_intact());
}

TEST(CudaReduce, ReduceRowsMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRowCounts)
    for (int64_t n : kLengths) {
      if (rows * n > kMaxElements && rows > 7) continue;
      const std::vector<float> x = input(rows * n, 3 + uint64_t(rows * n));
      for (ReduceOp op : kOps) {
        SCOPED_TRACE(::testing::Message() << "op " << int(op) << " rows " << rows << " n " << n);
        check_reduce(op, x, rows, n);
      }
    }
}

// Rows of length n (two lengths: a warp's row and a block's) holding the reference's edge cases.
std::vector<float> special_rows(int64_t n, int64_t& rows) {
  std::vector<std::vector<float>> rs;
  const std::vector<float> base = input(n, 71 + uint64_t(n));
  auto with = [&](std::vector<std::pair<int64_t, float>> set) {
    std::vector<float> r = base;
    for (auto [i, v] : set) r[size_t(i)] = v;
    rs.push_back(r);
  };
  rs.push_back(std::vector<float>(size_t(n), -kInf));       // all -inf
  rs.push_back(std::vector<float>(size_t(n), kNaN));        // all NaN
  with({{0, -kInf}, {n / 2, -kInf}});                       // some -inf
  with({{n - 1, kInf}});                                    // +inf at the end
  with({{n / 3, kNaN}});                                    // one NaN
  with({{0, kNaN}});                                        // NaN first
  with({{n / 2, kInf}, {n - 1, -kInf}});                    // +inf and -inf
  with({{n / 2, kNaN}, {n - 1, kInf}});                     // NaN and +inf
  std::vector<float> a = std::vector<float>(size_t(n), -kInf);
  a[size_t(n - 1)] = kNaN;
  rs.push_back(a);                                          // -inf and NaN only
  rows = int64_t(rs.size());
  std::vector<float> x;
  for (const auto& r : rs) x.insert(x.end(), r.begin(), r.end());
  return x;
}

TEST(CudaReduce, ReduceRowsEdgeCasesAsTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t n : {33, 2000}) {
    int64_t rows = 0;
    const std::vector<float> x = special_rows(n, rows);
    for (ReduceOp op : kOps) {
      SCOPED_TRACE(::testing::Message() << "op " << int(op) << " n " << n);
      check_reduce(op, x, rows, n);
    }
  }
}

TEST(CudaReduce, EmptyRowsGiveTheReferenceValues) {
  RS_REQUIRE_CUDA();
  // n = 0: sum 0, mean NaN (0 / 0), max -inf, logsumexp -inf; argmax 0; softmax writes nothing.
  DeviceBuffer<float> X(1);
  const float nothing = 0.f;  // the reference reads no element
  for (ReduceOp op : kOps) {
    SCOPED_TRACE(::testing::Message() << "op " << int(op));
    std::vector<float> ref(3);
    kernels::ref::reduce_rows<float>(op, &nothing, ref.data(), 3, 0);
    DeviceBuffer<float> Out(3);
    kc::reduce_rows(op, X.get(), Out.get(), 3, 0, 0);
    EXPECT_LE(special_err(Out.download(), ref), 0.0);
  }
  DeviceBuffer<int64_t> A(3);
  kc::argmax_rows(X.get(), A.get(), 3, 0, 0);
  EXPECT_EQ(A.download(), std::vector<int64_t>(3, 0));
  EXPECT_TRUE(A.guards_intact());
}

// ---- argmax ----

void check_argmax(const std::vector<float>& x, int64_t rows, int64_t n) {
  std::vector<int64_t> ref(static_cast<size_t>(rows));
  kernels::ref::argmax_rows<float>(x.data(), ref.data(), rows, n);
  DeviceBuffer<float> X(x);
  DeviceBuffer<int64_t> Out(rows);
  kc::argmax_rows(X.get(), Out.get(), rows, n, 0);
  const std::vector<int64_t> got = Out.download();
  for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(got[size_t(r)], ref[size_t(r)]) << "row " << r;
  EXPECT_TRUE(Out.guards_intact());
}

TEST(CudaReduce, ArgmaxMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRowCounts)
    for (int64_t n : kLengths) {
      if (rows * n > kMaxElements && rows > 7) continue;
      SCOPED_TRACE(::testing::Message() << "rows " << rows << " n " << n);
      check_argmax(input(rows * n, 5 + uint64_t(rows * n)), rows, n);
    }
}

TEST(CudaReduce, ArgmaxTakesTheFirstOfTiedMaxima) {
  RS_REQUIRE_CUDA();
  // Few distinct values: every row has many copies of its maximum, across lanes and warps.
  for (int64_t n : {31, 33, 1000, 1025, 100000}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const int64_t rows = 7;
    const std::vector<int64_t> ids = random_ids(rows * n, 4, 81 + uint64_t(n));
    std::vector<float> x(ids.begin(), ids.end());
    // Row 0: the only maximum in the last element; row 1: in the first; row 2: all equal.
    for (int64_t i = 0; i < n; ++i) {
      x[size_t(i)] = 0.f;
      x[size_t(n + i)] = 0.f;
      x[size_t(2 * n + i)] = -1.f;
    }
    x[size_t(n - 1)] = 1.f;
    x[size_t(n)] = 1.f;
    check_argmax(x, rows, n);
  }
}

TEST(CudaReduce, ArgmaxEdgeCasesAsTheReference) {
  RS_REQUIRE_CUDA();
  // NaN first gives 0, a later NaN is skipped, all -inf gives 0, all NaN gives 0.
  for (int64_t n : {33, 2000}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    int64_t rows = 0;
    const std::vector<float> x = special_rows(n, rows);
    check_argmax(x, rows, n);
  }
}

// ---- softmax ----

void check_softmax(const std::vector<float>& x, int64_t rows, int64_t n, bool log) {
  std::vector<float> ref(x.size());
  kernels::ref::softmax_rows<float>(x.data(), ref.data(), rows, n, log);
  DeviceBuffer<float> X(x), Y(rows * n);
  kc::softmax_rows(X.get(), Y.get(), rows, n, log, 0);
  EXPECT_LE(special_err(Y.download(), ref), kReduceTol);
  EXPECT_TRUE(X.guards_intact());
  EXPECT_TRUE(Y.guards_intact());
}

TEST(CudaReduce, SoftmaxMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRowCounts)
    for (int64_t n : kLengths) {
      if (rows * n > kMaxElements && rows > 7) continue;
      const std::vector<float> x = random_normal(rows * n, 9 + uint64_t(rows * n), 3.0f);
      for (bool log : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "rows " << rows << " n " << n << " log " << log);
        check_softmax(x, rows, n, log);
      }
    }
}

TEST(CudaReduce, SoftmaxEdgeCasesAsTheReference) {
  RS_REQUIRE_CUDA();
  // -inf entries give 0 (log: -inf); an all -inf row, or one holding +inf, is NaN throughout.
  for (int64_t n : {33, 2000}) {
    int64_t rows = 0;
    const std::vector<float> x = special_rows(n, rows);
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " log " << log);
      check_softmax(x, rows, n, log);
    }
  }
}

// ---- sum_all ----

TEST(CudaReduce, SumAllIsAccurateAndDeterministic) {
  RS_REQUIRE_CUDA();
  for (int64_t n : {0, 1, 255, 256, 4097, 100000, 10000019}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const std::vector<float> x = input(n, 13 + uint64_t(n));
    double want = 0;
    for (float v : x) want += double(v);
    DeviceBuffer<float> X(x), Out(1);
    kc::sum_all(X.get(), Out.get(), n, 0);
    const float first = Out.download()[0];
    EXPECT_LE(rel_err(std::vector<float>{first}, std::vector<double>{want}), kReduceTol);
    // The partition depends on n only: the same bits on every run.
    for (int run = 0; run < 3; ++run) {
      Out.poison();
      kc::sum_all(X.get(), Out.get(), n, 0);
      const float again = Out.download()[0];
      EXPECT_EQ(std::memcmp(&again, &first, 4), 0) << "run " << run << ": " << again << " vs " << first;
    }
    EXPECT_TRUE(X.guards_intact());
    EXPECT_TRUE(Out.guards_intact());
  }
}

}  // namespace
}  // namespace rscapret::testing
