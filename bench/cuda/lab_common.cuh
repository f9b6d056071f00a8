// What the kernel labs share: a checked CUDA call that ends the lab, and deterministic inputs
// (value(seed, i) computed identically on the device and the host, so a CPU reference needs no
// copy of the inputs).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define LAB_CHECK(call)                                                                          \
  do {                                                                                           \
    const cudaError_t err_ = (call);                                                             \
    if (err_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(err_), __FILE__,   \
                   __LINE__, #call);                                                             \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

namespace lab {

__host__ __device__ inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// bf16 bits of a uniform value in [-scale, scale) (24 random bits before rounding, so never
// zero-heavy), rounded to nearest even.
__host__ __device__ inline uint16_t uniform_bf16_bits(uint64_t seed, uint64_t i, float scale) {
  const uint64_t h = splitmix64(seed * 0x100000001b3ull + i);
  const float u = (float(h >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
#ifdef __CUDA_ARCH__
  uint32_t b = __float_as_uint(u);
#else
  uint32_t b;
  std::memcpy(&b, &u, 4);
#endif
  b += 0x7fffu + ((b >> 16) & 1u);  // u is finite
  return uint16_t(b >> 16);
}

__host__ __device__ inline float bf16_value(uint16_t bits) {
  const uint32_t u = uint32_t(bits) << 16;
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

}  // namespace lab
