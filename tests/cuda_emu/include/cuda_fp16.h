// f16 as the emulated kernels use it (copy.cu's casts, index.cu's f16 embedding): the bits as a
// __half, the exact widening, and the narrowing of f32 with round to nearest even (cvt.rn.f16.f32)
// computed from the value's arithmetic rather than from bit tricks, so that it checks the project's
// own bit-level conversion (tensor/dtype.cpp) rather than restating it: subnormals on the 2^-24
// grid, ties to the even neighbour, 65520 and above to infinity, a NaN to the canonical NaN.
#pragma once

#include <cmath>

#include "cuda_runtime.h"

struct __half {
  uint16_t x;
};
inline __half __ushort_as_half(uint16_t bits) { return {bits}; }
inline uint16_t __half_as_ushort(__half h) { return h.x; }

inline float __half2float(__half h) {
  const float sign = (h.x & 0x8000u) ? -1.f : 1.f;
  const int exp = (h.x >> 10) & 0x1f, mant = h.x & 0x3ff;
  if (exp == 31) return mant == 0 ? sign * INFINITY : __uint_as_float(0x7fc00000u | uint32_t(mant) << 13);  // a NaN
  if (exp == 0) return sign * std::ldexp(float(mant), -24);  // subnormal (or zero): mant * 2^-24
  return sign * std::ldexp(float(1024 + mant), exp - 25);    // (1 + mant / 2^10) * 2^(exp - 15)
}

inline __half __float2half_rn(float f) {
  if (std::isnan(f)) return {uint16_t(0x7fff)};
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const float a = std::fabs(f);
  if (a >= 65520.f) return {uint16_t(sign | 0x7c00)};  // rounds past 65504, the largest finite f16
  if (a < 0x1p-14f) {  // subnormal range: a multiple of 2^-24, rounded (nearbyint: to nearest even)
    return {uint16_t(sign | uint16_t(std::nearbyint(a * 0x1p24f)))};  // 1024 is the smallest normal: right
  }
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e): f16 exponent e - 1, 10 fraction bits
  const int m = int(std::nearbyint(std::ldexp(a, 11 - e)));  // in [1024, 2048]; 2048 carries into the exponent
  return {uint16_t(sign | (((e - 1 + 15) << 10) + (m - 1024)))};
}
