// The CUDA copy/cast and fill kernels (kernels/cuda/copy.cu) against the host copy's conversion
// (tensor/element.h, as tensor/tensor_copy.cpp applies it): every pair of f32, f64, f16, bf16,
// i32, i64, u8 and bool over values chosen to hit rounding ties (bf16, f16, f64 -> f32), double
// rounding (f64 -> bf16 / f16 goes through f32 on the host), truncation, overflow to inf,
// subnormals, signed zeros and NaN; strided, transposed and broadcast layouts. Results must be the
// host's bits exactly, except that a converted NaN only has to be a NaN (payloads may differ).
// Destinations start poisoned (0xFF bytes) and skipped elements must stay so.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "tensor/dtype.h"
#include "tensor/element.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;
using kernels::BroadcastLoop;

constexpr DType kTypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32,
                            DType::i64, DType::u8,  DType::i8,  DType::boolean};

bool is_int(DType t) { return t == DType::i32 || t == DType::i64 || t == DType::u8 || t == DType::i8; }

// Whether converting v to t is defined on the host (float -> int is undefined out of range).
bool fits(double v, DType t) {
  if (!is_int(t)) return true;  // floats and bool take anything
  if (!std::isfinite(v)) return false;
  const double tv = std::trunc(v);
  if (t == DType::i32) return tv >= -2147483648.0 && tv <= 2147483647.0;
  if (t == DType::i64) return tv >= -9223372036854775808.0 && tv < 9223372036854775808.0;
  if (t == DType::i8) return tv >= -128.0 && tv <= 127.0;
  return tv >= 0.0 && tv <= 255.0;  // u8
}

double load(const uint8_t* p, DType t) {
  return visit_dtype(t, [&](auto tag) { return load_as_double(reinterpret_cast<const decltype(tag)*>(p)); });
}

// dst = src converted as the host copy does: the bits for the same dtype, else through double.
void convert_host(const uint8_t* src, DType st, uint8_t* dst, DType dt) {
  if (st == dt) {
    std::memcpy(dst, src, dtype_size(st));
    return;
  }
  const double v = load(src, st);
  visit_dtype(dt, [&](auto tag) { store_from_double(reinterpret_cast<decltype(tag)*>(dst), v); });
}

bool is_nan_element(const uint8_t* p, DType t) {
  if (t != DType::f32 && t != DType::f64 && t != DType::f16 && t != DType::bf16) return false;
  return std::isnan(load(p, t));
}

// The element at got equals the one at want: the same bytes, or (for a conversion) both NaN.
bool same_element(const uint8_t* got, const uint8_t* want, DType t, bool converted) {
  if (converted && is_nan_element(want, t)) return is_nan_element(got, t);
  return std::memcmp(got, want, dtype_size(t)) == 0;
}

double pow2(int e) { return std::ldexp(1.0, e); }

// Values as doubles, before they are stored in the source dtype.
std::vector<double> source_values() {
  const double inf = std::numeric_limits<double>::infinity();
  return {
      0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.7, 3.99, 100.0, 127.0, 128.0, 255.0, 255.9, 256.0,
      65504.0, 65519.0, 65520.0,  // f16: the largest finite, below the tie, the tie to inf
      70000.0, 1e10, -1e10, 16777217.0 /* 2^24 + 1: not an f32 */, 2147483647.0, -2147483648.0, 2147483648.0,
      1e-6, 3e-8 /* f16 subnormals */, 3e-39 /* f32 subnormal */, 1e-300, 1e300 /* beyond f32 */,
      inf, -inf, std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN(),
      1 + pow2(-8), 1 + 3 * pow2(-8), -(1 + pow2(-8)),  // bf16 ties: to even, down then up
      1 + pow2(-11), 1 + 3 * pow2(-11),                 // f16 ties
      1 + pow2(-24), 1 + 3 * pow2(-24),                 // f64 -> f32 ties
      1 + pow2(-8) + pow2(-40),   // f64 -> bf16: f32 first makes it a tie (to 1), once would round up
      1 + pow2(-11) + pow2(-40),  // likewise for f16
  };
}

// The source elements of dtype st: every value that st can hold without undefined behaviour, plus
// i64 values beyond double precision.
std::vector<uint8_t> source_elements(DType st) {
  const size_t size = dtype_size(st);
  std::vector<uint8_t> out;
  auto push = [&](const void* p) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + size);
  };
  for (double v : source_values()) {
    if (!fits(v, st)) continue;
    uint8_t e[8];
    visit_dtype(st, [&](auto tag) { store_from_double(reinterpret_cast<decltype(tag)*>(e), v); });
    push(e);
  }
  if (st == DType::i64) {
    // 2^60 + 2^36 + 1 rounds up straight to f32 but to a tie (then down) through double.
    for (int64_t v : {(int64_t(1) << 53) + 1, -(int64_t(1) << 60) + 3, (int64_t(1) << 60) + (int64_t(1) << 36) + 1,
                      std::numeric_limits<int64_t>::max(),
                      std::numeric_limits<int64_t>::min()})
      push(&v);
  }
  return out;
}

TEST(CudaCopy, EveryDtypePairConvertsAsTheHost) {
  RS_REQUIRE_CUDA();
  for (DType st : kTypes) {
    const std::vector<uint8_t> all = source_elements(st);
    const size_t ss = dtype_size(st);
    for (DType dt : kTypes) {
      SCOPED_TRACE(::testing::Message() << dtype_name(st) << " -> " << dtype_name(dt));
      const size_t ds = dtype_size(dt);
      // Keep the elements whose conversion is defined on the host.
      std::vector<uint8_t> src;
      for (size_t i = 0; i < all.size(); i += ss)
        if (st == dt || fits(load(all.data() + i, st), dt))
          src.insert(src.end(), all.begin() + int64_t(i), all.begin() + int64_t(i + ss));
      const int64_t m = int64_t(src.size() / ss);
      ASSERT_GT(m, 0);
      // Written into every other destination element: dst stride 2, the odd ones stay poisoned.
      BroadcastLoop loop;
      loop.ndim = 1;
      loop.shape[0] = m;
      loop.strides[0][0] = 1;
      loop.strides[1][0] = 2;
      DeviceBuffer<uint8_t> S(src), D(2 * m * int64_t(ds));
      kc::strided_copy(S.get(), st, D.get(), dt, loop, 0);
      const std::vector<uint8_t> got = D.download();
      for (int64_t i = 0; i < m; ++i) {
        uint8_t want[8];
        convert_host(src.data() + size_t(i) * ss, st, want, dt);
        const uint8_t* g = got.data() + size_t(2 * i) * ds;
        EXPECT_TRUE(same_element(g, want, dt, st != dt))
            << "element " << i << ": source " << load(src.data() + size_t(i) * ss, st) << " gave " << load(g, dt)
            << ", the host " << load(want, dt);
        for (size_t b = 0; b < ds; ++b) EXPECT_EQ(got[size_t(2 * i + 1) * ds + b], 0xFF) << "wrote a skipped element";
      }
      EXPECT_TRUE(S.guards_intact());
      EXPECT_TRUE(D.guards_intact());
    }
  }
}

// src [rows, cols] read through the given strides (in a buffer of src_elems), dst dense; checked
// against convert_host element by element.
void check_layout(DType st, DType dt, int64_t rows, int64_t cols, int64_t rs, int64_t cs, int64_t src_elems,
                  uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << dtype_name(st) << " -> " << dtype_name(dt) << " [" << rows << ", " << cols
                                    << "] strides (" << rs << ", " << cs << ")");
  const size_t ss = dtype_size(st), ds = dtype_size(dt);
  // Values in [-100, 100) in steps of 1/8: defined for every integer destination but u8 (none here).
  const std::vector<int64_t> ids = random_ids(src_elems, 1600, seed);
  std::vector<uint8_t> src(size_t(src_elems) * ss);
  for (int64_t i = 0; i < src_elems; ++i) {
    const double v = double(ids[size_t(i)]) / 8 - 100;
    uint8_t* at = src.data() + size_t(i) * ss;
    visit_dtype(st, [&](auto tag) { store_from_double(reinterpret_cast<decltype(tag)*>(at), v); });
  }
  BroadcastLoop loop;
  loop.ndim = 2;
  loop.shape[0] = rows;
  loop.shape[1] = cols;
  loop.strides[0][0] = rs;
  loop.strides[0][1] = cs;
  loop.strides[1][0] = cols;
  loop.strides[1][1] = 1;
  DeviceBuffer<uint8_t> S(src), D(rows * cols * int64_t(ds));
  kc::strided_copy(S.get(), st, D.get(), dt, loop, 0);
  const std::vector<uint8_t> got = D.download();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t want[8];
      convert_host(src.data() + size_t(r * rs + c * cs) * ss, st, want, dt);
      ASSERT_TRUE(same_element(got.data() + size_t(r * cols + c) * ds, want, dt, st != dt)) << r << ", " << c;
    }
  EXPECT_TRUE(S.guards_intact());
  EXPECT_TRUE(D.guards_intact());
}

TEST(CudaCopy, TransposedAndBroadcastSources) {
  RS_REQUIRE_CUDA();
  const int64_t R = 37, C = 45;
  for (auto [st, dt] : {std::pair{DType::f32, DType::bf16}, std::pair{DType::bf16, DType::f32},
                        std::pair{DType::f32, DType::f32}, std::pair{DType::i64, DType::f32},
                        std::pair{DType::f16, DType::f64}, std::pair{DType::f32, DType::boolean}}) {
    check_layout(st, dt, R, C, 1, R, R * C, 61);    // the transpose of a [C, R] buffer
    check_layout(st, dt, R, C, 0, 1, C, 62);        // a [C] row broadcast over R rows (expand)
    check_layout(st, dt, R, C, 2 * C, 1, 2 * R * C, 63);  // every other row of a [2R, C] buffer
    check_layout(st, dt, R, C, C, 1, R * C, 64);    // dense both sides (same dtype: the memcpy path)
  }
}

TEST(CudaCopy, SameDtypeCopiesKeepTheBits) {
  RS_REQUIRE_CUDA();
  // NaN payloads and signed zeros must survive a same-dtype copy, dense (memcpy) or strided (kernel).
  const std::vector<uint32_t> bits = {0x7fc00001u, 0xffc12345u, 0x80000000u, 0x00000001u, 0x7f800000u, 0x3f800000u};
  const int64_t n = int64_t(bits.size());
  for (int64_t stride : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "stride " << stride);
    std::vector<uint32_t> src(size_t(n * stride), 0u);
    for (int64_t i = 0; i < n; ++i) src[size_t(i * stride)] = bits[size_t(i)];
    BroadcastLoop loop;
    loop.ndim = 1;
    loop.shape[0] = n;
    loop.strides[0][0] = stride;
    loop.strides[1][0] = 1;
    DeviceBuffer<uint32_t> S(src), D(n);
    kc::strided_copy(S.get(), DType::f32, D.get(), DType::f32, loop, 0);
    EXPECT_EQ(D.download(), bits);
    EXPECT_TRUE(D.guards_intact());
  }
}

TEST(CudaCopy, EmptyAndScalarCopies) {
  RS_REQUIRE_CUDA();
  DeviceBuffer<float> S(std::vector<float>{2.5f}), D(1);
  BroadcastLoop empty;
  empty.ndim = 2;
  empty.shape[0] = 0;
  empty.shape[1] = 3;
  kc::strided_copy(S.get(), DType::f32, D.get(), DType::f32, empty, 0);
  std::vector<float> got = D.download();
  uint32_t u;
  std::memcpy(&u, got.data(), 4);
  EXPECT_EQ(u, 0xFFFFFFFFu) << "an empty copy wrote";
  BroadcastLoop scalar;  // ndim 0: one element
  kc::strided_copy(S.get(), DType::f32, D.get(), DType::f32, scalar, 0);
  EXPECT_EQ(D.download()[0], 2.5f);
  DeviceBuffer<uint16_t> H(1);
  kc::strided_copy(S.get(), DType::f32, H.get(), DType::bf16, scalar, 0);
  EXPECT_EQ(H.download()[0], f32_to_bf16(2.5f));
  EXPECT_TRUE(D.guards_intact());
  EXPECT_TRUE(H.guards_intact());
}

// Host-to-device copies of every size class (tensor/cuda_runtime.cu): small ones through the ring
// of pinned slots (more copies than slots, so slots are reused), the boundary, and large ones
// through the double-buffered chunks. A long copy kernel is queued first so that the small copies
// pile up behind it; each source is overwritten at once after its call (the call must have
// consumed it). Every destination must then hold its own bytes, and the guards must be intact.
void check_host_to_device_copies() {
  std::vector<size_t> sizes;
  for (int i = 0; i < 300; ++i) sizes.push_back(size_t(1 + (i * 977) % 4096));  // small: 300 > the 64 slots
  for (size_t s : {size_t(64) << 10, (size_t(64) << 10) + 1, size_t(1) << 20, (size_t(8) << 20) + 3})
    sizes.push_back(s);  // the small limit, just past it, one chunk, two chunks
  // Every destination exists before the busy kernels are queued: an allocation (cudaMalloc) may
  // synchronise, which would drain the queue the small copies are meant to wait behind.
  std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> dst;
  for (size_t s : sizes) dst.push_back(std::make_unique<DeviceBuffer<uint8_t>>(int64_t(s)));
  const int64_t busy_n = int64_t(1) << 26;  // 256 MB of f32: keeps the stream busy for a while
  DeviceBuffer<float> busy_src(busy_n), busy_dst(busy_n);
  BroadcastLoop flat;
  flat.ndim = 1;
  flat.shape[0] = busy_n;
  flat.strides[0][0] = flat.strides[1][0] = 1;
  for (int r = 0; r < 20; ++r)  // ~4 ms on an H100, longer than the host needs for the small copies
    kc::strided_copy(busy_src.get(), DType::f32, busy_dst.get(), DType::f32, flat, 0);
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < sizes.size(); ++i) {
    scratch.assign(sizes[i], 0);
    for (size_t j = 0; j < sizes[i]; ++j) scratch[j] = uint8_t(i * 31 + j * 7);
    cuda_runtime::copy_host_to_device(dst[i]->get(), scratch.data(), sizes[i], 0);
    std::fill(scratch.begin(), scratch.end(), uint8_t(0xEE));  // consumed: overwriting must not matter
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::vector<uint8_t> got = dst[i]->download();
    size_t wrong = 0;
    for (size_t j = 0; j < sizes[i]; ++j) wrong += got[j] != uint8_t(i * 31 + j * 7);
    EXPECT_EQ(wrong, 0u) << "copy " << i << " of " << sizes[i] << " bytes";
    EXPECT_TRUE(dst[i]->guards_intact()) << "copy " << i;
  }
}

TEST(CudaCopy, HostToDeviceCopiesOfEverySizeArriveIntact) {
  RS_REQUIRE_CUDA();
  {
    SCOPED_TRACE("small copies through the ring of slots");
    check_host_to_device_copies();
  }
  SCOPED_TRACE("small copies through the staging buffers (the ring switched off)");
  cuda_runtime::set_small_copy_ring(false);
  check_host_to_device_copies();
  cuda_runtime::set_small_copy_ring(true);
}

TEST(CudaFill, EveryDtypeHoldsTheHostsBits) {
  RS_REQUIRE_CUDA();
  const std::vector<double> values = {0.0, -0.0, 1.5, -2.0, 200.0, 1e10, std::numeric_limits<double>::quiet_NaN(),
                                      1 + std::ldexp(1.0, -8)};
  for (DType t : kTypes)
    for (double v : values) {
      if (!fits(v, t)) continue;
      for (int64_t n : {1, 7, 100003}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(t) << " value " << v << " n " << n);
        const size_t size = dtype_size(t);
        uint8_t want[8];
        visit_dtype(t, [&](auto tag) { store_from_double(reinterpret_cast<decltype(tag)*>(want), v); });
        DeviceBuffer<uint8_t> D(n * int64_t(size));
        kc::fill(D.get(), t, n, v, 0);
        const std::vector<uint8_t> got = D.download();
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(std::memcmp(got.data() + size_t(i) * size, want, size), 0) << i;
        EXPECT_TRUE(D.guards_intact());
      }
    }
}

}  // namespace
}  // namespace rscapret::testing
