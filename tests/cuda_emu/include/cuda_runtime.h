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
// A kernel parameter read in place from parameter memory: an ordinary by-value parameter here.
#define __grid_constant__
// Blocks run one after the other, so a function-local static is one block's shared array.
#define __shared__ static
// Alignment of a (static, here) shared array: the wgmma kernel's mbarriers.
#define __align__(n) __attribute__((aligned(n)))

typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
typedef struct CUstream_st* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <class F>
inline cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute, int bytes) {
  const void* k = reinterpret_cast<const void*>(kernel);
  for (auto& [known, allowed] : simt::state().smem_opt_in)
    if (known == k) return allowed = size_t(bytes), cudaSuccess;
  simt::state().smem_opt_in.emplace_back(k, size_t(bytes));
  return cudaSuccess;
}
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
// Stream-ordered copies and fills (copy.cu's dense copy and memset fill): launches run in order, so
// they happen at once; both ranges must lie in the registered buffers, as a kernel's accesses.
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                                   cudaStream_t = nullptr) {
  if (kind != cudaMemcpyDeviceToDevice) simt::fail("cudaMemcpyAsync of kind %d: only device to device", int(kind));
  simt::check_global(src, bytes, "cudaMemcpyAsync source");
  simt::check_global(dst, bytes, "cudaMemcpyAsync destination");
  simt::check_disjoint(dst, src, bytes, "cudaMemcpyAsync");
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t = nullptr) {
  simt::check_global(dst, bytes, "cudaMemsetAsync");
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

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
// The f32 ones (unfused for the same reason): adamw.cu and cross_entropy.cu spell their arithmetic with them.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
using std::fmaxf;
using std::fminf;
// The device math library's classification functions, unqualified as in device code (reduce.cu).
using std::isinf;
using std::isnan;
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
// 64-bit shuffles are two 32-bit ones, as the hardware does them (reduce.cu's argmax moves an int64_t index).
inline int64_t __shfl_xor_sync(unsigned mask, int64_t v, int lane_mask, int width = 32) {
  const uint32_t lo = __shfl_xor_sync(mask, uint32_t(v), lane_mask, width);
  const uint32_t hi = __shfl_xor_sync(mask, uint32_t(uint64_t(v) >> 32), lane_mask, width);
  return int64_t(uint64_t(hi) << 32 | lo);
}
inline int64_t __shfl_sync(unsigned mask, int64_t v, int src_lane, int width = 32) {
  const uint32_t lo = __shfl_sync(mask, uint32_t(v), src_lane, width);
  const uint32_t hi = __shfl_sync(mask, uint32_t(uint64_t(v) >> 32), src_lane, width);
  return int64_t(uint64_t(hi) << 32 | lo);
}
// __ballot_sync: a warp collective of the emulator (every lane gets the mask of set predicates).
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  if (mask != 0xffffffffu) simt::fail("__ballot_sync with mask %x: only full warps are emulated", mask);
  simt::me().v_in = predicate != 0;
  simt::arrive(simt::Op::ballot);
  return simt::me().v_out;
}
// __ffs: 1 + the index of the lowest set bit, 0 for none (index.cu walks a ballot's bits with it).
inline int __ffs(int x) { return x == 0 ? 0 : 1 + __builtin_ctz(unsigned(x)); }
// The host calls of the wgmma GEMM's launcher (gemm_bf16_wgmma.cuh): one device, reported as
// compute capability 9.0 so that the launcher takes its Hopper path; device memory is host memory,
// registered as global memory the emulated kernels may touch while it is allocated.
struct cudaDeviceProp {
  int major = 9, minor = 0;
  int multiProcessorCount = 132;
};
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) simt::fail("cudaGetDeviceProperties of device %d: one device is emulated", device);
  *prop = cudaDeviceProp{};
  return cudaSuccess;
}
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  void* q = std::malloc(bytes ? bytes : 1);
  simt::register_buffer(q, bytes);
  *p = static_cast<T*>(q);
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  if (p) simt::unregister_buffer(p);
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice)
    simt::check_global(src, bytes, "cudaMemcpy source");
  if (kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice)
    simt::check_global(dst, bytes, "cudaMemcpy destination");
  simt::check_disjoint(dst, src, bytes, "cudaMemcpy");
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
