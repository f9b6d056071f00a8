// bf16 as the emulated kernels use it: round to nearest even, NaN kept a NaN.
#pragma once

#include "cuda_runtime.h"

struct __nv_bfloat16 {
  uint16_t x;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  if (std::isnan(f)) return {uint16_t(0x7fff)};
  uint32_t u = __float_as_uint(f);
  u += 0x7fffu + ((u >> 16) & 1u);
  return {uint16_t(u >> 16)};
}
inline uint16_t __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
inline __nv_bfloat16 __ushort_as_bfloat16(uint16_t bits) { return {bits}; }  // the bits as a bf16 (copy.cu)
inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float(uint32_t(h.x) << 16); }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return {__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
