// Cross-entropy fused with softmax, one block per row, streaming the vocabulary once.
//
// Forward: each thread keeps an online (max m, sum s = sum exp(x - m)) over its share of the row;
// the block merges them in a fixed order. Then
//   lse  = m + log(s)
//   loss = (m - x[t]) + log(s)   (not lse - x[t]: with logits ~1e4 the f32 lse carries an absolute
//                                 error of ~1e-3, while m - x[t] is exact or rounded once)
// Backward: d[j] = (exp(x[j] - lse) - [j == t]) * grad_scale[0], zero on ignored rows.
//
// Rows whose pointer is 16-byte aligned and V a multiple of 4 are read (and written) as float4.
// exp/log are the IEEE-accurate expf/logf (no fast-math).
#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

int threads_for(int64_t V) { return V < 1024 ? 64 : V < 32768 ? 256 : 512; }

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Running max and sum of exp(x - max) over part of a row. Empty: m = -inf, s = 0.
struct Lse {
  float m, s;
};

// A value equal to the maximum adds exactly 1 (expf(0) for finite values, the same bits), so that a
// second +inf adds 1 instead of expf(inf - inf) = NaN: the lse of a row holding +inf is +inf, as the
// reference's logsumexp gives.
__device__ __forceinline__ void lse_add(Lse& a, float x) {
  if (x > a.m) {  // new max: rescale what was summed (expf(-inf) = 0 covers the first element)
    a.s = a.s * expf(a.m - x) + 1.0f;
    a.m = x;
  } else if (x != -INFINITY) {  // -inf adds nothing (and -inf - -inf would be NaN); NaN propagates
    a.s += x == a.m ? 1.0f : expf(x - a.m);
  }
}

// Symmetric in a and b, bit for bit (max and + are commutative; the products are kept unfused, as
// an FMA would round the two orders differently), so all lanes of the butterfly agree.
__device__ __forceinline__ Lse lse_merge(Lse a, Lse b) {
  if (a.m == -INFINITY || b.m == -INFINITY) {  // an empty side: its s is 0 (or NaN, which must survive)
    return a.m == -INFINITY ? Lse{b.m, b.s + a.s} : Lse{a.m, a.s + b.s};
  }
  // The side holding the maximum keeps its sum as it is (times expf(0) = 1 for finite values, the
  // same bits), which also keeps a +inf maximum from scaling by expf(inf - inf) = NaN.
  const float m = fmaxf(a.m, b.m);
  const float sa = a.m == m ? a.s : __fmul_rn(a.s, expf(a.m - m));
  const float sb = b.m == m ? b.s : __fmul_rn(b.s, expf(b.m - m));
  return Lse{m, __fadd_rn(sa, sb)};
}

// The whole block's Lse, in every thread; warps reduce by butterfly, then warp results in warp order.
__device__ Lse block_lse(Lse v) {
  __shared__ float sm[32], ss[32];
  for (int o = 16; o > 0; o >>= 1)
    v = lse_merge(v, Lse{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)});
  if ((threadIdx.x & 31) == 0) {
    sm[threadIdx.x / 32] = v.m;
    ss[threadIdx.x / 32] = v.s;
  }
  __syncthreads();
  Lse t{sm[0], ss[0]};
  for (int w = 1; w < int(blockDim.x / 32); ++w) t = lse_merge(t, Lse{sm[w], ss[w]});
  return t;
}

// loss [rows], lse [rows] (may be null). An out-of-range target (the caller checks; never read)
// gives NaN.
template <bool kVec4>
__global__ void ce_forward_kernel(const float* logits, const int64_t* targets, float* loss, float* lse, int64_t V,
                                  int64_t ignore_index) {
  const int64_t r = blockIdx.x;
  const int64_t t = targets[r];
  if (t == ignore_index) {  // the whole block leaves together: t is the same for every thread
    if (threadIdx.x == 0) {
      loss[r] = 0.0f;
      if (lse) lse[r] = 0.0f;
    }
    return;
  }
  const float* row = logits + r * V;
  Lse acc{-INFINITY, 0.0f};
  if constexpr (kVec4) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int64_t j = threadIdx.x; j < V / 4; j += blockDim.x) {
      const float4 q = row4[j];
      lse_add(acc, q.x);
      lse_add(acc, q.y);
      lse_add(acc, q.z);
      lse_add(acc, q.w);
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) lse_add(acc, row[j]);
  }
  acc = block_lse(acc);
  if (threadIdx.x == 0) {
    const float xt = t >= 0 && t < V ? row[t] : NAN;
    const float log_s = logf(acc.s);
    loss[r] = (acc.m - xt) + log_s;
    if (lse) lse[r] = acc.m + log_s;
  }
}

__device__ __forceinline__ float ce_grad(float x, int64_t j, int64_t t, float l, float scale) {
  return (expf(x - l) - (j == t ? 1.0f : 0.0f)) * scale;
}

// dlogits [rows, V]; every element written (zeros on ignored rows).
template <bool kVec4>
__global__ void ce_backward_kernel(const float* logits, const int64_t* targets, const float* lse,
                                   const float* grad_scale, float* dlogits, int64_t V, int64_t ignore_index) {
  const int64_t r = blockIdx.x;
  const int64_t t = targets[r];
  const bool ignored = t == ignore_index;
  const float l = ignored ? 0.0f : lse[r];
  const float scale = grad_scale[0];
  const float* row = logits + r * V;
  float* out = dlogits + r * V;
  if constexpr (kVec4) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int64_t j = threadIdx.x; j < V / 4; j += blockDim.x) {
      if (ignored) {
        out4[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        continue;
      }
      const float4 q = row4[j];
      const int64_t k = 4 * j;
      out4[j] = make_float4(ce_grad(q.x, k, t, l, scale), ce_grad(q.y, k + 1, t, l, scale),
                            ce_grad(q.z, k + 2, t, l, scale), ce_grad(q.w, k + 3, t, l, scale));
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) out[j] = ignored ? 0.0f : ce_grad(row[j], j, t, l, scale);
  }
}

unsigned row_grid(int64_t rows, const char* what) {
  RS_CHECK(rows <= 0x7fffffffLL, DeviceError, what, rows, " rows exceed the grid");
  return unsigned(rows);
}

}  // namespace

void cross_entropy_forward(const float* logits, const int64_t* targets, float* loss, float* lse, int64_t rows,
                           int64_t V, int64_t ignore_index, int device) {
  if (rows == 0) return;
  const unsigned grid = row_grid(rows, "cross_entropy_forward");
  const int threads = threads_for(V);
  cudaStream_t st = stream_for(device);
  // Every row start is 16-byte aligned when the base is and V is a multiple of 4.
  const char* what = "cross_entropy_forward";
  if (V % 4 == 0 && aligned16(logits))
    launch_plain(ce_forward_kernel<true>, dim3(grid), dim3(threads), 0, st, what, logits, targets, loss, lse, V,
                 ignore_index);
  else
    launch_plain(ce_forward_kernel<false>, dim3(grid), dim3(threads), 0, st, what, logits, targets, loss, lse, V,
                 ignore_index);
}

void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse, const float* grad_scale,
                            float* dlogits, int64_t rows, int64_t V, int64_t ignore_index, int device) {
  if (rows == 0 || V == 0) return;
  const unsigned grid = row_grid(rows, "cross_entropy_backward");
  const int threads = threads_for(V);
  cudaStream_t st = stream_for(device);
  const char* what = "cross_entropy_backward";
  if (V % 4 == 0 && aligned16(logits) && aligned16(dlogits))
    launch_plain(ce_backward_kernel<true>, dim3(grid), dim3(threads), 0, st, what, logits, targets, lse, grad_scale,
                 dlogits, V, ignore_index);
  else
    launch_plain(ce_backward_kernel<false>, dim3(grid), dim3(threads), 0, st, what, logits, targets, lse, grad_scale,
                 dlogits, V, ignore_index);
}

}  // namespace rscapret::kernels::cuda
