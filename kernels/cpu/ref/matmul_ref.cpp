// Naive matmul with double accumulation: C[M,N] = A[M,K] @ B[K,N], arbitrary element strides.
#include "kernels/cpu/ref/ref_kernels.h"

#include <cmath>

#include "tensor/dtype.h"

namespace rscapret::kernels::ref {

template <typename T>
void matmul(const T* A, int64_t sam, int64_t sak, const T* B, int64_t sbk, int64_t sbn, T* C, int64_t M,
            int64_t K, int64_t N) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(A[m * sam + k * sak]) * double(B[k * sbk + n * sbn]);
      C[m * N + n] = T(acc);
    }
}

void matmul_bf16_products(const float* A, int64_t sam, int64_t sak, const float* B, int64_t sbk, int64_t sbn,
                          double* C, double* absC, int64_t M, int64_t K, int64_t N) {
  auto round = [](float x) { return double(bf16_to_f32(f32_to_bf16(x))); };
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0, abs_acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = round(A[m * sam + k * sak]) * round(B[k * sbk + n * sbn]);
        acc += p;
        abs_acc += std::fabs(p);
      }
      C[m * N + n] = acc;
      absC[m * N + n] = abs_acc;
    }
}

template void matmul<float>(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t,
                            int64_t, int64_t);
template void matmul<double>(const double*, int64_t, int64_t, const double*, int64_t, int64_t, double*,
                             int64_t, int64_t, int64_t);

}  // namespace rscapret::kernels::ref
