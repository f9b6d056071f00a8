// The decode-row product with 16-bit weights (kernels/cpu/gemv_half): C[M, N] =
// A[M, K] @ W[N, K]^T, M <= 8, against the exact product, and each row's bits
// independent of the rows beside it (batched decoding must give one-row
// decoding's tokens).
//
// Bound: the widened weights are exact in f32, so the only error is f32
// summation of K terms: |C - exact| <= K u sum_k |a w| with u = 2^-24 (worst
// case for any order).
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/parallel.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

struct Operands {
  Tensor a;  // f32 [M, lda] (rows padded past K)
  Tensor w;  // bf16/f16 [N, ldw] (rows padded past K)
  int64_t M, K, N, lda, ldw;
};

Operands make(int64_t M, int64_t K, int64_t N, DType dt, uint64_t seed) {
  Generator g(seed);
  return {g.normal({M, K + 3}), g.normal({N, K + 5}).to(dt), M, K, N, K + 3, K + 5};
}

// fn() once on each SIMD target this machine runs (e.g. SSE4, AVX2 with 2-row
// passes, AVX-512 with 4-row passes), then back to the best.
template <typename F>
void on_every_target(F fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

std::vector<float> product(const Operands& o, int64_t row0, int64_t rows) {
  std::vector<float> c(size_t(rows * o.N), std::numeric_limits<float>::quiet_NaN());
  kernels::gemv_half(o.w.dtype() == DType::bf16, o.a.data<float>() + row0 * o.lda, o.lda, rows,
                     static_cast<const uint16_t*>(o.w.raw_data()), o.ldw, o.N, o.K, c.data(), o.N);
  return c;
}

TEST(GemvHalf, MatchesTheExactProductForEveryRowCount) {
  on_every_target([] {
    uint64_t seed = 1;
    for (DType dt : {DType::bf16, DType::f16})
      for (int64_t M = 1; M <= kernels::kGemvHalfMaxM; ++M)
        for (int64_t K : {1, 15, 16, 63, 64, 65, 130, 2051})
          for (int64_t N : {1, 3, 70}) {
            SCOPED_TRACE(std::string(dtype_name(dt)) + " M " + std::to_string(M) + " K " + std::to_string(K) + " N " +
                         std::to_string(N));
            const Operands o = make(M, K, N, dt, seed++);
            const std::vector<float> c = product(o, 0, M);
            const Tensor w32 = o.w.to(DType::f32);
            double worst = 0;
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                double exact = 0, scale = 0;
                for (int64_t k = 0; k < K; ++k) {
                  const double p = double(o.a.data<float>()[m * o.lda + k]) * w32.data<float>()[n * o.ldw + k];
                  exact += p;
                  scale += std::fabs(p);
                }
                const float v = c[size_t(m * N + n)];
                ASSERT_TRUE(std::isfinite(v)) << m << "," << n << " not written";
                worst = std::max(worst, std::fabs(v - exact) / (double(K) * std::ldexp(1.0, -24) * scale + 1e-30));
              }
            EXPECT_LE(worst, 1.0) << "error beyond K u sum|aw|";
          }
  });
}

// Row m of an M-row product has the bits of the one-row product of row m, for
// every M and offset.
TEST(GemvHalf, EachRowHasTheBitsOfItsOneRowProduct) {
  on_every_target([] {
    for (DType dt : {DType::bf16, DType::f16})
      for (int64_t K : {7, 64, 100, 4099}) {
        const Operands o = make(kernels::kGemvHalfMaxM, K, 37, dt, uint64_t(K));
        std::vector<std::vector<float>> alone;
        for (int64_t m = 0; m < o.M; ++m) alone.push_back(product(o, m, 1));
        for (int64_t M = 2; M <= o.M; ++M)
          for (int64_t row0 = 0; row0 + M <= o.M; ++row0) {
            const std::vector<float> c = product(o, row0, M);
            for (int64_t m = 0; m < M; ++m)
              EXPECT_EQ(0, std::memcmp(c.data() + m * o.N, alone[size_t(row0 + m)].data(), size_t(o.N) * sizeof(float)))
                  << dtype_name(dt) << " K " << K << ": row " << m << " of " << M << " rows from " << row0;
          }
      }
  });
}

// Threads split the weight rows in blocks of 64, which tiles of 6 or 8 weight rows do not divide:
// the bits must not move (2 and 3 rows of A take tiles of 8 and 6).
TEST(GemvHalf, ResultDoesNotDependOnThreadCount) {
  const int before = kernels::num_threads();
  for (int64_t M : {1, 2, 3, 5}) {
    const Operands o = make(M, 300, 131, DType::bf16, uint64_t(40 + M));
    kernels::set_num_threads(1);
    const std::vector<float> one = product(o, 0, M);
    kernels::set_num_threads(2);
    const std::vector<float> two = product(o, 0, M);
    kernels::set_num_threads(3);
    const std::vector<float> three = product(o, 0, M);
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float))) << "M " << M;
    EXPECT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * sizeof(float))) << "M " << M;
  }
  kernels::set_num_threads(before);
}

// A NaN in one row of A poisons that row's outputs only.
TEST(GemvHalf, NaNStaysInItsRow) {
  Operands o = make(6, 40, 9, DType::bf16, 5);
  o.a.data<float>()[2 * o.lda + 17] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> c = product(o, 0, 6);
  for (int64_t m = 0; m < 6; ++m)
    for (int64_t n = 0; n < 9; ++n) EXPECT_EQ(std::isnan(c[size_t(m * 9 + n)]), m == 2) << m << "," << n;
}

}  // namespace
}  // namespace rscapret::testing
