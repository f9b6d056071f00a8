// The elementwise kernels (kernels/cuda/elementwise.cu: unary, binary, compare, compare_i64, where),
// their own source on the host emulator (simt.h), against the CPU reference kernels
// (kernels/cpu/ref/elementwise_ref.cpp), bit for bit (a NaN as any NaN): the kernels write the
// reference's formulas term for term, and on the emulator their libm calls are the host's, the ones
// the reference makes (on a GPU the device library's last bits differ; tests/cuda checks those with
// tolerances). Every path a launch can take: the float4 flat loops (aligned pointers, a scalar
// tail) and their misaligned fallbacks, the flat loop, the broadcast loop in 32-bit and in 64-bit
// offsets (negative strides select it without buffers of 2^31 elements; the selection function
// itself is tested on loops that would need them), grid-stride iterations (direct launches on small
// grids, since the launchers' grids cover up to 2^28 elements without striding). Outputs sit
// between guard elements that must keep their bits.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/elementwise.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::normal;
using emu_test::Guarded;
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::kernels::BinaryOp;
using rscapret::kernels::BroadcastLoop;
using rscapret::kernels::CompareOp;
using rscapret::kernels::UnaryOp;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
// What outputs and their guards start as: a finite value no case computes (a NaN would pass for
// the NaN results, which compare as any NaN).
constexpr float kUnwritten = -6.25e23f;

// Values with every special case the functions treat apart (signed zeros, infinities, NaN, a
// subnormal, exp's overflow and underflow, the sign of sqrt's and log's domain), then N(0, 2^2).
std::vector<float> inputs(size_t n, unsigned seed) {
  std::vector<float> x = normal(n, seed);
  const float special[] = {0.f, -0.f, 1.f, -1.f, kNaN, kInf, -kInf, 1e-40f, 89.f, -104.f, 1e30f, -1e30f, 0.5f, 3.f};
  for (size_t i = 0; i < n; ++i) x[i] = i < std::size(special) ? special[i] : 2.f * x[i];
  return x;
}

BroadcastLoop make_loop(std::initializer_list<int64_t> shape, std::initializer_list<std::initializer_list<int64_t>> s) {
  BroadcastLoop L;
  L.ndim = int(shape.size());
  int d = 0;
  for (const int64_t e : shape) L.shape[size_t(d++)] = e;
  int k = 0;
  for (const auto& st : s) {
    d = 0;
    for (const int64_t e : st) L.strides[size_t(k)][size_t(d++)] = e;
    ++k;
  }
  return L;
}

// One past the largest offset operand k reads (its buffer's size); operand pointers with negative
// strides are placed at the start of the buffer plus `first_offset` (the negative part).
int64_t span(const BroadcastLoop& L, int k, int64_t* first_offset = nullptr) {
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < L.ndim; ++d) {
    const int64_t s = L.strides[size_t(k)][size_t(d)] * (L.shape[size_t(d)] - 1);
    (s < 0 ? lo : hi) += s;
  }
  if (first_offset) *first_offset = -lo;
  return hi - lo + 1;
}

// The same bits, except that a NaN need only be a NaN: its sign and payload are the compiler's
// (which operand an x86 instruction propagates; -c * x may become -(c * x)), and canonical on a GPU.
void expect_same_bits(const float* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    ASSERT_EQ(bits(got[i]), bits(want[i])) << "element " << i << ": " << got[i] << " vs " << want[i];
  }
}

// ---- unary ----

void run_unary(UnaryOp op, size_t n, size_t x_shift, size_t y_shift, float p) {
  Guarded<float> x(n, 0.f, x_shift), y(n, kUnwritten, y_shift);
  const std::vector<float> in = inputs(n, 11 + unsigned(op));
  std::copy(in.begin(), in.end(), x.data());
  std::vector<float> want(n);
  ref::unary<float>(op, in.data(), want.data(), int64_t(n), p);
  {
    const Registered reg{x.whole(), y.whole()};
    kc::unary(op, x.data(), y.data(), int64_t(n), p, 0);
  }
  expect_same_bits(y.data(), want.data(), int64_t(n));
  EXPECT_TRUE(y.guards_intact());
}

// Every op through the float4 path (37 = 9 float4 and a tail of 1) and the scalar one (both
// pointers off the 16-byte grid).
TEST(EmulatedElementwise, EveryUnaryOpMatchesTheReferenceOnBothPaths) {
  for (int o = 0; o <= int(UnaryOp::silu_grad); ++o) {
    const UnaryOp op = UnaryOp(o);
    for (const size_t shift : {0, 1}) {
      SCOPED_TRACE(::testing::Message() << "op " << o << (shift ? " misaligned" : " aligned"));
      run_unary(op, 37, shift, shift, op == UnaryOp::pow_scalar ? 2.5f : 0.f);
    }
  }
  run_unary(UnaryOp::pow_scalar, 19, 0, 0, -1.f);  // another exponent: p is passed through
}

// Either pointer misaligned alone refuses the float4 path; several blocks on each path
// (grid_for(n / 4 + 1) and grid_for(n)).
TEST(EmulatedElementwise, UnaryAlignmentAndSeveralBlocks) {
  run_unary(UnaryOp::silu, 23, 1, 0, 0.f);
  run_unary(UnaryOp::silu, 23, 0, 1, 0.f);
  run_unary(UnaryOp::gelu_tanh, 1030, 0, 0, 0.f);  // 258 float4: two blocks
  run_unary(UnaryOp::gelu_tanh, 600, 3, 0, 0.f);   // three blocks of scalars
  EXPECT_THROW(kc::unary(UnaryOp(200), nullptr, nullptr, 4, 0.f, 0), rscapret::DeviceError);
  const long long launches = simt::state().launches;
  kc::unary(UnaryOp::exp, nullptr, nullptr, 0, 0.f, 0);  // n = 0 launches nothing
  EXPECT_EQ(simt::state().launches, launches);
}

// The unary kernel itself on a grid smaller than the data: each thread strides over several
// float4 and then over the tail (vec4), or over several scalars.
template <int... I>
void unary_grid_stride(std::integer_sequence<int, I...>) {
  auto one = [](auto op_constant) {
    constexpr UnaryOp op = decltype(op_constant)::value;
    for (const bool vec4 : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "op " << int(op) << " vec4 " << vec4);
      const size_t n = 2 * 64 * 3 * 4 + 3;  // three float4 per thread, and a tail
      Guarded<float> x(n, 0.f), y(n, kUnwritten);
      const std::vector<float> in = inputs(n, 40 + unsigned(op));
      std::copy(in.begin(), in.end(), x.data());
      std::vector<float> want(n);
      ref::unary<float>(op, in.data(), want.data(), int64_t(n), 1.5f);
      {
        const Registered reg{x.whole(), y.whole()};
        kc::launch_plain(kc::unary_kernel<op>, dim3(2), dim3(64), 0, nullptr, "unary", x.data(), y.data(), int64_t(n),
                         1.5f, vec4);
      }
      expect_same_bits(y.data(), want.data(), int64_t(n));
      EXPECT_TRUE(y.guards_intact());
    }
  };
  (one(std::integral_constant<UnaryOp, UnaryOp(I)>{}), ...);
}
TEST(EmulatedElementwise, UnaryKernelStridesOverTheGrid) {
  unary_grid_stride(std::make_integer_sequence<int, int(UnaryOp::silu_grad) + 1>{});
}

// ---- binary ----

struct BinaryCase {
  const char* name;
  BroadcastLoop loop;
  size_t shift;  // of operand a's buffer (1: off the 16-byte grid)
};

void run_binary(BinaryOp op, const BinaryCase& c, unsigned seed, bool in_place = false) {
  SCOPED_TRACE(::testing::Message() << "op " << int(op) << " " << c.name);
  const int64_t n = c.loop.numel();
  int64_t a0 = 0, b0 = 0;
  const int64_t na = span(c.loop, 0, &a0), nb = span(c.loop, 1, &b0);
  Guarded<float> a(size_t(na), 0.f, c.shift), b(size_t(nb), 0.f), out(size_t(n), kUnwritten);
  const std::vector<float> va = inputs(size_t(na), seed), vb = normal(size_t(nb), seed + 1);
  std::copy(va.begin(), va.end(), a.data());
  std::copy(vb.begin(), vb.end(), b.data());
  b.data()[nb / 2] = 0.f;  // a division by zero
  std::vector<float> want(static_cast<size_t>(n));
  ref::binary<float>(op, a.data() + a0, b.data() + b0, want.data(), c.loop);
  {
    const Registered reg{a.whole(), b.whole(), out.whole()};
    float* dst = in_place ? a.data() : out.data();
    kc::binary(op, a.data() + a0, b.data() + b0, dst, c.loop, 0);
  }
  if (in_place) {
    expect_same_bits(a.data(), want.data(), n);
    EXPECT_TRUE(a.guards_intact());
  } else {
    expect_same_bits(out.data(), want.data(), n);
    EXPECT_TRUE(out.guards_intact());
  }
}

std::vector<BinaryCase> binary_cases() {
  return {
      {"contiguous (float4 and a tail of 1)", make_loop({37}, {{1}, {1}}), 0},
      {"contiguous, a misaligned (flat loop)", make_loop({37}, {{1}, {1}}), 1},
      {"b broadcast along rows (32-bit offsets)", make_loop({5, 9}, {{9, 1}, {0, 1}}), 0},
      {"outer product (both broadcast)", make_loop({6, 7}, {{1, 0}, {0, 1}}), 0},
      {"b read backwards (64-bit offsets)", make_loop({5, 9}, {{9, 1}, {-9, -1}}), 0},
      {"b transposed, mixed signs (64-bit)", make_loop({4, 6}, {{6, 1}, {-1, 4}}), 0},
      {"4-D, a size-1 dim, b transposed", make_loop({3, 1, 4, 5}, {{20, 99, 5, 1}, {1, 0, 15, 3}}), 0},
      {"0-d", make_loop({}, {{}, {}}), 0},
  };
}

TEST(EmulatedElementwise, EveryBinaryOpOnEveryLoopShape) {
  for (int o = 0; o <= int(BinaryOp::div); ++o)
    for (const BinaryCase& c : binary_cases()) run_binary(BinaryOp(o), c, 100 + unsigned(o));
}

// out may alias an operand (no __restrict__): a += b on the float4 path and the broadcast one.
TEST(EmulatedElementwise, BinaryInPlace) {
  run_binary(BinaryOp::mul, {"in place, float4", make_loop({37}, {{1}, {1}}), 0}, 7, true);
  run_binary(BinaryOp::sub, {"in place, b broadcast", make_loop({5, 9}, {{9, 1}, {0, 1}}), 0}, 8, true);
}

// Several blocks on each path the launcher picks.
TEST(EmulatedElementwise, BinarySeveralBlocks) {
  run_binary(BinaryOp::div, {"float4, 258 of them", make_loop({1030}, {{1}, {1}}), 0}, 9);
  run_binary(BinaryOp::add, {"flat, 600", make_loop({600}, {{1}, {1}}), 1}, 10);
  run_binary(BinaryOp::mul, {"broadcast 32-bit, 600", make_loop({20, 30}, {{30, 1}, {1, 0}}), 0}, 11);
  run_binary(BinaryOp::sub, {"broadcast 64-bit, 600", make_loop({20, 30}, {{30, 1}, {-1, 0}}), 0}, 12);
  const long long launches = simt::state().launches;
  kc::binary(BinaryOp::add, nullptr, nullptr, nullptr, make_loop({0, 5}, {{5, 1}, {5, 1}}), 0);
  EXPECT_EQ(simt::state().launches, launches);  // an empty loop launches nothing
}

// The loop kernels themselves on a grid smaller than the data (three or four iterations a thread).
TEST(EmulatedElementwise, LoopKernelsStrideOverTheGrid) {
  const BroadcastLoop flat = make_loop({700}, {{1}, {1}}), bcast = make_loop({25, 28}, {{28, 1}, {1, 0}}),
                      back = make_loop({25, 28}, {{28, 1}, {-1, -25}});
  for (const BroadcastLoop& loop : {flat, bcast, back}) {
    const int64_t n = loop.numel();
    int64_t a0 = 0, b0 = 0;
    const int64_t na = span(loop, 0, &a0), nb = span(loop, 1, &b0);
    Guarded<float> a(size_t(na), 0.f), b(size_t(nb), 0.f), out(size_t(n), kUnwritten);
    const std::vector<float> va = normal(size_t(na), 21), vb = normal(size_t(nb), 22);
    std::copy(va.begin(), va.end(), a.data());
    std::copy(vb.begin(), vb.end(), b.data());
    std::vector<float> want(static_cast<size_t>(n));
    ref::binary<float>(BinaryOp::div, a.data() + a0, b.data() + b0, want.data(), loop);
    const kc::BinaryBody<BinaryOp::div> body{a.data() + a0, b.data() + b0, out.data()};
    const kc::DeviceLoop<2> L = kc::device_loop<2>(rscapret::kernels::collapse_loop(loop, 2));
    {
      const Registered reg{a.whole(), b.whole(), out.whole()};
      if (&loop == &flat) {
        kc::launch_plain(kc::flat_kernel<2, kc::BinaryBody<BinaryOp::div>>, dim3(3), dim3(64), 0, nullptr, "t", body,
                         n);
        expect_same_bits(out.data(), want.data(), n);
        std::fill(out.data(), out.data() + n, kUnwritten);
        kc::launch_plain(kc::binary_vec4_kernel<BinaryOp::div>, dim3(2), dim3(32), 0, nullptr, "t", a.data(), b.data(),
                         out.data(), n);
      } else if (&loop == &bcast) {
        kc::launch_plain(kc::broadcast_kernel<2, uint32_t, kc::BinaryBody<BinaryOp::div>>, dim3(3), dim3(64), 0,
                         nullptr, "t", body, L, uint32_t(n));
      } else {
        kc::launch_plain(kc::broadcast_kernel<2, int64_t, kc::BinaryBody<BinaryOp::div>>, dim3(3), dim3(64), 0, nullptr,
                         "t", body, L, n);
      }
    }
    expect_same_bits(out.data(), want.data(), n);
    EXPECT_TRUE(out.guards_intact());
  }
}

// ---- the 32-bit / 64-bit selection, on loops too large to run ----

TEST(EmulatedElementwise, OffsetWidthSelection) {
  auto fits = [](const BroadcastLoop& loop) {
    return kc::fits_u32(kc::device_loop<3>(rscapret::kernels::collapse_loop(loop, 3)), loop.numel());
  };
  const int64_t M = INT32_MAX;
  EXPECT_TRUE(fits(make_loop({M}, {{1}, {1}, {1}})));                               // n and every offset below 2^31
  EXPECT_FALSE(fits(make_loop({M + 1}, {{1}, {1}, {1}})));                          // n = 2^31
  EXPECT_FALSE(fits(make_loop({2, M / 2 + 1}, {{M / 2 + 1, 1}, {0, 0}, {0, 0}})));  // n too
  // Operand 2 (where's b) alone decides: its largest offset (s + 2) against INT32_MAX.
  EXPECT_TRUE(fits(make_loop({2, 3}, {{3, 1}, {0, 1}, {M - 2, 1}})));
  EXPECT_FALSE(fits(make_loop({2, 3}, {{3, 1}, {0, 1}, {M - 1, 1}})));
  EXPECT_FALSE(fits(make_loop({2, 3}, {{3, 1}, {M - 1, 1}, {0, 1}})));  // operand 1 likewise
  // Offsets that add up past 2^31 over several dims, each one fitting alone.
  // (4 (M / 4) = M - 3, then 6 more.)
  EXPECT_FALSE(fits(make_loop({3, 5, 7}, {{35, 7, 1}, {0, M / 4, 1}, {0, 0, 0}})));
  EXPECT_TRUE(fits(make_loop({3, 5, 7}, {{35, 7, 1}, {0, M / 4, 0}, {0, 0, 0}})));
  EXPECT_FALSE(fits(make_loop({4, 3}, {{3, 1}, {-3, 1}, {0, 0}})));  // any negative stride
  EXPECT_TRUE(fits(make_loop({4, 3}, {{3, 1}, {0, 0}, {0, 0}})));    // broadcast: offset 0
}

// ---- compare and where ----

template <class T>
void run_compare(CompareOp op, const BroadcastLoop& loop, const std::vector<T>& pool) {
  const int64_t n = loop.numel(), na = span(loop, 0), nb = span(loop, 1);
  Guarded<T> a(size_t(na), T(0)), b(size_t(nb), T(0));
  for (int64_t i = 0; i < na; ++i) a.data()[i] = pool[size_t(i * 7 % int64_t(pool.size()))];
  for (int64_t i = 0; i < nb; ++i) b.data()[i] = pool[size_t(i * 5 % int64_t(pool.size()))];
  Guarded<uint8_t> out(size_t(n), 0xa5);
  std::vector<uint8_t> want_storage(static_cast<size_t>(n));
  bool* want = reinterpret_cast<bool*>(want_storage.data());
  ref::compare<T>(op, a.data(), b.data(), want, loop);
  {
    const Registered reg{a.whole(), b.whole(), out.whole()};
    if constexpr (std::is_same_v<T, float>)
      kc::compare(op, a.data(), b.data(), reinterpret_cast<bool*>(out.data()), loop, 0);
    else
      kc::compare_i64(op, a.data(), b.data(), reinterpret_cast<bool*>(out.data()), loop, 0);
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out.data()[i], want_storage[size_t(i)]) << "element " << i;
  EXPECT_TRUE(out.guards_intact());
}

// Every comparison, f32 (NaN unequal to everything, -0 == 0, infinities) and i64 (neighbours above
// 2^53 that a detour through double would merge, the extremes), flat and broadcast.
TEST(EmulatedElementwise, EveryComparisonF32AndI64) {
  const std::vector<float> fpool = {0.f, -0.f, 1.f, kNaN, -kInf, kInf, 1.f, -2.5f, 1e-40f, 3.f, -2.5f};
  const int64_t big = int64_t(1) << 53;
  const std::vector<int64_t> ipool = {0, -1, big, big + 1, INT64_MIN, INT64_MAX, big, 7, -7, big + 1, 0};
  const BroadcastLoop flat = make_loop({45}, {{1}, {1}}), rows = make_loop({6, 11}, {{11, 1}, {0, 1}});
  for (int o = 0; o <= int(CompareOp::ge); ++o) {
    for (const BroadcastLoop* loop : {&flat, &rows}) {
      SCOPED_TRACE(::testing::Message() << "op " << o << (loop == &flat ? " flat" : " broadcast"));
      run_compare<float>(CompareOp(o), *loop, fpool);
      run_compare<int64_t>(CompareOp(o), *loop, ipool);
    }
  }
}

// where: flat, a condition broadcast along rows with b a scalar, and the 64-bit path (a read backwards).
TEST(EmulatedElementwise, WhereOnEachLoopShape) {
  const BroadcastLoop loops[] = {make_loop({45}, {{1}, {1}, {1}}), make_loop({6, 11}, {{1, 0}, {11, 1}, {0, 0}}),
                                 make_loop({6, 11}, {{11, 1}, {-11, -1}, {1, 6}})};
  for (const BroadcastLoop& loop : loops) {
    SCOPED_TRACE(::testing::Message() << "loop of " << loop.ndim << " dims, a stride " << loop.strides[1][0]);
    const int64_t n = loop.numel();
    int64_t a0 = 0;
    const int64_t nc = span(loop, 0), na = span(loop, 1, &a0), nb = span(loop, 2);
    Guarded<uint8_t> cond(size_t(nc), 0);
    for (int64_t i = 0; i < nc; ++i) cond.data()[i] = uint8_t((i * 7 + i / 3) % 3 == 0);
    Guarded<float> a(size_t(na), 0.f), b(size_t(nb), 0.f), out(size_t(n), kUnwritten);
    const std::vector<float> va = normal(size_t(na), 31), vb = normal(size_t(nb), 32);
    std::copy(va.begin(), va.end(), a.data());
    std::copy(vb.begin(), vb.end(), b.data());
    std::vector<float> want(static_cast<size_t>(n));
    const bool* c = reinterpret_cast<const bool*>(cond.data());
    ref::where<float>(c, a.data() + a0, b.data(), want.data(), loop);
    {
      const Registered reg{cond.whole(), a.whole(), b.whole(), out.whole()};
      kc::where(c, a.data() + a0, b.data(), out.data(), loop, 0);
    }
    expect_same_bits(out.data(), want.data(), n);
    EXPECT_TRUE(out.guards_intact());
  }
}

}  // namespace
