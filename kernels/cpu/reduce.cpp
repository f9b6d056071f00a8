// Row-wise f32 reductions over the last axis: sum, mean, max, logsumexp, argmax, softmax,
// log_softmax, and cross-entropy (a softmax reduction plus one gather). Rows go to threads whole,
// so every result is independent of the thread count.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/reduce.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE float RowSum(const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);  // two accumulators hide the add latency
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::LoadU(d, x + i));
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += x[i];
  return s;
}

HWY_INLINE float RowMax(const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  float m = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  if (n >= N) {
    auto vm = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vm = hn::Max(vm, hn::LoadU(d, x + i));
    m = hn::GetLane(hn::MaxOfLanes(d, vm));
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// sum_i exp(x[i] - m); with y != null also stores the exponentials.
HWY_INLINE float RowSumExp(const float* HWY_RESTRICT x, float m, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  auto s = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    if (y) hn::StoreU(e, d, y + i);
    s = hn::Add(s, e);
  }
  float total = hn::GetLane(hn::SumOfLanes(d, s));
  for (; i < n; ++i) {
    const float e = std::exp(x[i] - m);
    if (y) y[i] = e;
    total += e;
  }
  return total;
}

void ReduceRowsF32(ReduceOp op, const float* HWY_RESTRICT x, float* HWY_RESTRICT out, int64_t r0,
                   int64_t r1, int64_t n) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * n;
    switch (op) {
      case ReduceOp::sum: out[r] = RowSum(row, n); break;
      case ReduceOp::mean: out[r] = RowSum(row, n) / float(n); break;
      case ReduceOp::max: out[r] = RowMax(row, n); break;
      case ReduceOp::logsumexp: {
        const float m = RowMax(row, n);
        out[r] = std::isinf(m) ? m : m + std::log(RowSumExp(row, m, nullptr, n));
        break;
      }
    }
  }
}

void ArgmaxRowsF32(const float* HWY_RESTRICT x, int64_t* HWY_RESTRICT out, int64_t r0, int64_t r1, int64_t n) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * n;
    const float m = RowMax(row, n);
    int64_t best = 0;
    while (best < n - 1 && !(row[best] == m)) ++best;  // first maximum, as PyTorch
    out[r] = best;
  }
}

void SoftmaxRowsF32(const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t r0, int64_t r1, int64_t n,
                    bool log) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * n;
    float* o = y + r * n;
    const float m = RowMax(row, n);
    int64_t i = 0;
    if (log) {
      // (x - m) - log(s), not x - (m + log(s)): with |x| ~ 1e4 the combined shift would lose
      // the bits of log(s) to the rounding of m.
      const float lse = std::log(RowSumExp(row, m, nullptr, n));
      const auto vm = hn::Set(d, m), vl = hn::Set(d, lse);
      for (; i + N <= n; i += N) hn::StoreU(hn::Sub(hn::Sub(hn::LoadU(d, row + i), vm), vl), d, o + i);
      for (; i < n; ++i) o[i] = (row[i] - m) - lse;
    } else {
      const float inv = 1.0f / RowSumExp(row, m, o, n);
      const auto vi = hn::Set(d, inv);
      for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, o + i), vi), d, o + i);
      for (; i < n; ++i) o[i] *= inv;
    }
  }
}

void CrossEntropyRowsF32(const float* HWY_RESTRICT logits, const int64_t* HWY_RESTRICT targets,
                         float* HWY_RESTRICT loss, int64_t r0, int64_t r1, int64_t V, int64_t ignore) {
  for (int64_t r = r0; r < r1; ++r) {
    if (targets[r] == ignore) { loss[r] = 0.0f; continue; }
    const float* row = logits + r * V;
    const float m = RowMax(row, V);
    loss[r] = m + std::log(RowSumExp(row, m, nullptr, V)) - row[targets[r]];
  }
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(ReduceRowsF32);
HWY_EXPORT(ArgmaxRowsF32);
HWY_EXPORT(SoftmaxRowsF32);
HWY_EXPORT(CrossEntropyRowsF32);

namespace simd {


void reduce_rows(ReduceOp op, const float* x, float* out, int64_t rows, int64_t n) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(ReduceRowsF32)(op, x, out, b, e, n);
  });
}
void argmax_rows(const float* x, int64_t* out, int64_t rows, int64_t n) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(ArgmaxRowsF32)(x, out, b, e, n);
  });
}
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(SoftmaxRowsF32)(x, y, b, e, n, log);
  });
}
void cross_entropy_rows(const float* logits, const int64_t* targets, float* loss, int64_t rows, int64_t V,
                        int64_t ignore_index) {
  parallel_for(0, rows, row_grain(V), [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(CrossEntropyRowsF32)(logits, targets, loss, b, e, V, ignore_index);
  });
}

void sum_middle(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  constexpr int64_t kCols = 1024;  // columns per task: enough work, and the row slice stays in L1
  const int64_t col_chunks = (inner + kCols - 1) / kCols;
  parallel_for(0, outer * col_chunks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / col_chunks, c0 = (t % col_chunks) * kCols, len = std::min(kCols, inner - c0);
      float* dst = out + o * inner + c0;
      std::fill(dst, dst + len, 0.0f);
      for (int64_t j = 0; j < n; ++j) accumulate(dst, x + (o * n + j) * inner + c0, len);
    }
  });
}

}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
