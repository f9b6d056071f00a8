// What the emulated kernel tests share: bf16 conversions as the kernels round, seeded inputs, and
// the buffers one emulated call may touch.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <utility>
#include <vector>

namespace emu_test {

inline uint16_t to_bf16(float f) { return __float2bfloat16_rn(f).x; }
inline float from_bf16(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
inline uint32_t bits(float f) { return __float_as_uint(f); }

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

}  // namespace emu_test
