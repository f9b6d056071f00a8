// What the emulated kernel tests share: bf16 conversions as the kernels round, seeded inputs, and
// the buffers one emulated call may touch.
#pragma once

#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <utility>
#include <vector>

namespace emu_test {

inline uint16_t to_bf16(float f) { return __float2bfloat16_rn(f).x; }
inline float from_bf16(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
inline uint32_t bits(float f) { return __float_as_uint(f); }

// A NaN payload no kernel computes: a slot past an output's end must keep these bits.
inline const float kSentinel = __uint_as_float(0x7fc0beefu);

// got is want where want is NaN or infinite (the special cases a kernel follows exactly), else
// within tol of it.
inline void expect_like(float got, double want, double tol, const char* what, size_t i) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << " " << i << ": " << got << ", want NaN";
  } else if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what << " " << i;
  } else {
    EXPECT_NEAR(got, want, tol) << what << " " << i;
  }
}

// n values drawn from N(mean, 1) with a fixed seed.
inline std::vector<float> normal(size_t n, unsigned seed, float mean = 0.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, 1.f);
  std::vector<float> x(n);
  for (float& e : x) e = d(g);
  return x;
}

// Registers (pointer, bytes) buffers for the emulated calls of its scope; clears them after.
struct Registered {
  Registered(std::initializer_list<std::pair<const void*, size_t>> bufs) {
    for (const auto& [p, n] : bufs) simt::register_buffer(p, n);
  }
  ~Registered() { simt::clear_buffers(); }
  Registered(const Registered&) = delete;
  Registered& operator=(const Registered&) = delete;
};

// n elements between guards of `fill`, the first at a 16-byte boundary plus `shift` elements
// (shift 1 gives a pointer the vector paths must refuse). The guards catch writes past either end
// (and reads: a test chooses a fill that changes a result when read); whole() is the buffer to
// register, guards included.
template <class T>
struct Guarded {
  std::vector<T> mem;
  size_t first = 16, n;
  T fill;
  Guarded(size_t n_, T fill_, size_t shift = 0) : mem(n_ + 64, fill_), n(n_), fill(fill_) {
    while (reinterpret_cast<uintptr_t>(&mem[first]) % 16) ++first;
    first += shift;
  }
  // The elements of x between guards of T{}.
  explicit Guarded(const std::vector<T>& x) : Guarded(x.size(), T{}) { std::copy(x.begin(), x.end(), data()); }
  T* data() { return mem.data() + first; }
  std::pair<const void*, size_t> whole() const { return {mem.data(), mem.size() * sizeof(T)}; }
  std::vector<T> payload() const { return {mem.begin() + long(first), mem.begin() + long(first + n)}; }
  // Whether every guard element still has the bits it started with.
  bool guards_intact() const {
    for (size_t i = 0; i < mem.size(); ++i)
      if ((i < first || i >= first + n) && std::memcmp(&mem[i], &fill, sizeof(T)) != 0) return false;
    return true;
  }
};

}  // namespace emu_test
