// LayerNorm and RMSNorm on the GPU: the forward, and the fused backward from the saved mean/rstd.
//
// Forward, per row (as kernels::ref, but in f32): two passes, mean then the mean of squared
// deviations (no E[x^2] - E[x]^2 cancellation), rstd = 1 / sqrt(var + eps), y = (x - mean) rstd w + b.
// RMSNorm is the same kernel with the mean fixed at 0 and no bias.
//
// A row belongs to one warp when it is at most kWarpRowMaxCols wide (no shared memory, no block
// barrier), otherwise to a whole block. Either way the row sums are reduced in a fixed order, so
// every run gives the same bits.
//
// Backward (xhat = (x - mean) rstd, gh = dy w):
//   LayerNorm dx = rstd (gh - mean(gh) - xhat mean(gh xhat))
//   RMSNorm   dx = rstd (gh - xhat mean(gh xhat))
//   dw = sum over rows of dy xhat, db = sum over rows of dy
// dw/db are column sums: each block sums a chunk of rows for a strip of columns into a partial
// [chunks, cols], then one thread per column adds the chunks in order. No float atomics, so the
// result does not depend on scheduling.
#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/norm_row_order.cuh"
#include "tensor/feature_switch.h"

namespace rscapret::kernels::cuda {

namespace {

std::atomic<bool>& single_read_slot() {
  static std::atomic<bool> on{feature_enabled_by_env("norm_single_read")};
  return on;
}

// Every kernel of this file has kThreads threads; up to kWarpRowMaxCols a warp owns a row (<= 32
// elements a lane). Shared with the decode GEMV that applies RMSNorm as it loads (norm_row_order.cuh).
using norm_order::add_square;
using norm_order::rstd_from_sum_of_squares;
using norm_order::warp_sum;
constexpr int kThreads = norm_order::kNormThreads;
constexpr int64_t kWarpRowMaxCols = norm_order::kWarpRowMaxCols;
constexpr int64_t kTargetParamBlocks = 1024;  // enough blocks for the column sums to fill an H100
constexpr int64_t kMinRowsPerChunk = 16;      // below this a chunk's partial costs more than it saves

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

unsigned grid_dim(int64_t blocks, const char* what) {
  RS_CHECK(blocks > 0 && blocks <= 0x7fffffffLL, DeviceError, what, "grid of ", blocks, " blocks is out of range");
  return unsigned(blocks);
}

// The threads that own one row: a warp (kWarp) or the whole block.
template <bool kWarp>
struct RowGroup {
  int64_t row;
  int lane;  // index within the group
  int size;  // threads in the group

  __device__ RowGroup() {
    if constexpr (kWarp) {
      row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
      lane = int(threadIdx.x & 31);
      size = 32;
    } else {
      row = blockIdx.x;
      lane = int(threadIdx.x);
      size = int(blockDim.x);
    }
  }

  // Sum of v over the group, the same value in every thread. smem: 32 floats (block mode only).
  __device__ float sum(float v, float* smem) const {
    v = warp_sum(v);
    if constexpr (kWarp) {
      return v;
    } else {
      if ((threadIdx.x & 31) == 0) smem[threadIdx.x / 32] = v;
      __syncthreads();
      float t = 0.f;
      for (int w = 0; w < int(blockDim.x / 32); ++w) t += smem[w];  // fixed order
      __syncthreads();  // smem is free again for the next sum
      return t;
    }
  }
};

// y [rows, cols] = normalised x. kCentered: LayerNorm (subtract the mean), else RMSNorm.
// Every thread of a group has the same row, so the early return never splits a block barrier.
// w16: the weight as bf16 bits, read when w is null (a bf16 model's norm weights, without a cast
// launch; bf16 -> f32 is exact, so the bits are those of casting first).
// OutT: float, or uint16_t for bf16 bits rounded to nearest even (the bits of a cast of the f32 y).
template <bool kWarp, bool kCentered, typename OutT>
__global__ void norm_forward_kernel(const float* x, const float* w, const uint16_t* w16, const float* b, OutT* y,
                                    float* mean_out, float* rstd_out, int64_t rows, int64_t cols, float eps) {
  __shared__ float smem[32];
  const RowGroup<kWarp> g;
  if (g.row >= rows) return;
  wait_for_predecessor();  // a programmatic dependent (decode): x is the previous kernel's output
  allow_dependents();
  const float* xr = x + g.row * cols;
  OutT* yr = y + g.row * cols;

  float mean = 0.f;
  if constexpr (kCentered) {
    float s = 0.f;
    for (int64_t i = g.lane; i < cols; i += g.size) s += xr[i];
    mean = g.sum(s, smem) / float(cols);
  }
  float ss = 0.f;
  for (int64_t i = g.lane; i < cols; i += g.size) {
    const float d = xr[i] - mean;
    ss = add_square(ss, d);
  }
  const float rstd = rstd_from_sum_of_squares(g.sum(ss, smem), cols, eps);

  for (int64_t i = g.lane; i < cols; i += g.size) {
    float v = (xr[i] - mean) * rstd;
    if (w) v *= w[i];
    else if (w16) v *= __uint_as_float(uint32_t(w16[i]) << 16);
    if (b) v += b[i];
    if constexpr (std::is_same_v<OutT, float>) yr[i] = v;
    else yr[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
  }
  if (g.lane == 0) {
    if (mean_out) mean_out[g.row] = mean;
    if (rstd_out) rstd_out[g.row] = rstd;
  }
}

// The same forward for rows of at most kVecRowMaxCols columns, cols % 4 == 0, x and y rows aligned
// for 16-byte (f32 y) or 8-byte (bf16 y) accesses: a warp per row, each lane loads its float4
// chunks (lane, lane + 32, ...) once and keeps them in registers for the mean, the variance and the
// output, so x is read from memory once with 16-byte loads instead of three times with 4-byte ones
// (the CLIP layers' LayerNorms at batch 64: 16448 rows of 1024). Same formulas, same fixed
// reduction order for a given shape (lane-local sums in chunk order, then the butterfly); the order
// differs from norm_forward_kernel's, so the two paths agree to rounding, not bit for bit.
constexpr int64_t kVecRowMaxCols = 1024;
constexpr int kVecChunks = int(kVecRowMaxCols / 4 / 32);  // float4 chunks per lane, at most

template <bool kCentered, typename OutT>
__global__ void norm_forward_vec_kernel(const float* x, const float* w, const uint16_t* w16, const float* b, OutT* y,
                                        float* mean_out, float* rstd_out, int64_t rows, int64_t cols, float eps) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = int(threadIdx.x & 31);
  if (row >= rows) return;
  wait_for_predecessor();  // a programmatic dependent: x is the previous kernel's output
  allow_dependents();
  const int n4 = int(cols / 4);
  const float4* xr = reinterpret_cast<const float4*>(x + row * cols);
  float4 v[kVecChunks];
#pragma unroll
  for (int j = 0; j < kVecChunks; ++j) {
    const int c = j * 32 + lane;
    v[j] = c < n4 ? xr[c] : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  float mean = 0.f;
  if constexpr (kCentered) {
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < kVecChunks; ++j) s += (v[j].x + v[j].y) + (v[j].z + v[j].w);  // zeros past the row
    mean = warp_sum(s) / float(cols);
  }
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < kVecChunks; ++j) {
    if (j * 32 + lane >= n4) continue;  // padding would add mean^2
    const float dx = v[j].x - mean, dy = v[j].y - mean, dz = v[j].z - mean, dw = v[j].w - mean;
    ss += (dx * dx + dy * dy) + (dz * dz + dw * dw);
  }
  const float rstd = rstd_from_sum_of_squares(warp_sum(ss), cols, eps);  // as norm_forward_kernel
#pragma unroll
  for (int j = 0; j < kVecChunks; ++j) {
    const int c = j * 32 + lane;
    if (c >= n4) continue;
    float o[4] = {(v[j].x - mean) * rstd, (v[j].y - mean) * rstd, (v[j].z - mean) * rstd, (v[j].w - mean) * rstd};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t i = int64_t(c) * 4 + e;
      if (w) o[e] *= w[i];
      else if (w16) o[e] *= __uint_as_float(uint32_t(w16[i]) << 16);
      if (b) o[e] += b[i];
    }
    if constexpr (std::is_same_v<OutT, float>) {
      reinterpret_cast<float4*>(y + row * cols)[c] = make_float4(o[0], o[1], o[2], o[3]);
    } else {
      auto bits = [](float f) { return uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(f))); };
      reinterpret_cast<uint2*>(y + row * cols)[c] = make_uint2(bits(o[0]) | (bits(o[1]) << 16), bits(o[2]) | (bits(o[3]) << 16));
    }
  }
  if (lane == 0) {
    if (mean_out) mean_out[row] = mean;
    if (rstd_out) rstd_out[row] = rstd;
  }
}

// dx [rows, cols] from dy, x and the saved statistics (mean is unused when !kCentered).
template <bool kWarp, bool kCentered>
__global__ void norm_backward_dx_kernel(const float* dy, const float* x, const float* w, const float* mean,
                                        const float* rstd, float* dx, int64_t rows, int64_t cols) {
  __shared__ float smem[32];
  const RowGroup<kWarp> g;
  if (g.row >= rows) return;
  const int64_t off = g.row * cols;
  const float mu = kCentered ? mean[g.row] : 0.f;
  const float rs = rstd[g.row];

  float s_gh = 0.f, s_ghx = 0.f;
  for (int64_t i = g.lane; i < cols; i += g.size) {
    const float gh = w ? dy[off + i] * w[i] : dy[off + i];
    const float xhat = (x[off + i] - mu) * rs;
    s_gh += gh;
    s_ghx += gh * xhat;
  }
  const float mean_gh = kCentered ? g.sum(s_gh, smem) / float(cols) : 0.f;
  const float mean_ghx = g.sum(s_ghx, smem) / float(cols);

  for (int64_t i = g.lane; i < cols; i += g.size) {
    const float gh = w ? dy[off + i] * w[i] : dy[off + i];
    const float xhat = (x[off + i] - mu) * rs;
    dx[off + i] = rs * (gh - xhat * mean_ghx - mean_gh);
  }
}

// Partial column sums over the rows of chunk blockIdx.y, columns of strip blockIdx.x:
//   part_w [chunks, cols] = sum dy xhat,  part_b [chunks, cols] = sum dy   (either may be null).
// A warp reads consecutive columns of one row, so the loads are coalesced.
template <bool kCentered>
__global__ void norm_param_partial_kernel(const float* dy, const float* x, const float* mean, const float* rstd,
                                          float* part_w, float* part_b, int64_t rows, int64_t cols,
                                          int64_t rows_per_chunk) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float sw = 0.f, sb = 0.f;
  for (int64_t r = r0; r < r1; ++r) {
    const float d = dy[r * cols + c];
    if (part_w) sw += d * ((x[r * cols + c] - (kCentered ? mean[r] : 0.f)) * rstd[r]);
    sb += d;
  }
  if (part_w) part_w[int64_t(blockIdx.y) * cols + c] = sw;
  if (part_b) part_b[int64_t(blockIdx.y) * cols + c] = sb;
}

// out [cols] = sum over chunks of part [chunks, cols], in chunk order (either pair may be null).
__global__ void sum_chunks_kernel(const float* part_w, float* dw, const float* part_b, float* db, int64_t chunks,
                                  int64_t cols) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  if (dw) {
    float s = 0.f;
    for (int64_t k = 0; k < chunks; ++k) s += part_w[k * cols + c];
    dw[c] = s;
  }
  if (db) {
    float s = 0.f;
    for (int64_t k = 0; k < chunks; ++k) s += part_b[k * cols + c];
    db[c] = s;
  }
}

template <bool kCentered, typename OutT>
void launch_forward(const float* x, const float* w, const uint16_t* w16, const float* b, OutT* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps, int device, const char* what) {
  if (rows == 0) return;
  cudaStream_t st = stream_for(device);
  // A programmatic dependent of the kernel before it: at decode the launch overlaps that kernel's end.
  auto aligned = [](const void* p, size_t to) { return reinterpret_cast<uintptr_t>(p) % to == 0; };
  if (cuda_norm_single_read() && cols <= kVecRowMaxCols && cols % 4 == 0 && aligned(x, 16) &&
      aligned(y, std::is_same_v<OutT, float> ? 16 : 8))
    launch_dependent(norm_forward_vec_kernel<kCentered, OutT>, dim3(grid_dim(ceil_div(rows, kThreads / 32), what)),
                     dim3(kThreads), 0, st, what, x, w, w16, b, y, mean, rstd, rows, cols, eps);
  else if (!norm_order::block_owns_row(cols))  // the decode GEMV's fused RMSNorm relies on this choice
    launch_dependent(norm_forward_kernel<true, kCentered, OutT>, dim3(grid_dim(ceil_div(rows, kThreads / 32), what)),
                     dim3(kThreads), 0, st, what, x, w, w16, b, y, mean, rstd, rows, cols, eps);
  else
    launch_dependent(norm_forward_kernel<false, kCentered, OutT>, dim3(grid_dim(rows, what)), dim3(kThreads), 0, st,
                     what, x, w, w16, b, y, mean, rstd, rows, cols, eps);
}

template <bool kCentered>
void launch_backward_dx(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, int64_t rows, int64_t cols, int device, const char* what) {
  cudaStream_t st = stream_for(device);
  if (cols <= kWarpRowMaxCols) {
    const unsigned grid = grid_dim(ceil_div(rows, kThreads / 32), what);
    launch_plain(norm_backward_dx_kernel<true, kCentered>, dim3(grid), dim3(kThreads), 0, st, what, dy, x, w, mean,
                 rstd, dx, rows, cols);
  } else {
    launch_plain(norm_backward_dx_kernel<false, kCentered>, dim3(grid_dim(rows, what)), dim3(kThreads), 0, st, what,
                 dy, x, w, mean, rstd, dx, rows, cols);
  }
}

// Device scratch for one call, released on scope exit. Releasing while our kernels may still run is
// safe by the ordering model of tensor/device_backend.h: all work of the project is issued on the
// device's single stream, so whoever is handed this block next touches it only after these kernels.
class Scratch {
 public:
  Scratch(size_t nbytes, int device) : device_(device), p_(cuda_runtime::allocate(nbytes, device)) {}
  ~Scratch() { cuda_runtime::release(p_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* floats() const { return static_cast<float*>(p_); }

 private:
  int device_;
  void* p_;
};

// dw = sum_rows(dy xhat), db = sum_rows(dy), written (zeros when rows == 0); either may be null.
template <bool kCentered>
void launch_param_grads(const float* dy, const float* x, const float* mean, const float* rstd, float* dw, float* db,
                        int64_t rows, int64_t cols, int device, const char* what) {
  if (!dw && !db) return;
  const int64_t strips = ceil_div(cols, kThreads);
  // The chunking depends only on (rows, cols), so a shape always sums in the same order.
  const int64_t max_chunks = std::max<int64_t>(1, ceil_div(rows, kMinRowsPerChunk));
  int64_t chunks = std::min(std::max<int64_t>(1, kTargetParamBlocks / strips), max_chunks);
  const int64_t rows_per_chunk = std::max<int64_t>(1, ceil_div(rows, chunks));
  chunks = std::max<int64_t>(1, ceil_div(rows, rows_per_chunk));  // no empty trailing chunk

  cudaStream_t st = stream_for(device);
  const dim3 grid(grid_dim(strips, what), unsigned(chunks));  // chunks <= kTargetParamBlocks < 65536
  if (chunks == 1) {  // one chunk: its partial is the answer
    launch_plain(norm_param_partial_kernel<kCentered>, grid, dim3(kThreads), 0, st, what, dy, x, mean, rstd, dw, db,
                 rows, cols, rows_per_chunk);
    return;
  }
  const int64_t part = chunks * cols;  // floats per partial
  Scratch scratch(size_t((dw ? part : 0) + (db ? part : 0)) * sizeof(float), device);
  float* part_w = dw ? scratch.floats() : nullptr;
  float* part_b = db ? scratch.floats() + (dw ? part : 0) : nullptr;
  launch_plain(norm_param_partial_kernel<kCentered>, grid, dim3(kThreads), 0, st, what, dy, x, mean, rstd, part_w,
               part_b, rows, cols, rows_per_chunk);
  launch_plain(sum_chunks_kernel, dim3(grid_dim(strips, what)), dim3(kThreads), 0, st, what, part_w, dw, part_b, db,
               chunks, cols);
}

}  // namespace

void set_cuda_norm_single_read(bool on) { single_read_slot().store(on, std::memory_order_relaxed); }
bool cuda_norm_single_read() { return single_read_slot().load(std::memory_order_relaxed); }

void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t rows,
                int64_t cols, float eps, int device) {
  launch_forward<true>(x, w, nullptr, b, y, mean, rstd, rows, cols, eps, device, "layer_norm");
}

void layer_norm_bf16_out(const float* x, const float* w, const float* b, uint16_t* y, int64_t rows, int64_t cols,
                         float eps, int device) {
  launch_forward<true>(x, w, nullptr, b, y, nullptr, nullptr, rows, cols, eps, device, "layer_norm (bf16 out)");
}

void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t cols, float eps,
              int device, const uint16_t* w_bf16) {
  launch_forward<false>(x, w, w ? nullptr : w_bf16, nullptr, y, nullptr, rstd, rows, cols, eps, device, "rms_norm");
}

void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                         float* dx, float* dw, float* db, int64_t rows, int64_t cols, int device) {
  const char* what = "layer_norm_backward";
  if (cols == 0) return;
  RS_CHECK(rows == 0 || !(dx || dw) || (mean && rstd), ValueError, what, "dx and dw need the saved mean and rstd");
  if (dx && rows > 0) launch_backward_dx<true>(dy, x, w, mean, rstd, dx, rows, cols, device, what);
  launch_param_grads<true>(dy, x, mean, rstd, dw, db, rows, cols, device, what);
}

void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                       int64_t rows, int64_t cols, int device) {
  const char* what = "rms_norm_backward";
  if (cols == 0) return;
  RS_CHECK(rows == 0 || !(dx || dw) || rstd, ValueError, what, "dx and dw need the saved rstd");
  if (dx && rows > 0) launch_backward_dx<false>(dy, x, w, nullptr, rstd, dx, rows, cols, device, what);
  launch_param_grads<false>(dy, x, nullptr, rstd, dw, nullptr, rows, cols, device, what);
}

}  // namespace rscapret::kernels::cuda
