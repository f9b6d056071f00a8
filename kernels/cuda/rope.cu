// Rotary position embedding on the GPU, operation for operation as kernels::ref::rope: frequency i
// of a head is theta^(-2i / rotary_dim), the angle position * frequency, cos/sin and the rotation
// in double, one rounding to f32 at the end. So the result matches the CPU within the last bit of
// f32 even at positions of several thousand, where an f32 angle would be off by ~1e-4 rad.
//
// One block per token (b, t): the token's cos/sin table (rotary_dim / 2 entries) is computed once
// into shared memory and used by all its heads. A thread rotates whole pairs (reads both inputs
// before writing), so x == y (in place) is fine.
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxCachedPairs = 1024;  // 16 KiB of double cos/sin in shared memory

__device__ __forceinline__ void rope_cos_sin(double pos, int64_t i, int64_t rotary_dim, double theta, bool inverse,
                                             double& c, double& s) {
  const double freq = pow(theta, -2.0 * double(i) / double(rotary_dim));
  const double angle = pos * freq;
  c = cos(angle);
  s = inverse ? -sin(angle) : sin(angle);
}

// Per token: the cos/sin of its rotary_dim / 2 frequencies into shared memory when cached (every
// thread of the block calls it: it ends with a barrier).
__device__ __forceinline__ void fill_cos_sin_table(double* table, double pos, int64_t rotary_dim, double theta,
                                                   bool inverse, bool cached) {
  if (!cached) return;
  const int64_t half = rotary_dim / 2;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x)
    rope_cos_sin(pos, i, rotary_dim, theta, inverse, table[i], table[half + i]);
  __syncthreads();
}

// Rotates pair i of one head's row (src to dst, both D long; src == dst is fine): reads both inputs
// before writing. Unfused double products, the reference's expression (FMA would differ in the last
// double bit), one rounding to f32.
__device__ __forceinline__ void rotate_pair(const float* src, float* dst, int64_t i, double pos, int64_t rotary_dim,
                                            double theta, bool interleaved, bool inverse, bool cached,
                                            const double* table) {
  const int64_t half = rotary_dim / 2;
  double c, s;
  if (cached) {
    c = table[i];
    s = table[half + i];
  } else {
    rope_cos_sin(pos, i, rotary_dim, theta, inverse, c, s);
  }
  const int64_t i1 = interleaved ? 2 * i : i, i2 = interleaved ? 2 * i + 1 : i + half;
  const double x1 = double(src[i1]), x2 = double(src[i2]);
  dst[i1] = float(__dsub_rn(__dmul_rn(x1, c), __dmul_rn(x2, s)));
  dst[i2] = float(__dadd_rn(__dmul_rn(x2, c), __dmul_rn(x1, s)));
}

// x, y [B*T, H, D]; positions [B*T]. cached: the cos/sin table fits in shared memory (uniform over
// the launch, so the barrier below is reached by every thread or none).
__global__ void rope_kernel(const float* x, float* y, const int64_t* positions, int64_t H, int64_t D,
                            int64_t rotary_dim, double theta, bool interleaved, bool inverse, bool cached) {
  double* table = dynamic_smem<double>();  // [2, half]: cos, then sin (cached only)
  const int64_t bt = blockIdx.x;
  const int64_t half = rotary_dim / 2;
  const double pos = double(positions[bt]);
  fill_cos_sin_table(table, pos, rotary_dim, theta, inverse, cached);
  const float* xt = x + bt * H * D;
  float* yt = y + bt * H * D;

  for (int64_t e = threadIdx.x; e < H * half; e += blockDim.x) {
    const int64_t h = e / half, i = e - h * half;
    rotate_pair(xt + h * D, yt + h * D, i, pos, rotary_dim, theta, interleaved, inverse, cached, table);
  }

  const int64_t tail = D - rotary_dim;  // features past rotary_dim pass through
  for (int64_t e = threadIdx.x; e < H * tail; e += blockDim.x) {
    const int64_t h = e / tail, d = h * D + rotary_dim + (e - h * tail);
    yt[d] = xt[d];
  }
}

// One block per token (b, t) of rope_append: q's and k's pairs rotated with one cos/sin table, their
// tails and v copied. rope_kernel's table and rotate_pair, so the bits are the same.
__global__ void rope_append_kernel(const RopeAppendArgs a, bool cached) {
  double* table = dynamic_smem<double>();  // [2, half]: cos, then sin (cached only)
  wait_for_predecessor();  // a programmatic dependent (decode): q, k, v are the previous kernel's output
  allow_dependents();
  const int64_t bt = blockIdx.x, b = bt / a.T, t = bt - b * a.T;
  const int64_t half = a.rotary_dim / 2, D = a.D;
  const bool interleaved = a.layout == RopeLayout::interleaved;
  const double pos = double(a.positions[bt]);
  fill_cos_sin_table(table, pos, a.rotary_dim, a.theta, false, cached);
  // Head h of q (h < Hq) or of k (h - Hq): its source and destination rows.
  auto rows = [&](int64_t h, const float*& src, float*& dst) {
    if (h < a.Hq) {
      src = a.q + b * a.q_sb + t * a.q_st + h * a.q_sh;
      dst = a.q_out + b * a.qo_sb + t * a.qo_st + h * a.qo_sh;
    } else {
      h -= a.Hq;
      src = a.k + b * a.k_sb + t * a.k_st + h * a.k_sh;
      dst = a.k_dst + b * a.kd_sb + h * a.kd_sh + t * a.kd_st;
    }
  };
  const int64_t heads = a.Hq + a.Hkv;
  for (int64_t e = threadIdx.x; e < heads * half; e += blockDim.x) {
    const int64_t h = e / half, i = e - h * half;
    const float* src;
    float* dst;
    rows(h, src, dst);
    rotate_pair(src, dst, i, pos, a.rotary_dim, a.theta, interleaved, false, cached, table);
  }
  const int64_t tail = D - a.rotary_dim;  // features past rotary_dim pass through
  for (int64_t e = threadIdx.x; e < heads * tail; e += blockDim.x) {
    const int64_t h = e / tail, d = a.rotary_dim + (e - h * tail);
    const float* src;
    float* dst;
    rows(h, src, dst);
    dst[d] = src[d];
  }
  for (int64_t e = threadIdx.x; e < a.Hkv * D; e += blockDim.x) {
    const int64_t h = e / D, d = e - h * D;
    a.v_dst[b * a.vd_sb + h * a.vd_sh + t * a.vd_st + d] = a.v[b * a.v_sb + t * a.v_st + h * a.v_sh + d];
  }
}

// One launch's shape, shared by rope and rope_append: the argument checks, one block per token,
// and whether the cos/sin table fits in shared memory (smem bytes, 0 when it does not).
struct TokenLaunch {
  unsigned blocks;
  bool cached;
  size_t smem;
};
TokenLaunch token_launch(const char* op, int64_t tokens, int64_t D, int64_t rotary_dim) {
  RS_CHECK(rotary_dim >= 0 && rotary_dim % 2 == 0 && rotary_dim <= D, ValueError, op, "rotary_dim ", rotary_dim,
           " must be even and at most D = ", D);
  RS_CHECK(tokens <= 0x7fffffffLL, DeviceError, op, tokens, " tokens exceed the grid");
  const int64_t half = rotary_dim / 2;
  const bool cached = half <= kMaxCachedPairs;
  return {unsigned(tokens), cached, cached ? size_t(2 * half) * sizeof(double) : 0};
}

}  // namespace

void rope_append(const RopeAppendArgs& a, int device) {
  const TokenLaunch L = token_launch("rope_append", a.B * a.T, a.D, a.rotary_dim);
  if (L.blocks == 0 || a.D == 0) return;
  launch_dependent(rope_append_kernel, dim3(L.blocks), dim3(kThreads), L.smem, stream_for(device), "rope_append", a,
                   L.cached);
}

void rope(const float* x, float* y, const int64_t* positions, int64_t B, int64_t T, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse, int device) {
  const TokenLaunch L = token_launch("rope", B * T, D, rotary_dim);
  if (L.blocks == 0 || H * D == 0) return;
  launch_plain(rope_kernel, dim3(L.blocks), dim3(kThreads), L.smem, stream_for(device), "rope", x, y, positions, H, D,
               rotary_dim, theta, layout == RopeLayout::interleaved, inverse, L.cached);
}

}  // namespace rscapret::kernels::cuda
