// LayerNorm (biased variance, as PyTorch) and RMSNorm (LLaMA: x * rsqrt(mean(x^2) + eps) * w).
#include <cmath>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
void layer_norm(const T* x, const T* w, const T* b, T* y, T* mean_out, T* rstd_out, int64_t rows,
                int64_t cols, T eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double mean = 0;
    for (int64_t i = 0; i < cols; ++i) mean += double(xr[i]);
    mean /= double(cols);
    double var = 0;
    for (int64_t i = 0; i < cols; ++i) var += (double(xr[i]) - mean) * (double(xr[i]) - mean);
    var /= double(cols);
    const double rstd = 1.0 / std::sqrt(var + double(eps));
    for (int64_t i = 0; i < cols; ++i) {
      double v = (double(xr[i]) - mean) * rstd;
      if (w) v *= double(w[i]);
      if (b) v += double(b[i]);
      yr[i] = T(v);
    }
    if (mean_out) mean_out[r] = T(mean);
    if (rstd_out) rstd_out[r] = T(rstd);
  }
}

template <typename T>
void rms_norm(const T* x, const T* w, T* y, T* rstd_out, int64_t rows, int64_t cols, T eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double ss = 0;
    for (int64_t i = 0; i < cols; ++i) ss += double(xr[i]) * double(xr[i]);
    const double rstd = 1.0 / std::sqrt(ss / double(cols) + double(eps));
    for (int64_t i = 0; i < cols; ++i) yr[i] = T(double(xr[i]) * rstd * (w ? double(w[i]) : 1.0));
    if (rstd_out) rstd_out[r] = T(rstd);
  }
}

template void layer_norm<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                int64_t, float);
template void layer_norm<double>(const double*, const double*, const double*, double*, double*, double*,
                                 int64_t, int64_t, double);
template void rms_norm<float>(const float*, const float*, float*, float*, int64_t, int64_t, float);
template void rms_norm<double>(const double*, const double*, double*, double*, int64_t, int64_t, double);

}  // namespace rscapret::kernels::ref
