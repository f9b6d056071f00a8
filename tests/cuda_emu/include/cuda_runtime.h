// The CUDA language as the host emulator (../simt.h) runs it: the keywords compile away, the
// built-in indices are the emulator's, and the intrinsics our kernels use act on one emulated
// thread (shuffles park it until its warp has arrived). Only what the emulated kernels need.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../simt.h"

#define __device__
#define __global__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Blocks run one after the other, so a function-local static is one block's shared array.
#define __shared__ static

typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
typedef struct CUstream_st* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <class F>
inline cudaError_t cudaFuncSetAttribute(F*, cudaFuncAttribute, int) {
  return cudaSuccess;
}
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

struct alignas(16) uint4 {
  uint32_t x, y, z, w;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(8) uint2 {
  uint32_t x, y;
};
inline uint2 make_uint2(uint32_t x, uint32_t y) { return {x, y}; }
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return {x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t __float_as_uint(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Double arithmetic rounded once per operation, never fused (the test target builds with
// -ffp-contract=off, so these stay separate operations).
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
using std::fmaxf;
using std::fminf;
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

// Global loads through the read-only or L2-only paths: checked against the registered buffers.
template <class T>
inline T __ldg(const T* p) {
  simt::check_global(p, sizeof(T), "__ldg");
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  simt::check_global(p, sizeof(T), "__ldcg");
  return *p;
}

inline void __syncthreads() { simt::arrive(simt::Op::sync); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if (mask != 0xffffffffu) simt::fail("__syncwarp with mask %x: only full warps are emulated", mask);
  simt::arrive(simt::Op::warp_sync);
}

template <class T>
inline T simt_shuffle(unsigned mask, T v, int src_lane, int width) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  if (mask != 0xffffffffu || width != 32)
    simt::fail("shuffle with mask %x width %d: only full warps are emulated", mask, width);
  std::memcpy(&simt::me().v_in, &v, 4);
  simt::me().src_lane = src_lane;
  simt::arrive(simt::Op::shfl);
  T r;
  std::memcpy(&r, &simt::me().v_out, 4);
  return r;
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return simt_shuffle(mask, v, int(threadIdx.x & 31) ^ lane_mask, width);
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return simt_shuffle(mask, v, src_lane & 31, width);
}
