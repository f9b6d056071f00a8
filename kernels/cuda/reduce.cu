// Row reductions over the last axis of [rows, n] (sum, mean, max, logsumexp, argmax, softmax) and
// the deterministic sum of a whole buffer.
//
// A row belongs to one warp when n <= kWarpRowMax (no shared memory, no block barrier), else to a
// whole block. Each thread folds a strided share of the row in index order, then the group folds
// the threads' values in a fixed tree (warp butterfly, then warps in order), so every run gives
// the same bits. Sums accumulate in f32 (the reference uses double: a few ulp of the partial sums
// apart).
//
// Edge cases follow kernels::ref (reduce_ref.cpp) exactly:
//   - max propagates NaN; over n = 0 it is -inf;
//   - logsumexp and softmax take the row maximum ignoring NaN (std::max(m, x) keeps m when x is
//     NaN, and so does fmaxf); logsumexp returns that maximum when it is infinite (-inf for n = 0,
//     an all -inf or all NaN row; +inf when any element is +inf), else m + log(sum exp(x - m)),
//     which is NaN if any element is; softmax of an all -inf row or of a row holding +inf is NaN;
//   - sum over n = 0 is 0, mean is 0/0 = NaN;
//   - argmax is the first index of the largest non-NaN value, except that a NaN at index 0 (or an
//     all-NaN row) gives 0: the reference only moves its best index to a strictly greater value,
//     and nothing compares greater than NaN. n = 0 gives 0.
#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"
#include "tensor/device_backend.h"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kThreads = 256;             // every kernel of this file; a multiple of 32
constexpr int kWarps = kThreads / 32;
constexpr int64_t kWarpRowMax = 1024;     // up to this length a warp owns a row (<= 32 elements a lane)
constexpr int64_t kMaxGrid = 65535LL * 16;  // rows beyond the grid are covered by the row loop
// sum_all: at most this many block partials (a fixed partition of [0, n) that depends on n only).
constexpr int64_t kSumAllBlocks = 1024;
constexpr int64_t kSumAllPerThread = 16;   // below this many elements a thread, fewer blocks

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- combines (each associative and commutative in value; ties of +-0 or NaN payloads aside) ----

struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};
// The reference's max: NaN wins, otherwise the larger.
struct MaxNan {
  __device__ float operator()(float a, float b) const { return (b > a || isnan(b)) ? b : a; }
};
// std::max as the reference's logsumexp/softmax use it: NaN is skipped (fmaxf returns the other).
struct MaxSkipNan {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// A candidate for argmax: the value and its index; idx < 0 means none yet (empty or all NaN).
struct ArgMax {
  float v;
  int64_t idx;
};
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  if (a.idx < 0) return b;
  if (b.idx < 0) return a;
  return (b.v > a.v || (b.v == a.v && b.idx < a.idx)) ? b : a;  // larger value, then smaller index
}

__device__ __forceinline__ float shfl_xor(float v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
__device__ __forceinline__ ArgMax shfl_xor(ArgMax v, int o) {
  return ArgMax{__shfl_xor_sync(0xffffffffu, v.v, o), __shfl_xor_sync(0xffffffffu, v.idx, o)};
}
__device__ __forceinline__ float shfl_lane0(float v) { return __shfl_sync(0xffffffffu, v, 0); }
__device__ __forceinline__ ArgMax shfl_lane0(ArgMax v) {
  return ArgMax{__shfl_sync(0xffffffffu, v.v, 0), __shfl_sync(0xffffffffu, v.idx, 0)};
}

// The threads that own a row: a warp (kWarp) or the whole block. Rows are visited in a loop
// (first, first + stride, ...) that every thread of a group runs the same number of times, so a
// block barrier inside it is never split.
template <bool kWarp>
struct RowGroup {
  int64_t first, stride;
  int lane, size;

  __device__ RowGroup() {
    if constexpr (kWarp) {
      first = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
      stride = int64_t(gridDim.x) * kWarps;
      lane = int(threadIdx.x & 31);
      size = 32;
    } else {
      first = blockIdx.x;
      stride = gridDim.x;
      lane = int(threadIdx.x);
      size = kThreads;
    }
  }

  // f folded over the group's values in a fixed tree; the same bits in every thread (the warp's
  // result is taken from lane 0, so even a combine that is not bitwise symmetric agrees).
  // smem: kWarps entries, block mode only.
  template <typename T, typename F>
  __device__ T reduce(T v, F f, T* smem) const {
    for (int o = 16; o > 0; o >>= 1) v = f(v, shfl_xor(v, o));
    v = shfl_lane0(v);
    if constexpr (kWarp) {
      return v;
    } else {
      if ((threadIdx.x & 31) == 0) smem[threadIdx.x / 32] = v;
      __syncthreads();
      T t = smem[0];
      for (int w = 1; w < kWarps; ++w) t = f(t, smem[w]);  // warps in order
      __syncthreads();  // smem is free again for the next reduce
      return t;
    }
  }
};

template <bool kWarp>
unsigned row_grid(int64_t rows) {
  return unsigned(std::min<int64_t>(std::max<int64_t>(kWarp ? ceil_div(rows, kWarps) : rows, 1), kMaxGrid));
}

// ---- reduce_rows ----

template <bool kWarp, ReduceOp op>
__global__ void reduce_rows_kernel(const float* x, float* out, int64_t rows, int64_t n) {
  __shared__ float smem[kWarps];
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.stride) {
    const float* row = x + r * n;
    float result;
    if constexpr (op == ReduceOp::sum || op == ReduceOp::mean) {
      float s = 0.f;
      for (int64_t i = g.lane; i < n; i += g.size) s += row[i];
      s = g.reduce(s, Sum{}, smem);
      result = op == ReduceOp::mean ? s / float(n) : s;  // n = 0: 0 / 0 = NaN, as the reference
    } else if constexpr (op == ReduceOp::max) {
      float m = -INFINITY;
      for (int64_t i = g.lane; i < n; i += g.size) m = MaxNan{}(m, row[i]);
      result = g.reduce(m, MaxNan{}, smem);
    } else {
      static_assert(op == ReduceOp::logsumexp);
      float m = -INFINITY;
      for (int64_t i = g.lane; i < n; i += g.size) m = fmaxf(m, row[i]);
      m = g.reduce(m, MaxSkipNan{}, smem);
      if (isinf(m)) {  // the same m in every thread: uniform, no barrier skipped by some threads only
        result = m;
      } else {
        float s = 0.f;
        for (int64_t i = g.lane; i < n; i += g.size) s += expf(row[i] - m);
        result = m + logf(g.reduce(s, Sum{}, smem));
      }
    }
    if (g.lane == 0) out[r] = result;
  }
}

// The kernel of one op (op is a template parameter of the kernel, so each op is its own kernel).
template <bool kWarp>
auto reduce_kernel(ReduceOp op) -> void (*)(const float*, float*, int64_t, int64_t) {
  switch (op) {
    case ReduceOp::sum: return reduce_rows_kernel<kWarp, ReduceOp::sum>;
    case ReduceOp::mean: return reduce_rows_kernel<kWarp, ReduceOp::mean>;
    case ReduceOp::max: return reduce_rows_kernel<kWarp, ReduceOp::max>;
    case ReduceOp::logsumexp: return reduce_rows_kernel<kWarp, ReduceOp::logsumexp>;
    default: throw DeviceError(cat("[cuda reduce_rows] unknown op ", int(op)));
  }
}

template <bool kWarp>
void launch_reduce(ReduceOp op, const float* x, float* out, int64_t rows, int64_t n, cudaStream_t s) {
  launch_plain(reduce_kernel<kWarp>(op), dim3(row_grid<kWarp>(rows)), dim3(kThreads), 0, s, "reduce_rows", x, out,
               rows, n);
}

// ---- argmax_rows ----

template <bool kWarp>
__global__ void argmax_rows_kernel(const float* x, int64_t* out, int64_t rows, int64_t n) {
  __shared__ ArgMax smem[kWarps];
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.stride) {
    const float* row = x + r * n;
    ArgMax best{0.f, -1};
    for (int64_t i = g.lane; i < n; i += g.size) {
      const float v = row[i];
      if (!isnan(v) && (best.idx < 0 || v > best.v)) best = ArgMax{v, i};  // ascending i: first max kept
    }
    best = g.reduce(best, [](ArgMax a, ArgMax b) { return better(a, b); }, smem);
    if (g.lane == 0) out[r] = (n == 0 || isnan(row[0]) || best.idx < 0) ? 0 : best.idx;
  }
}

// ---- softmax_rows ----

// y = softmax(x) or log_softmax(x) per row, three passes: max (NaN skipped), sum exp(x - m), write.
template <bool kWarp>
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  __shared__ float smem[kWarps];
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.stride) {
    const float* row = x + r * n;
    float* yr = y + r * n;
    float m = -INFINITY;
    for (int64_t i = g.lane; i < n; i += g.size) m = fmaxf(m, row[i]);
    m = g.reduce(m, MaxSkipNan{}, smem);
    float s = 0.f;
    for (int64_t i = g.lane; i < n; i += g.size) s += expf(row[i] - m);
    s = g.reduce(s, Sum{}, smem);
    const float lse = logf(s);
    for (int64_t i = g.lane; i < n; i += g.size) {
      const float z = row[i] - m;
      yr[i] = log ? z - lse : expf(z) / s;
    }
  }
}

// ---- sum_all ----

// partial[b] = sum of x[i] for i = b * kThreads + t + k * (blocks * kThreads): the partition
// depends on n alone (the grid is chosen from n), never on the device.
__global__ void sum_partials_kernel(const float* x, float* partial, int64_t n) {
  __shared__ float smem[kWarps];
  const RowGroup<false> g;  // the block as one group; its row loop is not used
  const int64_t step = int64_t(gridDim.x) * kThreads;
  float s = 0.f;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += step) s += x[i];
  s = g.reduce(s, Sum{}, smem);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[0] = the partials summed by one block in a fixed order.
__global__ void sum_final_kernel(const float* partial, float* out, int64_t count) {
  __shared__ float smem[kWarps];
  const RowGroup<false> g;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s += partial[i];
  s = g.reduce(s, Sum{}, smem);
  if (threadIdx.x == 0) out[0] = s;
}

// Device scratch from the caching allocator, released when the scope ends. Release right after
// the launches is safe: every later use of the block is ordered after them on the same stream.
struct Scratch {
  void* p;
  int device;
  Scratch(size_t bytes, int dev) : p(cuda_runtime::allocate(bytes, dev)), device(dev) {}
  ~Scratch() { cuda_runtime::release(p, device); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace

void reduce_rows(ReduceOp op, const float* x, float* out, int64_t rows, int64_t n, int device) {
  if (rows <= 0) return;
  const cudaStream_t s = stream_for(device);
  if (n <= kWarpRowMax)
    launch_reduce<true>(op, x, out, rows, n, s);
  else
    launch_reduce<false>(op, x, out, rows, n, s);
}

void argmax_rows(const float* x, int64_t* out, int64_t rows, int64_t n, int device) {
  if (rows <= 0) return;
  const cudaStream_t s = stream_for(device);
  if (n <= kWarpRowMax)
    launch_plain(argmax_rows_kernel<true>, dim3(row_grid<true>(rows)), dim3(kThreads), 0, s, "argmax_rows", x, out,
                 rows, n);
  else
    launch_plain(argmax_rows_kernel<false>, dim3(row_grid<false>(rows)), dim3(kThreads), 0, s, "argmax_rows", x, out,
                 rows, n);
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log, int device) {
  if (rows <= 0 || n <= 0) return;
  const cudaStream_t s = stream_for(device);
  if (n <= kWarpRowMax)
    launch_plain(softmax_rows_kernel<true>, dim3(row_grid<true>(rows)), dim3(kThreads), 0, s, "softmax_rows", x, y,
                 rows, n, log);
  else
    launch_plain(softmax_rows_kernel<false>, dim3(row_grid<false>(rows)), dim3(kThreads), 0, s, "softmax_rows", x, y,
                 rows, n, log);
}

void sum_all(const float* x, float* out, int64_t n, int device) {
  const cudaStream_t s = stream_for(device);
  const int64_t blocks = std::min(kSumAllBlocks, std::max<int64_t>(1, ceil_div(n, kThreads * kSumAllPerThread)));
  const Scratch partial(size_t(blocks) * sizeof(float), device);
  float* p = static_cast<float*>(partial.p);
  launch_plain(sum_partials_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, s, "sum_all partials", x, p,
               std::max<int64_t>(n, 0));
  launch_plain(sum_final_kernel, dim3(1), dim3(kThreads), 0, s, "sum_all", p, out, blocks);
}

}  // namespace rscapret::kernels::cuda
