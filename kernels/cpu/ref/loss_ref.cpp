// Cross-entropy per row: logsumexp(logits) - logits[target], in double.
#include <cmath>
#include <limits>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
void cross_entropy_rows(const T* logits, const int64_t* targets, T* loss, int64_t rows, int64_t V,
                        int64_t ignore_index) {
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] == ignore_index) { loss[r] = T(0); continue; }
    const T* row = logits + r * V;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < V; ++i) m = std::max(m, double(row[i]));
    double s = 0;
    for (int64_t i = 0; i < V; ++i) s += std::exp(double(row[i]) - m);
    loss[r] = T(m + std::log(s) - double(row[targets[r]]));
  }
}

template void cross_entropy_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void cross_entropy_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);

}  // namespace rscapret::kernels::ref
