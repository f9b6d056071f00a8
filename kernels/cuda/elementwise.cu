// Elementwise CUDA kernels: unary functions, broadcast arithmetic, comparisons and where.
//
// The formulas are kernels::ref's (kernels/cpu/ref/elementwise_ref.cpp) written out in f32, term
// for term in the same order, with the accurate expf/logf/erff/tanhf/powf and IEEE division and
// sqrt (no fast-math intrinsics, no rsqrtf): results agree with the CPU reference to a few ulp
// (what remains is the library functions' last bits and FMA contraction).
//
// Broadcast loops are first collapsed (kernels::collapse_loop: size-1 dims dropped, contiguous
// runs merged). Then
//   - every operand contiguous with the output (one dim of stride 1): a flat loop, read and
//     written as float4 where the pointers are 16-byte aligned (binary arithmetic and unary);
//   - otherwise each thread turns its output index into per-operand offsets, in 32-bit arithmetic
//     when every index and offset fits (a 64-bit division costs several times a 32-bit one), else
//     in 64-bit.
// Every kernel is a grid-stride loop; x and y may be the same buffer (no __restrict__).
#include <climits>
#include <cmath>

#include "kernels/cpu/loop.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kThreads = 256;

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// ---- the functions, as kernels::ref::unary_scalar / binary_scalar / compare at T = float ----

constexpr float kSqrt1_2 = 0.70710678118654752440f;     // T(M_SQRT1_2)
constexpr float kSqrt2OverPi = 0.7978845608028654f;      // sqrt(2/pi)
constexpr float kInvSqrt2Pi = 0.3989422804014327f;       // 1/sqrt(2 pi)
constexpr float kGeluTanhK = 0.044715f;
constexpr float kQuickGelu = 1.702f;

template <UnaryOp op>
__device__ __forceinline__ float unary_fn(float x, float p) {
  if constexpr (op == UnaryOp::neg) {
    return -x;
  } else if constexpr (op == UnaryOp::exp) {
    return expf(x);
  } else if constexpr (op == UnaryOp::log) {
    return logf(x);
  } else if constexpr (op == UnaryOp::sqrt) {
    return sqrtf(x);
  } else if constexpr (op == UnaryOp::rsqrt) {
    return 1.0f / sqrtf(x);  // not rsqrtf (an approximation)
  } else if constexpr (op == UnaryOp::tanh) {
    return tanhf(x);
  } else if constexpr (op == UnaryOp::sigmoid) {
    return 1.0f / (1.0f + expf(-x));
  } else if constexpr (op == UnaryOp::gelu_erf) {
    return 0.5f * x * (1.0f + erff(x * kSqrt1_2));
  } else if constexpr (op == UnaryOp::gelu_tanh) {
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kGeluTanhK * x * x * x)));
  } else if constexpr (op == UnaryOp::quick_gelu) {
    return x / (1.0f + expf(-kQuickGelu * x));
  } else if constexpr (op == UnaryOp::silu) {
    return x / (1.0f + expf(-x));
  } else if constexpr (op == UnaryOp::pow_scalar) {
    return powf(x, p);
  } else if constexpr (op == UnaryOp::gelu_erf_grad) {
    return 0.5f * (1.0f + erff(x * kSqrt1_2)) + x * expf(-0.5f * x * x) * kInvSqrt2Pi;
  } else if constexpr (op == UnaryOp::gelu_tanh_grad) {
    const float t = tanhf(kSqrt2OverPi * (x + kGeluTanhK * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluTanhK * x * x);
  } else if constexpr (op == UnaryOp::quick_gelu_grad) {
    const float s = 1.0f / (1.0f + expf(-kQuickGelu * x));
    return s + kQuickGelu * x * s * (1.0f - s);
  } else {
    static_assert(op == UnaryOp::silu_grad);
    const float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
  }
}

template <BinaryOp op>
__device__ __forceinline__ float binary_fn(float a, float b) {
  if constexpr (op == BinaryOp::add) {
    return a + b;
  } else if constexpr (op == BinaryOp::sub) {
    return a - b;
  } else if constexpr (op == BinaryOp::mul) {
    return a * b;
  } else {
    static_assert(op == BinaryOp::div);
    return a / b;  // IEEE division (nvcc's default -prec-div=true)
  }
}

// NaN compares unequal to everything (ne true, the rest false), as on the CPU.
template <CompareOp op, typename T>
__device__ __forceinline__ bool compare_fn(T a, T b) {
  if constexpr (op == CompareOp::eq) {
    return a == b;
  } else if constexpr (op == CompareOp::ne) {
    return a != b;
  } else if constexpr (op == CompareOp::lt) {
    return a < b;
  } else if constexpr (op == CompareOp::le) {
    return a <= b;
  } else if constexpr (op == CompareOp::gt) {
    return a > b;
  } else {
    static_assert(op == CompareOp::ge);
    return a >= b;
  }
}

// ---- unary: flat, float4 when aligned ----

template <UnaryOp op>
__device__ __forceinline__ float4 unary4(float4 v, float p) {
  return make_float4(unary_fn<op>(v.x, p), unary_fn<op>(v.y, p), unary_fn<op>(v.z, p), unary_fn<op>(v.w, p));
}

// y[0..n) = f(x). vec4: x and y are 16-byte aligned; the first n/4*4 elements go as float4 and
// the last n%4 one by one.
template <UnaryOp op>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float p, bool vec4) {
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec4) {
    const int64_t n4 = n / 4;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float4* y4 = reinterpret_cast<float4*>(y);
    for (int64_t i = first; i < n4; i += step) y4[i] = unary4<op>(x4[i], p);
    done = n4 * 4;
  }
  for (int64_t i = done + first; i < n; i += step) y[i] = unary_fn<op>(x[i], p);
}

template <UnaryOp op>
void launch_unary(const float* x, float* y, int64_t n, float p, cudaStream_t stream) {
  const bool vec4 = aligned16(x) && aligned16(y);
  launch_plain(unary_kernel<op>, dim3(grid_for(vec4 ? n / 4 + 1 : n, kThreads)), dim3(kThreads), 0, stream, "unary", x,
               y, n, p, vec4);
}

// ---- broadcast loops ----

// The collapsed loop as plain arrays for K operands (device code cannot call std::array's host
// operator[] without --expt-relaxed-constexpr, and K < 3 keeps the parameter small).
template <int K>
struct DeviceLoop {
  int ndim;
  int64_t shape[kLoopMaxDims];
  int64_t strides[K][kLoopMaxDims];
};

template <int K>
DeviceLoop<K> device_loop(const BroadcastLoop& c) {
  DeviceLoop<K> L{};
  L.ndim = c.ndim;
  for (int d = 0; d < c.ndim; ++d) {
    L.shape[d] = c.shape[d];
    for (int k = 0; k < K; ++k) L.strides[k][d] = c.strides[k][d];
  }
  return L;
}

// Whether n and every operand offset stay below 2^31, so uint32_t arithmetic never wraps (the
// grid-stride index stays below 2^31 + 2^31 too). Negative strides take the 64-bit path.
template <int K>
bool fits_u32(const DeviceLoop<K>& L, int64_t n) {
  if (n > INT32_MAX) return false;
  for (int k = 0; k < K; ++k) {
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

// Offsets of output index i in each operand. The dims loop is unrolled over kLoopMaxDims so every
// field is read at a constant offset of the kernel's parameter space (no local-memory copy).
template <int K, typename I>
__device__ __forceinline__ void operand_offsets(const DeviceLoop<K>& L, I i, I (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
#pragma unroll
  for (int d = kLoopMaxDims - 1; d >= 0; --d) {
    if (d < L.ndim) {
      const I size = I(L.shape[d]);
      const I q = i / size;
      const I idx = i - q * size;
      i = q;
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] += idx * I(L.strides[k][d]);
    }
  }
}

// Loop bodies: out[i] from the operands read at their offsets.
template <BinaryOp op>
struct BinaryBody {
  const float* a;
  const float* b;
  float* out;
  template <typename I>
  __device__ void operator()(I i, const I (&off)[2]) const { out[i] = binary_fn<op>(a[off[0]], b[off[1]]); }
};

template <CompareOp op, typename T>
struct CompareBody {
  const T* a;
  const T* b;
  bool* out;
  template <typename I>
  __device__ void operator()(I i, const I (&off)[2]) const { out[i] = compare_fn<op>(a[off[0]], b[off[1]]); }
};

struct WhereBody {
  const uint8_t* cond;  // bool bytes, read as != 0
  const float* a;
  const float* b;
  float* out;
  template <typename I>
  __device__ void operator()(I i, const I (&off)[3]) const { out[i] = cond[off[0]] != 0 ? a[off[1]] : b[off[2]]; }
};

// Every operand contiguous with the output: all offsets are i.
template <int K, typename Body>
__global__ void flat_kernel(Body body, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[K];
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = i;
    body(i, off);
  }
}

template <int K, typename I, typename Body>
__global__ void broadcast_kernel(Body body, DeviceLoop<K> L, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += step) {
    I off[K];
    operand_offsets<K>(L, i, off);
    body(i, off);
  }
}

// Contiguous same-shape arithmetic as float4 (all three pointers 16-byte aligned), then the tail.
template <BinaryOp op>
__global__ void binary_vec4_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t n4 = n / 4;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* o4 = reinterpret_cast<float4*>(out);
  for (int64_t i = first; i < n4; i += step) {
    const float4 x = a4[i], y = b4[i];
    o4[i] = make_float4(binary_fn<op>(x.x, y.x), binary_fn<op>(x.y, y.y), binary_fn<op>(x.z, y.z),
                        binary_fn<op>(x.w, y.w));
  }
  for (int64_t i = n4 * 4 + first; i < n; i += step) out[i] = binary_fn<op>(a[i], b[i]);
}

// Runs body over the loop on the device's stream: flat, 32-bit or 64-bit offsets.
template <int K, typename Body>
void launch_loop(const Body& body, const BroadcastLoop& loop, cudaStream_t stream, const char* what) {
  const int64_t n = loop.numel();
  if (n == 0) return;
  const BroadcastLoop c = collapse_loop(loop, K);
  bool flat = c.ndim <= 1;
  for (int k = 0; k < K && c.ndim == 1; ++k) flat = flat && c.strides[k][0] == 1;
  const unsigned blocks = grid_for(n, kThreads);
  if (flat) {
    launch_plain(flat_kernel<K, Body>, dim3(blocks), dim3(kThreads), 0, stream, what, body, n);
  } else {
    const DeviceLoop<K> L = device_loop<K>(c);
    if (fits_u32(L, n))
      launch_plain(broadcast_kernel<K, uint32_t, Body>, dim3(blocks), dim3(kThreads), 0, stream, what, body, L,
                   uint32_t(n));
    else
      launch_plain(broadcast_kernel<K, int64_t, Body>, dim3(blocks), dim3(kThreads), 0, stream, what, body, L, n);
  }
}

// True when the loop is every operand contiguous with the output (the float4 path's condition).
bool all_flat(const BroadcastLoop& loop, int operands) {
  const BroadcastLoop c = collapse_loop(loop, operands);
  if (c.ndim == 0) return true;
  if (c.ndim > 1) return false;
  for (int k = 0; k < operands; ++k)
    if (c.strides[k][0] != 1) return false;
  return true;
}

template <BinaryOp op>
void launch_binary(const float* a, const float* b, float* out, const BroadcastLoop& loop, cudaStream_t stream) {
  const int64_t n = loop.numel();
  if (n == 0) return;
  if (all_flat(loop, 2) && aligned16(a) && aligned16(b) && aligned16(out)) {
    launch_plain(binary_vec4_kernel<op>, dim3(grid_for(n / 4 + 1, kThreads)), dim3(kThreads), 0, stream, "binary", a,
                 b, out, n);
    return;
  }
  launch_loop<2>(BinaryBody<op>{a, b, out}, loop, stream, "binary");
}

template <typename T>
void launch_compare(CompareOp op, const T* a, const T* b, bool* out, const BroadcastLoop& loop,
                    cudaStream_t stream) {
  switch (op) {
    case CompareOp::eq: return launch_loop<2>(CompareBody<CompareOp::eq, T>{a, b, out}, loop, stream, "compare");
    case CompareOp::ne: return launch_loop<2>(CompareBody<CompareOp::ne, T>{a, b, out}, loop, stream, "compare");
    case CompareOp::lt: return launch_loop<2>(CompareBody<CompareOp::lt, T>{a, b, out}, loop, stream, "compare");
    case CompareOp::le: return launch_loop<2>(CompareBody<CompareOp::le, T>{a, b, out}, loop, stream, "compare");
    case CompareOp::gt: return launch_loop<2>(CompareBody<CompareOp::gt, T>{a, b, out}, loop, stream, "compare");
    case CompareOp::ge: return launch_loop<2>(CompareBody<CompareOp::ge, T>{a, b, out}, loop, stream, "compare");
  }
  throw DeviceError(cat("[cuda compare] unknown op ", int(op)));
}

}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t n, float param, int device) {
  if (n <= 0) return;
  const cudaStream_t s = stream_for(device);
  switch (op) {
    case UnaryOp::neg: launch_unary<UnaryOp::neg>(x, y, n, param, s); break;
    case UnaryOp::exp: launch_unary<UnaryOp::exp>(x, y, n, param, s); break;
    case UnaryOp::log: launch_unary<UnaryOp::log>(x, y, n, param, s); break;
    case UnaryOp::sqrt: launch_unary<UnaryOp::sqrt>(x, y, n, param, s); break;
    case UnaryOp::rsqrt: launch_unary<UnaryOp::rsqrt>(x, y, n, param, s); break;
    case UnaryOp::tanh: launch_unary<UnaryOp::tanh>(x, y, n, param, s); break;
    case UnaryOp::sigmoid: launch_unary<UnaryOp::sigmoid>(x, y, n, param, s); break;
    case UnaryOp::gelu_erf: launch_unary<UnaryOp::gelu_erf>(x, y, n, param, s); break;
    case UnaryOp::gelu_tanh: launch_unary<UnaryOp::gelu_tanh>(x, y, n, param, s); break;
    case UnaryOp::quick_gelu: launch_unary<UnaryOp::quick_gelu>(x, y, n, param, s); break;
    case UnaryOp::silu: launch_unary<UnaryOp::silu>(x, y, n, param, s); break;
    case UnaryOp::pow_scalar: launch_unary<UnaryOp::pow_scalar>(x, y, n, param, s); break;
    case UnaryOp::gelu_erf_grad: launch_unary<UnaryOp::gelu_erf_grad>(x, y, n, param, s); break;
    case UnaryOp::gelu_tanh_grad: launch_unary<UnaryOp::gelu_tanh_grad>(x, y, n, param, s); break;
    case UnaryOp::quick_gelu_grad: launch_unary<UnaryOp::quick_gelu_grad>(x, y, n, param, s); break;
    case UnaryOp::silu_grad: launch_unary<UnaryOp::silu_grad>(x, y, n, param, s); break;
    default: throw DeviceError(cat("[cuda unary] unknown op ", int(op)));
  }
}

void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLoop& loop, int device) {
  const cudaStream_t s = stream_for(device);
  switch (op) {
    case BinaryOp::add: return launch_binary<BinaryOp::add>(a, b, out, loop, s);
    case BinaryOp::sub: return launch_binary<BinaryOp::sub>(a, b, out, loop, s);
    case BinaryOp::mul: return launch_binary<BinaryOp::mul>(a, b, out, loop, s);
    case BinaryOp::div: return launch_binary<BinaryOp::div>(a, b, out, loop, s);
  }
  throw DeviceError(cat("[cuda binary] unknown op ", int(op)));
}

void compare(CompareOp op, const float* a, const float* b, bool* out, const BroadcastLoop& loop, int device) {
  launch_compare<float>(op, a, b, out, loop, stream_for(device));
}

void compare_i64(CompareOp op, const int64_t* a, const int64_t* b, bool* out, const BroadcastLoop& loop,
                 int device) {
  launch_compare<int64_t>(op, a, b, out, loop, stream_for(device));
}

void where(const bool* cond, const float* a, const float* b, float* out, const BroadcastLoop& loop, int device) {
  launch_loop<3>(WhereBody{reinterpret_cast<const uint8_t*>(cond), a, b, out}, loop, stream_for(device), "where");
}

}  // namespace rscapret::kernels::cuda
