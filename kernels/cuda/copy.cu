// Device copies and casts (Tensor::contiguous, to(dtype), copy_from on the GPU) and fills
// (Tensor::full, zeros).
//
// Conversions mirror the host copy (tensor/tensor_copy.cpp) element for element: a copy between
// two dtypes goes through double, load_as_double then store_from_double (tensor/element.h). So
//   - f64 -> bf16/f16 rounds to f32 first and then to 16 bits (two roundings, as the host does;
//     __double2bfloat16 would round once and differ on rare ties);
//   - i64 -> f32 goes through double, float -> int truncates, x -> bool is x != 0, bool -> 0/1.
// The 16-bit roundings are cuda_bf16.h / cuda_fp16.h's round-to-nearest-even (cvt.rn), equal to
// the host's integer code on every non-NaN value, subnormals included; a NaN stays a NaN, though
// its payload bits may differ from the host's. A same-dtype copy moves the element's bits.
//
// Built into the tensor library (tensor/CMakeLists.txt), so nothing here may come from
// rscapret_kernels (kernels/loop_collapse.h and kernels/cuda/launch.cuh are header-only; the
// launches go through launch.cuh's launch_plain so that the host emulation in tests/cuda_emu runs
// this file), and it compiles without --expt-relaxed-constexpr: the kernels take the loop as plain
// arrays (CopyLoop).
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/loop_collapse.h"
#include "tensor/device_backend.h"
#include "tensor/element.h"
#include "tensor/error.h"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
unsigned blocks_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65535LL * 16)));
}

// The collapsed loop as plain arrays (device code cannot call std::array's host operator[]).
// Operand 0 reads src, operand 1 addresses dst.
struct CopyLoop {
  int ndim;
  int64_t shape[kLoopMaxDims];
  int64_t strides[2][kLoopMaxDims];
};

// Device storage types. 16-bit floats and booleans are carried as their bits; the tags keep the
// overloads apart (uint16_t alone could not say f16 or bf16).
struct F16 { uint16_t bits; };
struct BF16 { uint16_t bits; };
struct Bool { uint8_t byte; };

// load_as_double of tensor/element.h, on the device. Every load is exact.
__device__ __forceinline__ double to_double(float v) { return v; }
__device__ __forceinline__ double to_double(double v) { return v; }
__device__ __forceinline__ double to_double(F16 v) { return __half2float(__ushort_as_half(v.bits)); }
__device__ __forceinline__ double to_double(BF16 v) { return __bfloat162float(__ushort_as_bfloat16(v.bits)); }
__device__ __forceinline__ double to_double(int32_t v) { return v; }
__device__ __forceinline__ double to_double(int64_t v) { return double(v); }  // rounds above 2^53, as the host
__device__ __forceinline__ double to_double(uint8_t v) { return v; }
__device__ __forceinline__ double to_double(int8_t v) { return v; }
__device__ __forceinline__ double to_double(Bool v) { return v.byte != 0 ? 1.0 : 0.0; }

// store_from_double of tensor/element.h, on the device.
template <typename D> __device__ D from_double(double v);
template <> __device__ __forceinline__ float from_double<float>(double v) { return float(v); }
template <> __device__ __forceinline__ double from_double<double>(double v) { return v; }
template <> __device__ __forceinline__ F16 from_double<F16>(double v) {
  return F16{__half_as_ushort(__float2half_rn(float(v)))};  // f32 first, as the host's f32_to_f16(float(v))
}
template <> __device__ __forceinline__ BF16 from_double<BF16>(double v) {
  return BF16{__bfloat16_as_ushort(__float2bfloat16_rn(float(v)))};  // likewise f32_to_bf16(float(v))
}
template <> __device__ __forceinline__ int32_t from_double<int32_t>(double v) { return int32_t(v); }
template <> __device__ __forceinline__ int64_t from_double<int64_t>(double v) { return int64_t(v); }
template <> __device__ __forceinline__ uint8_t from_double<uint8_t>(double v) { return uint8_t(v); }
template <> __device__ __forceinline__ int8_t from_double<int8_t>(double v) { return int8_t(v); }
template <> __device__ __forceinline__ Bool from_double<Bool>(double v) { return Bool{uint8_t(v != 0.0)}; }

// Offsets of linear index i in src (operand 0) and dst (operand 1). I is uint32_t when every index
// and offset fits (see fits_u32), else int64_t. The dims loop is unrolled over kLoopMaxDims so the
// loop's fields sit at constant offsets of the kernel's parameter space (no local-memory copy).
template <typename I>
__device__ __forceinline__ void copy_offsets(const CopyLoop& L, I i, I& src_off, I& dst_off) {
  src_off = 0;
  dst_off = 0;
#pragma unroll
  for (int d = kLoopMaxDims - 1; d >= 0; --d) {
    if (d < L.ndim) {
      const I size = I(L.shape[d]);
      const I q = i / size;
      const I idx = i - q * size;
      i = q;
      src_off += idx * I(L.strides[0][d]);
      dst_off += idx * I(L.strides[1][d]);
    }
  }
}

// dst[dst_off(i)] = convert(src[src_off(i)]) for i in [0, n), grid-stride.
template <typename I, typename S, typename D>
__global__ void strided_copy_kernel(const S* src, D* dst, CopyLoop L, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += step) {
    I so, dof;
    copy_offsets(L, i, so, dof);
    if constexpr (std::is_same_v<S, D>) {
      dst[dof] = src[so];  // same dtype: the bits, as the host
    } else {
      dst[dof] = from_double<D>(to_double(src[so]));
    }
  }
}

// dst[0..n) = value, for a pattern of 1, 2, 4 or 8 bytes.
template <typename T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) dst[i] = value;
}

// The loop of a copy (operand 0 src, operand 1 dst) collapsed (one division per element instead of
// one per dim when both sides are dense), as plain arrays.
CopyLoop collapse2(const BroadcastLoop& in) {
  const BroadcastLoop c = collapse_loop(in, 2);
  CopyLoop out{};
  out.ndim = c.ndim;
  for (int d = 0; d < c.ndim; ++d) {
    out.shape[d] = c.shape[d];
    out.strides[0][d] = c.strides[0][d];
    out.strides[1][d] = c.strides[1][d];
  }
  return out;
}

// Whether n and every offset of operands [0, operands) fit 32-bit unsigned arithmetic without
// wrapping: n, the grid-stride index and each largest offset stay below 2^31.
bool fits_u32(const CopyLoop& L, int operands, int64_t n) {
  if (n > INT32_MAX) return false;
  for (int k = 0; k < operands; ++k) {
    int64_t max_off = 0;
    for (int d = 0; d < L.ndim; ++d) {
      const int64_t s = L.strides[k][d], span = L.shape[d] - 1;
      if (s < 0) return false;
      if (s > 0 && span > (INT32_MAX - max_off) / s) return false;
      max_off += span * s;
    }
  }
  return true;
}

// Calls fn(T{}) with T the device storage type of dtype.
template <typename Fn>
void visit_storage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    case DType::f16: return fn(F16{});
    case DType::bf16: return fn(BF16{});
    case DType::i32: return fn(int32_t{});
    case DType::i64: return fn(int64_t{});
    case DType::u8: return fn(uint8_t{});
    case DType::i8: return fn(int8_t{});
    case DType::boolean: return fn(Bool{});
  }
  throw DTypeError(cat("[cuda strided_copy] unknown dtype ", int(dtype)));
}

}  // namespace

void strided_copy(const void* src, DType src_dtype, void* dst, DType dst_dtype, const BroadcastLoop& loop,
                  int device) {
  const int64_t n = loop.numel();
  if (n == 0) return;
  const cudaStream_t stream = stream_for(device);  // also selects the device
  const CopyLoop L = collapse2(loop);
  // Both sides dense and in the same order: a plain device copy of the bytes.
  const bool dense = L.ndim == 0 || (L.ndim == 1 && L.strides[0][0] == 1 && L.strides[1][0] == 1);
  if (src_dtype == dst_dtype && dense) {
    check_cuda(cudaMemcpyAsync(dst, src, size_t(n) * dtype_size(src_dtype), cudaMemcpyDeviceToDevice, stream),
               "strided_copy memcpy");
    return;
  }
  const bool small = fits_u32(L, 2, n);
  const unsigned blocks = blocks_for(n);
  visit_storage(src_dtype, [&](auto s) {
    visit_storage(dst_dtype, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      const S* sp = static_cast<const S*>(src);
      D* dp = static_cast<D*>(dst);
      if (small)
        launch_plain(strided_copy_kernel<uint32_t, S, D>, dim3(blocks), dim3(kThreads), 0, stream, "strided_copy", sp,
                     dp, L, uint32_t(n));
      else
        launch_plain(strided_copy_kernel<int64_t, S, D>, dim3(blocks), dim3(kThreads), 0, stream, "strided_copy", sp,
                     dp, L, n);
    });
  });
}

void fill(void* dst, DType dtype, int64_t n, double value, int device) {
  if (n <= 0) return;
  const cudaStream_t stream = stream_for(device);
  // The element's bits, converted on the host exactly as Tensor::full does on the CPU.
  const size_t size = dtype_size(dtype);
  unsigned char bytes[8] = {};
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    static_assert(sizeof(T) <= 8);
    T v;
    store_from_double(&v, value);
    std::memcpy(bytes, &v, sizeof(T));
  });
  // A pattern of one repeated byte (0, or any 1-byte dtype) is a memset.
  bool one_byte = true;
  for (size_t b = 1; b < size; ++b) one_byte = one_byte && bytes[b] == bytes[0];
  if (one_byte) {
    check_cuda(cudaMemsetAsync(dst, bytes[0], size_t(n) * size, stream), "fill memset");
    return;
  }
  const unsigned blocks = blocks_for(n);
  switch (size) {
    case 2: {
      uint16_t v;
      std::memcpy(&v, bytes, 2);
      launch_plain(fill_kernel<uint16_t>, dim3(blocks), dim3(kThreads), 0, stream, "fill", static_cast<uint16_t*>(dst),
                   n, v);
      break;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, bytes, 4);
      launch_plain(fill_kernel<uint32_t>, dim3(blocks), dim3(kThreads), 0, stream, "fill", static_cast<uint32_t*>(dst),
                   n, v);
      break;
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, bytes, 8);
      launch_plain(fill_kernel<uint64_t>, dim3(blocks), dim3(kThreads), 0, stream, "fill", static_cast<uint64_t*>(dst),
                   n, v);
      break;
    }
    default: throw DTypeError(cat("[cuda fill] unexpected element size ", size));
  }
}

}  // namespace rscapret::kernels::cuda
