// AdamW over many tensors in one launch, the same bits as kernels::ref::adamw_update.
//
// Up to kMaxTensors tensors go in a descriptor table passed as a kernel parameter (no device copy
// of the table, nothing to allocate or keep alive); more tensors take several launches. Each
// tensor is cut into blocks of kElemsPerBlock elements; block_start is the prefix sum of the
// tensors' block counts, and a block finds its tensor by binary search in it.
//
// Arithmetic: the hyper-parameters are rounded to f32 on the host exactly as the reference does,
// and every operation is written with an explicit round-to-nearest intrinsic (__fmul_rn, ...),
// which nvcc never contracts into an FMA; with IEEE sqrt and division this is the reference's
// operation order (compiled there with fp-contract off), so the results are bit-identical.
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

constexpr int kMaxTensors = 64;
constexpr int kThreads = 256;
constexpr int64_t kElemsPerBlock = 4096;  // 16 per thread

struct Table {
  float* p[kMaxTensors];
  const float* g[kMaxTensors];
  float* m[kMaxTensors];
  float* v[kMaxTensors];
  int64_t n[kMaxTensors];
  int64_t block_start[kMaxTensors + 1];  // block_start[count] = blocks of the launch
  int count;
};

// The per-step constants in f32, formed as in kernels::ref::adamw_update.
struct Consts {
  float decay;          // 1 - lr wd
  float c;              // lerp coefficient: m + c (g - m), or g + c (g - m)
  float b2, one_minus_b2;
  float neg_step_size;  // -lr / bc1
  float sqrt_bc2;
  float eps;
  bool from_m;          // which lerp form
};

// The classic limit of kernel parameters is 4 KiB.
static_assert(sizeof(Table) + sizeof(Consts) <= 4000, "AdamW descriptor table too large for kernel parameters");

// __grid_constant__: the table is read in place from parameter memory (with a dynamic index),
// never copied to each thread's local memory.
__global__ void adamw_kernel(const __grid_constant__ Table tab, const Consts k) {
  const int64_t b = blockIdx.x;
  // The last tensor whose first block is <= b (tensors with no element are not in the table).
  int lo = 0, hi = tab.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (tab.block_start[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  float* P = tab.p[lo];
  const float* G = tab.g[lo];
  float* M = tab.m[lo];
  float* V = tab.v[lo];
  const int64_t begin = (b - tab.block_start[lo]) * kElemsPerBlock;
  const int64_t end = begin + kElemsPerBlock < tab.n[lo] ? begin + kElemsPerBlock : tab.n[lo];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float g = G[i];
    const float m_old = M[i];
    const float p = __fmul_rn(P[i], k.decay);                                            // p *= decay
    const float m = __fadd_rn(k.from_m ? m_old : g, __fmul_rn(k.c, __fsub_rn(g, m_old)));  // lerp
    const float v = __fadd_rn(__fmul_rn(V[i], k.b2), __fmul_rn(__fmul_rn(k.one_minus_b2, g), g));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), k.sqrt_bc2), k.eps);
    P[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(k.neg_step_size, m), denom));
    M[i] = m;
    V[i] = v;
  }
}

Consts make_consts(const AdamWStep& s) {
  // Line for line the constants of kernels::ref::adamw_update<float>.
  Consts k{};
  k.decay = float(1.0 - s.lr * s.weight_decay);
  const double w = 1.0 - s.beta1;
  k.from_m = std::abs(w) < 0.5;
  k.c = k.from_m ? float(w) : -(1.0f - float(w));
  k.b2 = float(s.beta2);
  k.one_minus_b2 = float(1.0 - s.beta2);
  k.neg_step_size = float(-s.lr / s.bias_correction1);
  k.sqrt_bc2 = float(std::sqrt(s.bias_correction2));
  k.eps = float(s.eps);
  return k;
}

}  // namespace

void adamw_update(const AdamWTensor* tensors, int count, const AdamWStep& step, int device) {
  const Consts k = make_consts(step);
  int i = 0;
  while (i < count) {
    Table tab{};
    int64_t blocks = 0;
    for (; i < count && tab.count < kMaxTensors; ++i) {
      const AdamWTensor& t = tensors[i];
      RS_CHECK(t.n >= 0, ValueError, "adamw_update", "tensor ", i, " has ", t.n, " elements");
      if (t.n == 0) continue;
      tab.p[tab.count] = t.p;
      tab.g[tab.count] = t.g;
      tab.m[tab.count] = t.m;
      tab.v[tab.count] = t.v;
      tab.n[tab.count] = t.n;
      tab.block_start[tab.count] = blocks;
      blocks += (t.n + kElemsPerBlock - 1) / kElemsPerBlock;
      ++tab.count;
    }
    tab.block_start[tab.count] = blocks;
    if (blocks == 0) continue;  // only empty tensors in this batch
    RS_CHECK(blocks <= 0x7fffffffLL, DeviceError, "adamw_update", blocks, " blocks exceed the grid");
    launch_plain(adamw_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, stream_for(device), "adamw_update", tab, k);
  }
}

}  // namespace rscapret::kernels::cuda
