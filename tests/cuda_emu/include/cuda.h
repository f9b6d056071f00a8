// The driver API as the host emulator (../simt.h) needs it for the wgmma GEMM: the tensor-map types,
// and cuTensorMapEncodeTiled, reached as the kernel's launcher reaches it (through
// cudaGetDriverEntryPointByVersion, declared here because what it hands out is a driver function).
// The emulated encoder validates its arguments as the driver documents them and stores them in the
// opaque 128-byte CUtensorMap; the emulated TMA copy (kernels/cuda/wgmma_ptx.cuh here) reads them
// back. Only 2-D, bf16, non-interleaved, 128-byte-swizzled maps are modelled: anything else is
// refused as an invalid value, so an unmodelled map never runs.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda_runtime.h"

typedef int CUresult;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_INVALID_VALUE = 1;
typedef uint32_t cuuint32_t;
typedef uint64_t cuuint64_t;

enum CUtensorMapDataType { CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9 };
enum CUtensorMapInterleave { CU_TENSOR_MAP_INTERLEAVE_NONE = 0 };
enum CUtensorMapSwizzle {
  CU_TENSOR_MAP_SWIZZLE_NONE = 0,
  CU_TENSOR_MAP_SWIZZLE_32B,
  CU_TENSOR_MAP_SWIZZLE_64B,
  CU_TENSOR_MAP_SWIZZLE_128B
};
enum CUtensorMapL2promotion {
  CU_TENSOR_MAP_L2_PROMOTION_NONE = 0,
  CU_TENSOR_MAP_L2_PROMOTION_L2_64B,
  CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
  CU_TENSOR_MAP_L2_PROMOTION_L2_256B
};
enum CUtensorMapFloatOOBfill {
  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0,
  CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA
};

// Opaque to the program, as the driver's: 128 bytes, 64-byte aligned.
struct alignas(64) CUtensorMap {
  unsigned long long opaque[16];
};

namespace simt {

// What the emulated encoder keeps in a CUtensorMap (the magic tells a map it wrote from garbage).
struct TensorMap2D {
  uint32_t magic;
  uint32_t box[2];     // elements: innermost, rows
  const char* base;    // global address
  uint64_t dims[2];    // elements: innermost, rows
  uint64_t row_bytes;  // the stride of the outer dimension
};
static_assert(sizeof(TensorMap2D) <= sizeof(CUtensorMap), "fits the opaque map");
constexpr uint32_t kTensorMapMagic = 0x7e5a2d00u;

inline const TensorMap2D& tensor_map(const CUtensorMap* map) {
  static thread_local TensorMap2D t;
  std::memcpy(&t, map, sizeof t);
  if (t.magic != kTensorMapMagic) fail("a tensor map the emulated cuTensorMapEncodeTiled did not encode");
  return t;
}

// The driver's rules for a tiled map (the subset the GEMM uses: anything else is refused).
inline CUresult encode_tiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* base,
                             const cuuint64_t* dims, const cuuint64_t* strides, const cuuint32_t* box,
                             const cuuint32_t* elem_strides, CUtensorMapInterleave interleave,
                             CUtensorMapSwizzle swizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill oob) {
  if (reinterpret_cast<uintptr_t>(map) % 64) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 || rank != 2) return CUDA_ERROR_INVALID_VALUE;
  if (interleave != CU_TENSOR_MAP_INTERLEAVE_NONE || swizzle != CU_TENSOR_MAP_SWIZZLE_128B)
    return CUDA_ERROR_INVALID_VALUE;
  if (oob != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) return CUDA_ERROR_INVALID_VALUE;
  if (reinterpret_cast<uintptr_t>(base) % 16) return CUDA_ERROR_INVALID_VALUE;  // global address: 16 bytes
  for (int i = 0; i < 2; ++i) {
    if (dims[i] == 0 || dims[i] > (uint64_t(1) << 32)) return CUDA_ERROR_INVALID_VALUE;
    if (box[i] == 0 || box[i] > 256 || elem_strides[i] != 1) return CUDA_ERROR_INVALID_VALUE;
  }
  // The outer stride: a multiple of 16 bytes below 2^40; the inner box: a multiple of 16 bytes, and
  // with the 128-byte swizzle at most 128 bytes (the emulated copy models exactly 128).
  if (strides[0] % 16 || strides[0] >= (uint64_t(1) << 40)) return CUDA_ERROR_INVALID_VALUE;
  if (box[0] * 2 != 128) return CUDA_ERROR_INVALID_VALUE;
  TensorMap2D t{kTensorMapMagic, {box[0], box[1]}, static_cast<const char*>(base), {dims[0], dims[1]}, strides[0]};
  std::memset(map, 0, sizeof *map);
  std::memcpy(map, &t, sizeof t);
  return CUDA_SUCCESS;
}

}  // namespace simt

enum cudaDriverEntryPointQueryResult { cudaDriverEntryPointSuccess = 0, cudaDriverEntryPointSymbolNotFound };
enum { cudaEnableDefault = 0 };
inline cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned int, unsigned long long,
                                                    cudaDriverEntryPointQueryResult* status) {
  if (std::strcmp(symbol, "cuTensorMapEncodeTiled") != 0) {
    *fn = nullptr;
    if (status) *status = cudaDriverEntryPointSymbolNotFound;
    return cudaSuccess;
  }
  *fn = reinterpret_cast<void*>(&simt::encode_tiled);
  if (status) *status = cudaDriverEntryPointSuccess;
  return cudaSuccess;
}
