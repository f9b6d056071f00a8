// Scalar reductions over the last axis. Sums accumulate in double so the reference is at least as
// accurate as any fast kernel it judges.
#include <cmath>
#include <limits>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
void reduce_rows(ReduceOp op, const T* x, T* out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    switch (op) {
      case ReduceOp::sum:
      case ReduceOp::mean: {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += double(row[i]);
        out[r] = T(op == ReduceOp::mean ? s / double(n) : s);
        break;
      }
      case ReduceOp::max: {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < n; ++i) m = (row[i] > m || std::isnan(row[i])) ? row[i] : m;
        out[r] = m;
        break;
      }
      case ReduceOp::logsumexp: {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < n; ++i) m = std::max(m, row[i]);
        if (std::isinf(m)) { out[r] = m; break; }  // all -inf -> -inf; +inf -> +inf
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += std::exp(double(row[i]) - double(m));
        out[r] = T(double(m) + std::log(s));
        break;
      }
    }
  }
}

template <typename T>
void argmax_rows(const T* x, int64_t* out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    int64_t best = 0;  // first maximum wins, as in PyTorch
    for (int64_t i = 1; i < n; ++i)
      if (row[i] > row[best]) best = i;
    out[r] = best;
  }
}

template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    T* o = y + r * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, row[i]);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(double(row[i]) - double(m));
    const double lse = std::log(s);
    for (int64_t i = 0; i < n; ++i) {
      const double z = double(row[i]) - double(m);
      o[i] = T(log ? z - lse : std::exp(z) / s);
    }
  }
}

#define RS_INSTANTIATE(T)                                                    \
  template void reduce_rows<T>(ReduceOp, const T*, T*, int64_t, int64_t);    \
  template void argmax_rows<T>(const T*, int64_t*, int64_t, int64_t);        \
  template void softmax_rows<T>(const T*, T*, int64_t, int64_t, bool);
RS_INSTANTIATE(float)
RS_INSTANTIATE(double)
#undef RS_INSTANTIATE

}  // namespace rscapret::kernels::ref
