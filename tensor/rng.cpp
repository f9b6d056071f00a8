#include "tensor/rng.h"

#include <algorithm>
#include <cmath>

#include "tensor/thread_pool.h"

namespace rscapret {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kM0) * c[0];
    const uint64_t p1 = uint64_t(kM1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

namespace {

// 32 random bits -> uniform in (0, 1]: never 0, so log() in Box-Muller is finite.
inline double to_unit(uint32_t a, uint32_t b) {
  const uint64_t bits53 = (uint64_t(a) << 21) ^ uint64_t(b >> 11);
  return (double(bits53 & ((uint64_t(1) << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
}

// Fills n doubles: block j (4 counters' worth) gives values 2j and 2j+1 from (seed, offset + j).
template <typename Fn>
void fill_pairs(uint64_t seed, uint64_t offset, int64_t n, Fn&& emit) {
  const std::array<uint32_t, 2> key = {uint32_t(seed), uint32_t(seed >> 32)};
  const int64_t blocks = (n + 1) / 2;
  constexpr int64_t kChunk = 1 << 14;  // blocks per chunk
  thread_pool::run((blocks + kChunk - 1) / kChunk, [&](int64_t c) {
    for (int64_t j = c * kChunk; j < std::min(blocks, (c + 1) * kChunk); ++j) {
      const uint64_t ctr = offset + uint64_t(j);
      const auto r = philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0x52534331u /*"RSC1"*/, 0}, key);
      emit(2 * j, to_unit(r[0], r[1]), to_unit(r[2], r[3]));
    }
  });
}

Tensor finish(Tensor t64, DType dtype) {
  return dtype == DType::f64 ? t64 : t64.to(dtype);
}

}  // namespace

Tensor Generator::uniform(const Shape& shape, double lo, double hi, DType dtype) {
  RS_CHECK(is_floating(dtype), DTypeError, "uniform", "needs a floating dtype, got ", dtype_name(dtype));
  Tensor t = Tensor::empty(shape, DType::f64);
  double* p = t.data<double>();
  const int64_t n = t.numel();
  fill_pairs(seed_, offset_, n, [&](int64_t i, double u0, double u1) {
    p[i] = lo + (hi - lo) * (1.0 - u0);  // [lo, hi)
    if (i + 1 < n) p[i + 1] = lo + (hi - lo) * (1.0 - u1);
  });
  offset_ += uint64_t((n + 1) / 2);
  return finish(t, dtype);
}

Tensor Generator::normal(const Shape& shape, double mean, double stddev, DType dtype) {
  RS_CHECK(is_floating(dtype), DTypeError, "normal", "needs a floating dtype, got ", dtype_name(dtype));
  Tensor t = Tensor::empty(shape, DType::f64);
  double* p = t.data<double>();
  const int64_t n = t.numel();
  fill_pairs(seed_, offset_, n, [&](int64_t i, double u0, double u1) {
    const double r = std::sqrt(-2.0 * std::log(u0));
    const double th = 2.0 * M_PI * u1;
    p[i] = mean + stddev * r * std::cos(th);
    if (i + 1 < n) p[i + 1] = mean + stddev * r * std::sin(th);
  });
  offset_ += uint64_t((n + 1) / 2);
  return finish(t, dtype);
}

Tensor Generator::randint(const Shape& shape, int64_t n_values, DType dtype) {
  RS_CHECK(n_values > 0, ValueError, "randint", "range must be positive, got ", n_values);
  Tensor t = Tensor::empty(shape, DType::i64);
  int64_t* p = t.data<int64_t>();
  const int64_t n = t.numel();
  fill_pairs(seed_, offset_, n, [&](int64_t i, double u0, double u1) {
    p[i] = std::min<int64_t>(int64_t((1.0 - u0) * double(n_values)), n_values - 1);
    if (i + 1 < n) p[i + 1] = std::min<int64_t>(int64_t((1.0 - u1) * double(n_values)), n_values - 1);
  });
  offset_ += uint64_t((n + 1) / 2);
  return t.to(dtype);
}

}  // namespace rscapret
