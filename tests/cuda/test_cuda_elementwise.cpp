// The CUDA elementwise kernels (kernels/cuda/elementwise.cu) against the CPU scalar references:
// every UnaryOp, every BinaryOp and CompareOp over broadcast, transposed, reversed and misaligned
// layouts, compare_i64 and where. Outputs start poisoned (0xFF bytes: NaN floats, bool bytes
// that are neither 0 nor 1), so an element a kernel never writes fails, and every buffer's guards
// must stay intact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;
using kernels::BinaryOp;
using kernels::BroadcastLoop;
using kernels::CompareOp;
using kernels::UnaryOp;

// Unary: both sides evaluate the same f32 formula; what differs is the last bits of expf/erff/
// tanhf/powf (CUDA's are within 2-4 ulp) and FMA contraction: a few 1e-7 relative at most.
constexpr double kUnaryTol = 1e-6;

constexpr UnaryOp kUnaryOps[] = {
    UnaryOp::neg,        UnaryOp::exp,           UnaryOp::log,            UnaryOp::sqrt,
    UnaryOp::rsqrt,      UnaryOp::tanh,          UnaryOp::sigmoid,        UnaryOp::gelu_erf,
    UnaryOp::gelu_tanh,  UnaryOp::quick_gelu,    UnaryOp::silu,           UnaryOp::pow_scalar,
    UnaryOp::gelu_erf_grad, UnaryOp::gelu_tanh_grad, UnaryOp::quick_gelu_grad, UnaryOp::silu_grad};
constexpr BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};
constexpr CompareOp kCompareOps[] = {CompareOp::eq, CompareOp::ne, CompareOp::lt,
                                     CompareOp::le, CompareOp::gt, CompareOp::ge};

bool positive_domain(UnaryOp op) { return op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt; }

// Bits equal, or both NaN: for results that must match exactly.
bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

bool is_poison(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u == 0xFFFFFFFFu;
}

// ---- layouts ----

// One operand as the kernel sees it: a view into a buffer (element strides, may be 0 or negative)
// starting `offset` elements in.
struct View {
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t step = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    s[d] = step;
    step *= shape[d];
  }
  return s;
}
View dense(const std::vector<int64_t>& shape, int64_t offset = 0) {
  return View{shape, contiguous_strides(shape), offset};
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

// Elements the view's buffer needs: offset + the largest reachable index + 1 (the offset also
// covers negative strides).
int64_t buffer_size(const View& v) {
  int64_t hi = 0;
  for (size_t d = 0; d < v.shape.size(); ++d) {
    if (v.shape[d] == 0) return v.offset;
    hi += std::max<int64_t>(0, (v.shape[d] - 1) * v.strides[d]);
  }
  return v.offset + hi + 1;
}

// The loop the op layer builds (autograd/dispatch.cpp broadcast_loop): operands right-aligned to
// the output, stride 0 on broadcast (size-1 or missing) dims.
BroadcastLoop loop_for(const std::vector<int64_t>& out_shape, const std::vector<View>& ops) {
  BroadcastLoop loop;
  loop.ndim = int(out_shape.size());
  for (int d = 0; d < loop.ndim; ++d) loop.shape[d] = out_shape[d];
  for (size_t k = 0; k < ops.size(); ++k) {
    const int lead = loop.ndim - int(ops[k].shape.size());
    for (int d = lead; d < loop.ndim; ++d)
      loop.strides[k][d] = ops[k].shape[d - lead] == 1 ? 0 : ops[k].strides[d - lead];
  }
  return loop;
}

// Output shape and input views of one binary (or compare) case; out_offset > 0 shifts the output
// pointer off 16-byte alignment (the elements before it must stay poisoned).
struct Case2 {
  std::string name;
  std::vector<int64_t> out;
  View a, b;
  int64_t out_offset = 0;
};

std::vector<Case2> binary_cases() {
  std::vector<Case2> cs;
  cs.push_back({"same shape, float4 path", {1000}, dense({1000}), dense({1000})});
  cs.push_back({"same shape, float4 and tail", {1003}, dense({1003}), dense({1003})});
  cs.push_back({"same shape, misaligned", {1003}, dense({1003}, 1), dense({1003}, 3), 1});
  cs.push_back({"[4,1,5] with [3,1]", {4, 3, 5}, dense({4, 1, 5}), dense({3, 1})});
  cs.push_back({"[2,3,4] with a scalar", {2, 3, 4}, dense({2, 3, 4}), dense({})});
  cs.push_back({"scalar with scalar", {}, dense({}), dense({})});
  cs.push_back({"bias [64,96] + [96]", {64, 96}, dense({64, 96}), dense({96})});
  // a = the transpose of a [7, 5] buffer: strides (1, 5).
  cs.push_back({"transposed view", {5, 7}, View{{5, 7}, {1, 5}, 0}, dense({5, 7})});
  // Rows read backwards (stride -1): the 64-bit offset path.
  cs.push_back({"reversed rows (negative stride)", {2, 50}, View{{2, 50}, {50, -1}, 49}, dense({50})});
  cs.push_back({"empty", {0, 5}, dense({0, 5}), dense({5})});
  return cs;
}

// ---- unary ----

// x[offset, offset + n) ~ N(0, 3^2), which covers the activations' curved range; `positive`
// moves it to |x| + 0.01 (log, sqrt, rsqrt, fractional powers).
void check_unary(UnaryOp op, float param, int64_t n, int64_t offset, bool positive) {
  SCOPED_TRACE(::testing::Message() << "unary op " << int(op) << " param " << param << " n " << n << " offset "
                                    << offset);
  std::vector<float> x(size_t(n + offset), 0.5f);
  const std::vector<float> body = random_normal(n, 100 + uint64_t(op) * 7 + uint64_t(n), 3.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float v = body[size_t(i)];
    x[size_t(offset + i)] = positive ? std::abs(v) + 0.01f : v;
  }
  std::vector<float> ref(static_cast<size_t>(n));
  kernels::ref::unary<float>(op, x.data() + offset, ref.data(), n, param);

  DeviceBuffer<float> X(x), Y(n + offset);
  kc::unary(op, X.get() + offset, Y.get() + offset, n, param, 0);
  const std::vector<float> y = Y.download();
  const std::vector<float> got(y.begin() + offset, y.end());
  EXPECT_LE(rel_err(got, ref), kUnaryTol);
  for (int64_t i = 0; i < offset; ++i) EXPECT_TRUE(is_poison(y[size_t(i)])) << "wrote before the output";
  EXPECT_TRUE(X.guards_intact());
  EXPECT_TRUE(Y.guards_intact());
}

TEST(CudaElementwise, EveryUnaryOpMatchesTheReference) {
  RS_REQUIRE_CUDA();
  // 1..5: the float4 body and the scalar tail at their smallest; 4099: both; offset 1: unaligned.
  for (UnaryOp op : kUnaryOps)
    for (int64_t n : {1, 3, 4, 5, 1000, 4099})
      for (int64_t offset : {0, 1}) check_unary(op, 2.5f, n, offset, op == UnaryOp::pow_scalar || positive_domain(op));
}

TEST(CudaElementwise, PowScalarOverBothSigns) {
  RS_REQUIRE_CUDA();
  // Integer exponents are defined for negative bases; negative and fractional ones on positives.
  check_unary(UnaryOp::pow_scalar, 3.0f, 4099, 0, false);
  check_unary(UnaryOp::pow_scalar, 2.0f, 4099, 1, false);
  check_unary(UnaryOp::pow_scalar, -1.5f, 4099, 0, true);
  check_unary(UnaryOp::pow_scalar, 0.5f, 4099, 0, true);
}

TEST(CudaElementwise, UnaryOfNothingWritesNothing) {
  RS_REQUIRE_CUDA();
  DeviceBuffer<float> X(4), Y(4);
  kc::unary(UnaryOp::exp, X.get(), Y.get(), 0, 0.f, 0);
  for (float v : Y.download()) EXPECT_TRUE(is_poison(v));
  EXPECT_TRUE(Y.guards_intact());
}

// ---- binary ----

// Random buffers for a case's views (values in N(0, 1); for division no exact zeros matter).
struct Operands {
  std::vector<float> a, b;
};
Operands operands_for(const Case2& c, uint64_t seed) {
  return Operands{random_normal(std::max<int64_t>(buffer_size(c.a), 1), seed),
                  random_normal(std::max<int64_t>(buffer_size(c.b), 1), seed + 1)};
}

TEST(CudaElementwise, EveryBinaryOpBroadcastsAsTheReference) {
  RS_REQUIRE_CUDA();
  for (const Case2& c : binary_cases()) {
    const BroadcastLoop loop = loop_for(c.out, {c.a, c.b});
    const int64_t n = numel(c.out);
    const Operands in = operands_for(c, 7 + uint64_t(n));
    for (BinaryOp op : kBinaryOps) {
      SCOPED_TRACE(::testing::Message() << c.name << ", binary op " << int(op));
      std::vector<float> ref(static_cast<size_t>(n));
      kernels::ref::binary<float>(op, in.a.data() + c.a.offset, in.b.data() + c.b.offset, ref.data(), loop);
      DeviceBuffer<float> A(in.a), B(in.b), Out(n + c.out_offset);
      kc::binary(op, A.get() + c.a.offset, B.get() + c.b.offset, Out.get() + c.out_offset, loop, 0);
      const std::vector<float> out = Out.download();
      // One IEEE operation per element on both sides (nothing to contract): the same bits.
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(same_float(out[size_t(c.out_offset + i)], ref[size_t(i)]))
            << "element " << i << ": " << out[size_t(c.out_offset + i)] << " vs " << ref[size_t(i)];
      for (int64_t i = 0; i < c.out_offset; ++i) EXPECT_TRUE(is_poison(out[size_t(i)])) << "wrote before the output";
      for (auto* buf : {&A, &B, &Out}) EXPECT_TRUE(buf->guards_intact());
    }
  }
}

TEST(CudaElementwise, BinaryCarriesInfAndNaN) {
  RS_REQUIRE_CUDA();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {1.f, inf, -inf, nan, 0.f, -0.f, 3.f, inf};
  const std::vector<float> b = {0.f, inf, inf, 1.f, 0.f, 0.f, -0.f, 2.f};
  const int64_t n = int64_t(a.size());
  const BroadcastLoop loop = loop_for({n}, {dense({n}), dense({n})});
  for (BinaryOp op : kBinaryOps) {
    SCOPED_TRACE(::testing::Message() << "binary op " << int(op));
    std::vector<float> ref(static_cast<size_t>(n));
    kernels::ref::binary<float>(op, a.data(), b.data(), ref.data(), loop);
    DeviceBuffer<float> A(a), B(b), Out(n);
    kc::binary(op, A.get(), B.get(), Out.get(), loop, 0);
    const std::vector<float> out = Out.download();
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(same_float(out[size_t(i)], ref[size_t(i)])) << "element " << i;
  }
}

// ---- compare ----

// Values from a small set so that ties are common, with NaN among them.
std::vector<float> tie_values(int64_t n, uint64_t seed) {
  const std::vector<int64_t> pick = random_ids(n, 6, seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[size_t(i)] = pick[size_t(i)] == 5 ? std::numeric_limits<float>::quiet_NaN() : float(pick[size_t(i)] - 2);
  return v;
}

// got (bytes from the device) against the reference's bools: exactly 0 or 1, equal.
void expect_same_bools(const std::vector<uint8_t>& got, int64_t got_offset, const bool* ref, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(int(got[size_t(got_offset + i)]), ref[i] ? 1 : 0) << "element " << i;
  for (int64_t i = 0; i < got_offset; ++i) EXPECT_EQ(got[size_t(i)], 0xFF) << "wrote before the output";
}

TEST(CudaElementwise, EveryCompareOpBroadcastsAsTheReference) {
  RS_REQUIRE_CUDA();
  for (const Case2& c : binary_cases()) {
    const BroadcastLoop loop = loop_for(c.out, {c.a, c.b});
    const int64_t n = numel(c.out);
    const std::vector<float> a = tie_values(std::max<int64_t>(buffer_size(c.a), 1), 31 + uint64_t(n));
    const std::vector<float> b = tie_values(std::max<int64_t>(buffer_size(c.b), 1), 32 + uint64_t(n));
    for (CompareOp op : kCompareOps) {
      SCOPED_TRACE(::testing::Message() << c.name << ", compare op " << int(op));
      std::unique_ptr<bool[]> ref(new bool[size_t(std::max<int64_t>(n, 1))]);
      kernels::ref::compare<float>(op, a.data() + c.a.offset, b.data() + c.b.offset, ref.get(), loop);
      DeviceBuffer<float> A(a), B(b);
      DeviceBuffer<uint8_t> Out(n + c.out_offset);
      kc::compare(op, A.get() + c.a.offset, B.get() + c.b.offset,
                  reinterpret_cast<bool*>(Out.get() + c.out_offset), loop, 0);
      expect_same_bools(Out.download(), c.out_offset, ref.get(), n);
      for (auto* buf : {&A, &B}) EXPECT_TRUE(buf->guards_intact());
      EXPECT_TRUE(Out.guards_intact());
    }
  }
}

TEST(CudaElementwise, CompareI64IsExactBeyondDoublePrecision) {
  RS_REQUIRE_CUDA();
  // 2^53 and 2^53 + 1 are one double apart from nothing: equal as doubles, unequal as i64.
  const int64_t big = int64_t(1) << 53;
  const std::vector<int64_t> a = {big, big + 1, -3, 0, 7, std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max(), 2};
  const std::vector<int64_t> b = {big + 1, big, 2};  // [3] against a viewed [8, 1]: out [8, 3]
  const View av = dense({8, 1}), bv = dense({3});
  const BroadcastLoop loop = loop_for({8, 3}, {av, bv});
  for (CompareOp op : kCompareOps) {
    SCOPED_TRACE(::testing::Message() << "compare_i64 op " << int(op));
    bool ref[24];
    kernels::ref::compare<int64_t>(op, a.data(), b.data(), ref, loop);
    DeviceBuffer<int64_t> A(a), B(b);
    DeviceBuffer<uint8_t> Out(24);
    kc::compare_i64(op, A.get(), B.get(), reinterpret_cast<bool*>(Out.get()), loop, 0);
    expect_same_bools(Out.download(), 0, ref, 24);
    EXPECT_TRUE(Out.guards_intact());
  }
}

TEST(CudaElementwise, CompareI64OverATransposedView) {
  RS_REQUIRE_CUDA();
  const std::vector<int64_t> a = random_ids(35, 4, 41), b = random_ids(35, 4, 42);
  const View at{{5, 7}, {1, 5}, 0}, bd = dense({5, 7});  // a: transpose of a [7, 5] buffer
  const BroadcastLoop loop = loop_for({5, 7}, {at, bd});
  for (CompareOp op : kCompareOps) {
    SCOPED_TRACE(::testing::Message() << "compare_i64 op " << int(op));
    bool ref[35];
    kernels::ref::compare<int64_t>(op, a.data(), b.data(), ref, loop);
    DeviceBuffer<int64_t> A(a), B(b);
    DeviceBuffer<uint8_t> Out(35);
    kc::compare_i64(op, A.get(), B.get(), reinterpret_cast<bool*>(Out.get()), loop, 0);
    expect_same_bools(Out.download(), 0, ref, 35);
    EXPECT_TRUE(Out.guards_intact());
  }
}

// ---- where ----

struct Case3 {
  std::string name;
  std::vector<int64_t> out;
  View cond, a, b;
};

TEST(CudaElementwise, WhereBroadcastsItsConditionAsTheReference) {
  RS_REQUIRE_CUDA();
  const std::vector<Case3> cases = {
      {"same shape", {1003}, dense({1003}), dense({1003}), dense({1003})},
      {"cond [4,1,5], a [4,3,5], b [3,1]", {4, 3, 5}, dense({4, 1, 5}), dense({4, 3, 5}), dense({3, 1})},
      {"cond [5] over [6,5], b scalar", {6, 5}, dense({5}), dense({6, 5}), dense({})},
      {"transposed a", {5, 7}, dense({5, 7}), View{{5, 7}, {1, 5}, 0}, dense({7})},
      {"reversed b (negative stride)", {3, 40}, dense({3, 1}), dense({3, 40}), View{{40}, {-1}, 39}},
  };
  for (const Case3& c : cases) {
    SCOPED_TRACE(c.name);
    const BroadcastLoop loop = loop_for(c.out, {c.cond, c.a, c.b});
    const int64_t n = numel(c.out);
    const std::vector<int64_t> bits = random_ids(buffer_size(c.cond), 2, 51);
    std::vector<uint8_t> cond(bits.begin(), bits.end());
    std::unique_ptr<bool[]> cond_host(new bool[cond.size()]);
    for (size_t i = 0; i < cond.size(); ++i) cond_host[i] = cond[i] != 0;
    const std::vector<float> a = random_normal(buffer_size(c.a), 52), b = random_normal(buffer_size(c.b), 53);
    std::vector<float> ref(static_cast<size_t>(n));
    kernels::ref::where<float>(cond_host.get() + c.cond.offset, a.data() + c.a.offset, b.data() + c.b.offset,
                               ref.data(), loop);
    DeviceBuffer<uint8_t> C(cond);
    DeviceBuffer<float> A(a), B(b), Out(n);
    kc::where(reinterpret_cast<const bool*>(C.get() + c.cond.offset), A.get() + c.a.offset, B.get() + c.b.offset,
              Out.get(), loop, 0);
    const std::vector<float> out = Out.download();
    for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(same_float(out[size_t(i)], ref[size_t(i)])) << "element " << i;
    EXPECT_TRUE(C.guards_intact());
    for (auto* buf : {&A, &B, &Out}) EXPECT_TRUE(buf->guards_intact());
  }
}

}  // namespace
}  // namespace rscapret::testing
