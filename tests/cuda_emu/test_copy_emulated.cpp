// The device copies, casts and fills (kernels/cuda/copy.cu: strided_copy, fill), their own source on
// the host emulator (simt.h), against the host's element conversions (tensor/element.h: what
// Tensor's host copy and Tensor::full do), byte for byte: every pair of the nine dtypes through a
// transposed read into a destination with gaps (the gaps must keep their bytes), with the values
// each conversion treats apart (signed zeros, ties of the 16-bit roundings, f16 subnormals and
// overflow, f64 values that round twice, integers past 2^24 and 2^53, truncation toward zero);
// broadcast (stride 0) and reversed sources, the 64-bit offsets, the dense copy that is a
// memcpy, the fills by memset and by kernel for every element size. The 16-bit roundings are the
// stand-in cuda_fp16.h / cuda_bf16.h's (round to nearest even, from the value's arithmetic), so
// the comparison also checks the host's bit-level conversions; a NaN only has to stay a NaN
// (copy.cu says its payload may differ). Float-to-integer casts take only values in the
// destination's range: out of range, C++ leaves the host's result undefined (the GPU saturates).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cuda/copy.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
using rscapret::DType;
using rscapret::Half;
using rscapret::kAllDTypes;
using rscapret::kernels::BroadcastLoop;

constexpr uint8_t kGuard = 0xa5;  // the bytes around and between the elements a copy must write

BroadcastLoop make_loop(std::initializer_list<int64_t> shape, std::initializer_list<int64_t> src,
                        std::initializer_list<int64_t> dst) {
  BroadcastLoop L;
  L.ndim = int(shape.size());
  int d = 0;
  for (const int64_t e : shape) L.shape[size_t(d++)] = e;
  d = 0;
  for (const int64_t e : src) L.strides[0][size_t(d++)] = e;
  d = 0;
  for (const int64_t e : dst) L.strides[1][size_t(d++)] = e;
  return L;
}

// Bytes with element 0 after a guard of 64 (16-byte aligned, as operator new's memory is), and a
// guard after the last element.
struct Bytes {
  std::vector<uint8_t> mem;
  static constexpr size_t first = 64;
  explicit Bytes(size_t bytes, uint8_t fill = kGuard) : mem(bytes + 128, fill) {}
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(mem.data() + first);
  }
  std::pair<const void*, size_t> whole() const { return {mem.data(), mem.size()}; }
};

template <class T>
constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T>
constexpr bool kIsFloat = !std::is_integral_v<T>;  // float, double, Half, BFloat16

// Whether the conversion of v to integer type T is defined in C++ (truncated into T's range).
template <class T>
bool int_can_hold(double v) {
  if (std::isnan(v)) return false;
  const double lo = double(std::numeric_limits<T>::min()), hi = double(std::numeric_limits<T>::max());
  return std::is_same_v<T, int64_t> ? v >= lo && v < -lo : v > lo - 1 && v < hi + 1;
}

// The values of the source dtype S that the test copies into D.
template <class S, class D>
std::vector<S> source_values() {
  const double inf = std::numeric_limits<double>::infinity();
  // Truncations toward zero, the integer ranges' ends, 2^24 + 1 (not an f32), f32 subnormals, f32
  // overflow and underflow (to -0), NaN and the infinities.
  std::vector<double> candidates = {0.0,          -0.0,          1.0,        -1.0,    0.5,          -2.75, 3.999,
                                    -3.999,       100.5,         127.0,      -128.0,  255.0,        200.7, -129.5,
                                    2147483647.0, -2147483648.0, 16777217.0, 0.1,     1.0 / 3,      1e-40, 0x1p-149,
                                    3.4e38,       3.5e38,        1e300,      -1e-300, std::nan(""), inf,   -inf};
  // f16's largest, the last value that rounds to it, the first that rounds to infinity; its
  // smallest subnormal, a tie between subnormals, half of the smallest (a tie to 0), below it, its
  // smallest normal.
  candidates.insert(candidates.end(), {65504.0, 65519.0, 65520.0, 1e5, 0x1p-24, 0x1.8p-24, 0x1p-25, 1e-8, 0x1p-14});
  // Ties of f16 and bf16 (to even: down, then up), and f64 values just past the first ones: rounded
  // to f32 first, as the host does, they tie and go down (rounded once they would go up).
  candidates.insert(candidates.end(),
                    {1 + 0x1p-11, 1 + 0x3p-11, 1 + 0x1p-8, 1 + 0x3p-8, 1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-8 + 0x1p-40});
  std::vector<S> out;
  auto add = [&](S s) {
    if constexpr (kIsInt<D> && !std::is_same_v<S, D>) {
      if (!int_can_hold<D>(rscapret::load_as_double(&s))) return;
    }
    out.push_back(s);
  };
  for (const double c : candidates) {
    if constexpr (kIsInt<S>) {
      if (!int_can_hold<S>(c)) continue;
    }
    S s;
    rscapret::store_from_double(&s, c);
    add(s);
  }
  if constexpr (std::is_same_v<S, int64_t>) {  // integers past 2^53 (rounded on the way through double)
    const int64_t big = (int64_t(1) << 53) + 1;
    for (const int64_t v : {big, -big, big + 2, INT64_MAX, INT64_MIN}) add(v);
  }
  return out;
}

// strided_copy of loop.numel() elements from S to D, src and dst at element src_first and dst_first
// of their buffers (past the negative offsets), against the host conversion applied to a copy of
// the destination buffer: every element (a NaN only as a NaN) and every byte around and between.
template <class S, class D>
void run_copy(DType st, DType dt, const BroadcastLoop& loop, int64_t src_elems, int64_t src_first, int64_t dst_elems,
              int64_t dst_first) {
  SCOPED_TRACE(::testing::Message() << rscapret::dtype_name(st) << " -> " << rscapret::dtype_name(dt));
  const std::vector<S> pool = source_values<S, D>();
  ASSERT_FALSE(pool.empty());
  Bytes src(size_t(src_elems) * sizeof(S), 0), dst(size_t(dst_elems) * sizeof(D)), want = dst;
  for (int64_t i = 0; i < src_elems; ++i) src.as<S>()[i] = pool[size_t(i) % pool.size()];
  const S* sp = src.as<S>() + src_first;
  std::vector<int64_t> idx(size_t(loop.ndim), 0);
  for (int64_t i = 0; i < loop.numel(); ++i) {  // an odometer over the uncollapsed loop
    int64_t so = 0, dof = dst_first;
    for (int d = 0; d < loop.ndim; ++d) {
      so += idx[size_t(d)] * loop.strides[0][size_t(d)];
      dof += idx[size_t(d)] * loop.strides[1][size_t(d)];
    }
    if constexpr (std::is_same_v<S, D>)
      want.as<D>()[dof] = sp[so];  // the bits
    else
      rscapret::store_from_double(want.as<D>() + dof, rscapret::load_as_double(sp + so));
    for (int d = loop.ndim - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < loop.shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  {
    const Registered reg{src.whole(), dst.whole()};
    kc::strided_copy(sp, st, dst.as<D>() + dst_first, dt, loop, 0);
  }
  const size_t lo = dst.first, hi = dst.first + size_t(dst_elems) * sizeof(D);
  for (size_t b = 0; b < dst.mem.size(); ++b) {
    if (b < lo || b >= hi) {
      ASSERT_EQ(dst.mem[b], want.mem[b]) << "guard byte " << int64_t(b - lo);
    }
  }
  for (int64_t i = 0; i < dst_elems; ++i) {  // bytes first: a gap's guard bytes are no valid bool
    if (std::memcmp(dst.as<D>() + i, want.as<D>() + i, sizeof(D)) == 0) continue;
    if constexpr (kIsFloat<D> && !std::is_same_v<S, D>) {  // a NaN stays a NaN, its payload aside
      if (std::isnan(rscapret::load_as_double(want.as<D>() + i)) &&
          std::isnan(rscapret::load_as_double(dst.as<D>() + i)))
        continue;
    }
    FAIL() << "element " << i << " differs from the host conversion";
  }
}

// run_copy with the host element types of the two dtypes.
void copy_case(DType st, DType dt, const BroadcastLoop& loop, int64_t src_elems, int64_t src_first, int64_t dst_elems,
               int64_t dst_first = 0) {
  rscapret::visit_dtype(st, [&](auto s) {
    rscapret::visit_dtype(dt, [&](auto d) {
      run_copy<decltype(s), decltype(d)>(st, dt, loop, src_elems, src_first, dst_elems, dst_first);
    });
  });
}

// Every pair: the loop reads src [6, 8] transposed (shape [8, 6], strides 1 and 8) into dst rows of
// 7 with one gap each (strides 7 and 1), so neither side is dense and nothing collapses.
TEST(EmulatedCopy, EveryDtypePairTransposedIntoRowsWithGaps) {
  const BroadcastLoop loop = make_loop({8, 6}, {1, 8}, {7, 1});
  for (const DType st : kAllDTypes)
    for (const DType dt : kAllDTypes) copy_case(st, dt, loop, 48, 0, 56);
}

// The other loop shapes: a broadcast source (stride 0, along rows and along columns), a reversed
// source (negative strides: the 64-bit offsets), size-1 dims with any stride and a 3-D loop that
// does not collapse, a destination written backwards, several blocks.
TEST(EmulatedCopy, BroadcastReversedAndMultiDimLoops) {
  copy_case(DType::f32, DType::bf16, make_loop({5, 6}, {0, 1}, {6, 1}), 6, 0, 30);
  copy_case(DType::i64, DType::f32, make_loop({5, 6}, {1, 0}, {6, 1}), 5, 0, 30);
  copy_case(DType::f16, DType::f16, make_loop({4, 9}, {0, 1}, {9, 1}), 9, 0, 36);  // same dtype: a kernel still
  copy_case(DType::f16, DType::f32, make_loop({5, 7}, {-7, -1}, {7, 1}), 35, 34, 35);
  copy_case(DType::bf16, DType::f64, make_loop({5, 7}, {1, -5}, {7, 1}), 35, 30, 35);
  copy_case(DType::f64, DType::f16, make_loop({3, 1, 4, 5}, {20, 77, 1, 4}, {1, 0, 15, 3}), 60, 0, 60);
  copy_case(DType::i32, DType::i8, make_loop({40}, {1}, {-1}), 40, 0, 40, 39);             // dst written backwards
  copy_case(DType::bf16, DType::f32, make_loop({20, 30}, {1, 20}, {30, 1}), 600, 0, 600);  // three blocks
  copy_case(DType::u8, DType::boolean, make_loop({3, 9}, {9, 1}, {9, 1}), 27, 0, 27);
  // One dim within one dtype, either side not of stride 1: not the memcpy.
  copy_case(DType::f32, DType::f32, make_loop({30}, {2}, {1}), 60, 0, 30);
  copy_case(DType::bf16, DType::bf16, make_loop({30}, {1}, {-1}), 30, 0, 30, 29);  // dense: one collapsed dim
}

// A dense copy within one dtype is a device memcpy (no kernel); an empty loop does nothing.
TEST(EmulatedCopy, DenseSameDtypeIsAMemcpy) {
  const long long launches = simt::state().launches;
  copy_case(DType::i64, DType::i64, make_loop({3, 1, 9}, {9, 5, 1}, {9, 0, 1}), 27, 0, 27);
  copy_case(DType::bf16, DType::bf16, make_loop({}, {}, {}), 1, 0, 1);
  EXPECT_EQ(simt::state().launches, launches);
  kc::strided_copy(nullptr, DType::f32, nullptr, DType::f16, make_loop({4, 0}, {1, 4}, {0, 1}), 0);
  EXPECT_EQ(simt::state().launches, launches);
}

// The copy kernel itself on a grid smaller than the data (five or six elements a thread), with
// either offset width.
TEST(EmulatedCopy, KernelStridesOverTheGrid) {
  const int64_t R = 25, C = 28, n = R * C;
  std::vector<uint16_t> src(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) src[size_t(i)] = uint16_t(0x0400 + i * 37 % 0x7000);  // finite f16 values
  const kc::CopyLoop fwd = kc::collapse2(make_loop({C, R}, {1, C}, {R, 1}));
  const kc::CopyLoop back = kc::collapse2(make_loop({C, R}, {-1, -C}, {R, 1}));
  std::vector<float> out(size_t(n) + 8), want(static_cast<size_t>(n));
  const Registered reg{{src.data(), src.size() * 2}, {out.data(), out.size() * 4}};
  for (const bool wide : {false, true}) {
    SCOPED_TRACE(wide ? "64-bit offsets" : "32-bit offsets");
    const uint16_t* sp = src.data() + (wide ? n - 1 : 0);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r) {
        const Half h{wide ? sp[-c - r * C] : sp[c + r * C]};
        want[size_t(c * R + r)] = float(rscapret::load_as_double(&h));
      }
    std::fill(out.begin(), out.end(), NAN);
    const auto* s16 = reinterpret_cast<const kc::F16*>(sp);
    if (wide)
      kc::launch_plain(kc::strided_copy_kernel<int64_t, kc::F16, float>, dim3(2), dim3(64), 0, nullptr, "t", s16,
                       out.data(), back, n);
    else
      kc::launch_plain(kc::strided_copy_kernel<uint32_t, kc::F16, float>, dim3(2), dim3(64), 0, nullptr, "t", s16,
                       out.data(), fwd, uint32_t(n));
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(emu_test::bits(out[size_t(i)]), emu_test::bits(want[size_t(i)])) << i;
    for (size_t i = size_t(n); i < out.size(); ++i) ASSERT_TRUE(std::isnan(out[i])) << "past the end: " << i;
  }
}

// The 32-bit / 64-bit choice, on loops too large to run: n and both operands' largest offsets
// against INT32_MAX, negative strides always 64-bit.
TEST(EmulatedCopy, OffsetWidthSelection) {
  const int64_t M = INT32_MAX;
  auto fits = [](const BroadcastLoop& loop) { return kc::fits_u32(kc::collapse2(loop), 2, loop.numel()); };
  EXPECT_TRUE(fits(make_loop({M}, {1}, {1})));
  EXPECT_FALSE(fits(make_loop({M + 1}, {1}, {1})));
  EXPECT_TRUE(fits(make_loop({2, 3}, {M - 2, 1}, {3, 1})));             // src's largest offset M
  EXPECT_FALSE(fits(make_loop({2, 3}, {M - 1, 1}, {3, 1})));            // M + 1
  EXPECT_FALSE(fits(make_loop({2, 3}, {3, 1}, {M - 1, 1})));            // dst's likewise
  EXPECT_FALSE(fits(make_loop({3, 5, 7}, {0, M / 4, 1}, {35, 7, 1})));  // 4 (M / 4) + 6 > M over two dims
  EXPECT_TRUE(fits(make_loop({3, 5, 7}, {0, M / 4, 0}, {35, 7, 1})));
  EXPECT_FALSE(fits(make_loop({4, 3}, {3, 1}, {-3, 1})));
}

// ---- fill ----

// fill against Tensor::full's host conversion, for every dtype: values whose element bytes repeat
// (a memset: zero, any 1-byte dtype, 0x3c3c as f16, 0x4040 as bf16, 0x01010101 as i32, -1) and
// values that need the kernel (2-, 4- and 8-byte patterns), checked by the launch count too.
TEST(EmulatedCopy, FillEveryDtypeByMemsetOrKernel) {
  struct Case {
    DType dt;
    double value;
    bool kernel;
    int64_t n;
  };
  const Case cases[] = {
      {DType::f32, 3.25, true, 37},    {DType::f32, 0.0, false, 37},        {DType::f32, NAN, true, 37},
      {DType::f32, -0.0, true, 37},    {DType::f64, -1e300, true, 37},      {DType::f64, 0.0, false, 37},
      {DType::f16, 1.5, true, 37},     {DType::f16, 1.05859375, false, 37},  // 0x3c3c
      {DType::f16, 65520.0, true, 37}, {DType::f16, 1 + 0x1p-11, true, 37},  // infinity; a tie, to 0x3c00
      {DType::bf16, -2.5, true, 600},  {DType::bf16, 3.0, false, 37},        // 0x4040
      {DType::i32, 123456, true, 37},  {DType::i32, 16843009, false, 37},    // 0x01010101
      {DType::i32, -1, false, 37},     {DType::i64, -5, true, 300},         {DType::i64, -1, false, 37},
      {DType::u8, 200, false, 37},     {DType::i8, -3, false, 37},          {DType::boolean, 7.0, false, 37},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << rscapret::dtype_name(c.dt) << " " << c.value);
    const size_t esz = rscapret::dtype_size(c.dt);
    Bytes dst(size_t(c.n) * esz), want = dst;
    rscapret::visit_dtype(c.dt, [&](auto t) {
      using T = decltype(t);
      for (int64_t i = 0; i < c.n; ++i) rscapret::store_from_double(want.as<T>() + i, c.value);
    });
    const long long launches = simt::state().launches;
    {
      const Registered reg{dst.whole()};
      kc::fill(dst.as<void>(), c.dt, c.n, c.value, 0);
    }
    EXPECT_EQ(simt::state().launches - launches, c.kernel ? 1 : 0);
    ASSERT_EQ(dst.mem, want.mem);  // every element's bits, every guard byte
  }
  const long long launches = simt::state().launches;
  kc::fill(nullptr, DType::f32, 0, 1.0, 0);
  EXPECT_EQ(simt::state().launches, launches);
}

// The fill kernel on a grid smaller than the data (several elements a thread), for each element
// size it is instantiated for.
template <class T>
void fill_kernel_case(T value, unsigned blocks, unsigned threads) {
  const int64_t n = 700;
  Bytes dst(size_t(n) * sizeof(T)), want = dst;
  for (int64_t i = 0; i < n; ++i) want.as<T>()[i] = value;
  {
    const Registered reg{dst.whole()};
    kc::launch_plain(kc::fill_kernel<T>, dim3(blocks), dim3(threads), 0, nullptr, "fill", dst.as<T>(), n, value);
  }
  ASSERT_EQ(dst.mem, want.mem);
}
TEST(EmulatedCopy, FillKernelStridesOverTheGrid) {
  fill_kernel_case(uint16_t(0x1234), 2, 64);
  fill_kernel_case(uint32_t(0x89abcdef), 3, 32);
  fill_kernel_case(uint64_t(0x0102030405060708), 2, 32);
}

}  // namespace
