// Gathers along one axis: index_select, index_add (its backward and the embedding backward) and
// the embedding lookup. Indices are checked in range by the caller (autograd/ops/index_ops.cpp).
//
// x is viewed [outer, dim, inner]: the axis and everything before/after it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kThreads = 256;  // a multiple of 32
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxGridX = 65535LL * 16;
constexpr int64_t kMaxGridY = 65535;

__host__ __device__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// out [outer, n_index, inner] = x[:, index[j], :], one thread per output element (grid-stride).
__global__ void index_select_kernel(const float* x, const int64_t* index, float* out, int64_t dim, int64_t inner,
                                    int64_t n_index, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    const int64_t t = e / inner, c = e - t * inner;  // e = (o * n_index + j) * inner + c
    const int64_t o = t / n_index, j = t - o * n_index;
    out[e] = x[(o * dim + index[j]) * inner + c];
  }
}

// out [outer, dim, inner] += src [outer, k, inner] at out[:, index[j], :], deterministically.
//
// Parallel over output elements: a block owns one output row (o, d) and a strip of kThreads
// columns, one column a thread. It scans the k indices in chunks of kThreads (each thread tests
// one index; the warps' ballots go to shared memory), then every thread walks the chunk's matches
// in ascending j and adds src[o, j, c] to its own accumulator, which starts from the old out
// value. So each output element receives its contributions one by one in index order: the same
// f32 additions in the same order as kernels::ref::index_add, bit for bit, whatever the schedule
// (no atomics). The scan costs every row a pass over the indices, k * outer * dim index tests in
// all, shared by the block's columns: fine for our sizes (the embedding backward: vocabulary
// rows times the batch's tokens). A sort of the indices would remove it if it ever shows.
__global__ void index_add_kernel(float* out, const int64_t* index, const float* src, int64_t outer, int64_t dim,
                                 int64_t inner, int64_t k) {
  __shared__ unsigned masks[kWarps];
  const int64_t rows = outer * dim, strips = ceil_div(inner, kThreads);
  // row, strip and base are the same in every thread of the block: the barriers are never split.
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / dim, d = row - o * dim;
    for (int64_t strip = blockIdx.y; strip < strips; strip += gridDim.y) {
      const int64_t c = strip * kThreads + threadIdx.x;
      const bool active = c < inner;
      float acc = active ? out[row * inner + c] : 0.f;
      for (int64_t base = 0; base < k; base += kThreads) {
        const int64_t j = base + threadIdx.x;
        const unsigned ballot = __ballot_sync(0xffffffffu, j < k && index[j] == d);
        if ((threadIdx.x & 31) == 0) masks[threadIdx.x / 32] = ballot;
        __syncthreads();
        if (active) {
          for (int w = 0; w < kWarps; ++w) {
            for (unsigned m = masks[w]; m != 0; m &= m - 1) {  // set bits, lowest (smallest j) first
              const int64_t jj = base + w * 32 + (__ffs(int(m)) - 1);
              acc += src[(o * k + jj) * inner + c];
            }
          }
        }
        __syncthreads();  // the masks are rewritten by the next chunk
      }
      if (active) out[row * inner + c] = acc;
    }
  }
}

// One weight element as f32 (exact for every supported dtype).
template <DType kW>
__device__ __forceinline__ float load_f32(const void* w, int64_t i) {
  if constexpr (kW == DType::f32) {
    return static_cast<const float*>(w)[i];
  } else if constexpr (kW == DType::bf16) {
    return __bfloat162float(__ushort_as_bfloat16(static_cast<const uint16_t*>(w)[i]));
  } else {
    static_assert(kW == DType::f16);
    return __half2float(__ushort_as_half(static_cast<const uint16_t*>(w)[i]));
  }
}

// out [n, C] = weight[ids[i], :] as f32, one thread per output element (grid-stride).
template <DType kW>
__global__ void embedding_kernel(const void* weight, const int64_t* ids, float* out, int64_t C, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    const int64_t i = e / C, c = e - i * C;
    out[e] = load_f32<kW>(weight, ids[i] * C + c);
  }
}

}  // namespace

void index_select(const float* x, const int64_t* index, float* out, int64_t outer, int64_t dim, int64_t inner,
                  int64_t n_index, int device) {
  const int64_t total = outer * n_index * inner;
  if (total <= 0) return;
  const cudaStream_t s = stream_for(device);
  launch_plain(index_select_kernel, dim3(grid_for(total, kThreads)), dim3(kThreads), 0, s, "index_select", x, index,
               out, dim, inner, n_index, total);
}

void index_add(float* out, const int64_t* index, const float* src, int64_t outer, int64_t dim, int64_t inner,
               int64_t n_index, int device) {
  if (outer <= 0 || dim <= 0 || inner <= 0 || n_index <= 0) return;  // nothing is added
  const cudaStream_t s = stream_for(device);
  const dim3 grid(unsigned(std::min(outer * dim, kMaxGridX)), unsigned(std::min(ceil_div(inner, kThreads), kMaxGridY)));
  launch_plain(index_add_kernel, grid, dim3(kThreads), 0, s, "index_add", out, index, src, outer, dim, inner, n_index);
}

void embedding(const void* weight, DType weight_dtype, const int64_t* ids, float* out, int64_t n, int64_t C,
               int device) {
  const int64_t total = n * C;
  if (total <= 0) return;
  const cudaStream_t s = stream_for(device);
  const unsigned grid = grid_for(total, kThreads);
  switch (weight_dtype) {
    case DType::f32:
      launch_plain(embedding_kernel<DType::f32>, dim3(grid), dim3(kThreads), 0, s, "embedding", weight, ids, out, C,
                   total);
      break;
    case DType::bf16:
      launch_plain(embedding_kernel<DType::bf16>, dim3(grid), dim3(kThreads), 0, s, "embedding", weight, ids, out, C,
                   total);
      break;
    case DType::f16:
      launch_plain(embedding_kernel<DType::f16>, dim3(grid), dim3(kThreads), 0, s, "embedding", weight, ids, out, C,
                   total);
      break;
    default:
      throw DTypeError(cat("[cuda embedding] weight must be f32, bf16 or f16, got ", dtype_name(weight_dtype)));
  }
}

}  // namespace rscapret::kernels::cuda
