// q8_0 weights (kernels/cpu/quant_q8): quantization against its stated rounding bound, and the
// products with f32 activations against the reference in double.
//
// Bounds. Quantization: |w - d q| <= d / 2 per weight (q is the nearest code to w / d; the
// division's own rounding adds at most 127 u d, u = 2^-24). Products: the reference sums the exact
// products a * (q d) in double; the kernels round each weight q d to f32 (relative u) and sum K
// terms in f32, so |C - ref| <= (K + 1) u sum_k |a w| for any summation order.
#include <cmath>
#include <cstring>
#include <limits>

#include <hwy/targets.h>

#include "autograd/autograd.h"
#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/quant_q8.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

namespace k = kernels;

// A quantized [N, K] weight with its storage.
struct Q8 {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  int64_t N, K;
  k::Q8Matrix view() const { return {codes.data(), scales.data(), N, K}; }
};

Q8 quantize(const Tensor& w) {  // w [N, K], dense rows
  Q8 q{std::vector<int8_t>(size_t(w.numel())), std::vector<float>(size_t(w.shape()[0] * k::q8_blocks(w.shape()[1]))),
       w.shape()[0], w.shape()[1]};
  k::quantize_q8({w.raw_data(), w.dtype(), w.strides()[0], 1}, q.N, q.K, q.codes.data(), q.scales.data());
  return q;
}

double dequant(const Q8& q, int64_t n, int64_t kk) {
  return double(q.codes[size_t(n * q.K + kk)]) * double(q.scales[size_t(n * k::q8_blocks(q.K) + kk / 32)]);
}

TEST(QuantQ8, EveryWeightWithinHalfAStepOfItsCode) {
  Generator g(1);
  for (const int64_t K : {1, 31, 32, 33, 100, 4096})
    for (const DType dt : {DType::f32, DType::bf16, DType::f16}) {
      SCOPED_TRACE("K " + std::to_string(K) + " " + std::string(dtype_name(dt)));
      Tensor w = g.normal({7, K}, 0.0, 0.05).to(dt);
      const Tensor w32 = w.to(DType::f32);
      const Q8 q = quantize(w);
      const int64_t blocks = k::q8_blocks(K);
      for (int64_t n = 0; n < 7; ++n)
        for (int64_t b = 0; b < blocks; ++b) {
          const float d = q.scales[size_t(n * blocks + b)];
          float amax = 0;
          int largest_code = 0;
          for (int64_t kk = 32 * b; kk < std::min(K, 32 * b + 32); ++kk) {
            const double x = w32.data<float>()[n * K + kk];
            amax = std::max(amax, float(std::fabs(x)));
            const int code = q.codes[size_t(n * K + kk)];
            ASSERT_LE(std::abs(code), 127);
            largest_code = std::max(largest_code, std::abs(code));
            ASSERT_LE(std::fabs(x - dequant(q, n, kk)), d * (0.5 + 128 * std::ldexp(1.0, -24))) << n << "," << kk;
          }
          EXPECT_EQ(d, amax / 127.0f);
          EXPECT_EQ(largest_code, 127) << "the largest weight of a block takes the largest code";
        }
    }
}

TEST(QuantQ8, ZeroBlocksAndTiesAreExact) {
  // A block of zeros has scale 0 and codes 0; a half-way value rounds to the even code.
  std::vector<float> w(40, 0.0f);
  w[32] = 127.0f;
  w[33] = 2.5f;   // 2.5 steps: the even code 2
  w[34] = -3.5f;  // -3.5 steps: the even code -4
  const Tensor t = Tensor::from_vector(w, {1, 40});
  const Q8 q = quantize(t);
  EXPECT_EQ(q.scales[0], 0.0f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q.codes[size_t(i)], 0);
  EXPECT_EQ(q.scales[1], 1.0f);
  EXPECT_EQ(q.codes[32], 127);
  EXPECT_EQ(q.codes[33], 2);
  EXPECT_EQ(q.codes[34], -4);
}

TEST(QuantQ8, NonFiniteWeightsAreRefusedWithTheirRow) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Tensor w = Generator(2).normal({5, 40});
    w.data<float>()[3 * 40 + 39] = bad;
    try {
      quantize(w);
      ADD_FAILURE() << "no error";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("row 3"), std::string::npos) << e.what();
    }
  }
}

// Checks C = A @ dequant(W)^T for A [M, K] stored with row stride lda >= K, by gemm_q8 or, with
// tiles, by its portable path (what a CPU without AVX-512 runs above kGemvQ8MaxM rows).
void check_product(int64_t M, int64_t K, int64_t N, int64_t lda, uint64_t seed, bool tiles = false) {
  SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N) + " lda " +
               std::to_string(lda));
  Generator g(seed);
  const Tensor a = g.normal({M, lda});
  const Q8 q = quantize(g.normal({N, K}, 0.0, 0.02));
  std::vector<float> got(size_t(M * N), std::numeric_limits<float>::quiet_NaN());
  if (tiles) k::gemm_q8_dequantized_tiles(a.data<float>(), lda, q.view(), M, got.data());
  else k::gemm_q8(a.data<float>(), lda, q.view(), M, got.data());
  std::vector<double> want(got.size());
  std::vector<double> a64(size_t(M * lda));
  for (size_t i = 0; i < a64.size(); ++i) a64[i] = a.data<float>()[i];
  k::ref::matmul_q8<double>(a64.data(), lda, q.codes.data(), q.scales.data(), want.data(), M, N, K);
  double worst = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double scale = 0;
      for (int64_t kk = 0; kk < K; ++kk) scale += std::fabs(a64[size_t(m * lda + kk)] * dequant(q, n, kk));
      const float v = got[size_t(m * N + n)];
      ASSERT_TRUE(std::isfinite(v)) << "element " << m << "," << n << " not written or not finite";
      worst = std::max(worst, std::fabs(v - want[size_t(m * N + n)]) /
                                  (double(K + 1) * std::ldexp(1.0, -24) * scale + 1e-30));
    }
  EXPECT_LE(worst, 1.0) << "error beyond (K + 1) u sum|a w|";
}

TEST(QuantQ8, ProductMatchesReferenceOnEveryEdge) {
  // The streaming path for every M up to kGemvQ8MaxM, the packed panels above it; K with and
  // without a partial last block, a K below one block, odd K (A copied with a zero column), K past
  // one packed block (kPacked16Kc), strided A, partial 64-column panels. Then the portable tiles,
  // with N past one dequantized tile (at K = 8192 a tile holds 512 rows).
  uint64_t seed = 10;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {  // the streaming path on every SIMD target
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    for (const int64_t M : {1, 2, 3, 5, 8})
      for (const int64_t K : {1, 31, 32, 33, 100, 2048})
        for (const int64_t N : {1, 3, 70}) check_product(M, K, N, K + (M % 2) * 3, seed++);
  }
  hwy::SetSupportedTargetsForTest(0);
  for (const int64_t M : {9, 40})
    for (const int64_t K : {1, 33, 96, 257}) check_product(M, K, 65, K + 5, seed++);
  check_product(1, 8192, 600, 8192, seed++);
  check_product(9, 8192, 600, 8192, seed++);
  check_product(100, 2100, 130, 2100, seed++);
  for (const int64_t M : {1, 9, 40}) check_product(M, 257, 65, 260, seed++, /*tiles=*/true);
  check_product(9, 8192, 600, 8192, seed++, /*tiles=*/true);
}

TEST(QuantQ8, TransposedProductMatchesReference) {
  // dX[M, K] = G[M, N] @ dequant(W) [N, K]: packed panels of W's rows (odd N: a padded G and a zero
  // pad row; K past one 64-column panel and partial; N past one packed block), and the portable
  // tiles with N past one tile (several partial sums added).
  uint64_t seed = 40;
  for (const auto& [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 33, 17}, {12, 64, 70}, {9, 8192, 600},
                                {30, 100, 1}, {20, 130, 2051}, {7, 16, 3}}) {
    SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N));
    Generator g(seed++);
    const Tensor G = g.normal({M, N});
    const Q8 q = quantize(g.normal({N, K}, 0.0, 0.02));
    for (const bool tiles : {false, true}) {
    SCOPED_TRACE(tiles ? "portable tiles" : "gemm_q8_transposed");
    std::vector<float> got(size_t(M * K), std::numeric_limits<float>::quiet_NaN());
    if (tiles) k::gemm_q8_transposed_dequantized_tiles(G.data<float>(), q.view(), M, got.data());
    else k::gemm_q8_transposed(G.data<float>(), q.view(), M, got.data());
    double worst = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t kk = 0; kk < K; ++kk) {
        double want = 0, scale = 0;
        for (int64_t n = 0; n < N; ++n) {
          const double p = double(G.data<float>()[m * N + n]) * dequant(q, n, kk);
          want += p;
          scale += std::fabs(p);
        }
        const float v = got[size_t(m * K + kk)];
        ASSERT_TRUE(std::isfinite(v)) << m << "," << kk;
        worst = std::max(worst, std::fabs(v - want) / (double(N + 1) * std::ldexp(1.0, -24) * scale + 1e-30));
      }
    EXPECT_LE(worst, 1.0) << "error beyond (N + 1) u sum|g w|";
    }
  }
}

TEST(QuantQ8, DequantizedRowsAreCodeTimesScale) {
  const Q8 q = quantize(Generator(5).normal({9, 70}));
  std::vector<float> rows(size_t(4 * 70));
  k::dequantize_q8_rows(q.view(), 3, 7, rows.data());
  for (int64_t n = 3; n < 7; ++n)
    for (int64_t kk = 0; kk < 70; ++kk) ASSERT_EQ(rows[size_t((n - 3) * 70 + kk)], float(dequant(q, n, kk)));
}

TEST(QuantQ8, ResultsDoNotDependOnThreadCount) {
  Generator g(6);
  const Tensor a = g.normal({20, 300});
  const Q8 q = quantize(g.normal({150, 300}));
  const int before = k::num_threads();
  for (const int64_t M : {1, 2, 3, 4, 20}) {  // 2 and 3 rows: tiles of 6 weight rows, misaligned with the grain
    std::vector<float> one(size_t(M * 150)), two(size_t(M * 150));
    k::set_num_threads(1);
    k::gemm_q8(a.data<float>(), 300, q.view(), M, one.data());
    k::set_num_threads(4);
    k::gemm_q8(a.data<float>(), 300, q.view(), M, two.data());
    if (M > k::kGemvQ8MaxM && !k::cpu_has_avx512()) {
      // Without AVX-512 more than 8 rows go to OpenBLAS's sgemm over dequantized tiles, whose sums
      // follow its own thread split (measured on an AVX2-only EPYC: M = 20 differs in the last
      // bits between 1 and 4 threads): there, agreement to f32 rounding over K = 300.
      double worst = 0;
      for (size_t i = 0; i < one.size(); ++i)
        worst = std::max(worst, double(std::fabs(one[i] - two[i])) / (std::fabs(double(one[i])) + 1.0));
      EXPECT_LE(worst, 300 * std::ldexp(1.0, -24)) << "M " << M;
      continue;
    }
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float))) << "M " << M;
  }
  k::set_num_threads(before);
}

// Up to kGemvQ8MaxM rows (decode), row m of an M-row product has the bits of the one-row product of
// row m, with f32 activations on every SIMD target and with int8 activations (VNNI): batched
// decoding with q8_0 weights gives one-row decoding's tokens.
TEST(QuantQ8, EachDecodeRowHasTheBitsOfItsOneRowProduct) {
  Generator g(8);
  const auto check = [](const Tensor& a, const Q8& q, int64_t K) {
    std::vector<std::vector<float>> alone;
    for (int64_t m = 0; m < k::kGemvQ8MaxM; ++m) {
      alone.emplace_back(37);
      k::gemm_q8(a.data<float>() + m * K, K, q.view(), 1, alone.back().data());
    }
    for (int64_t M = 2; M <= k::kGemvQ8MaxM; ++M)
      for (int64_t row0 = 0; row0 + M <= k::kGemvQ8MaxM; ++row0) {
        std::vector<float> c(size_t(M * 37));
        k::gemm_q8(a.data<float>() + row0 * K, K, q.view(), M, c.data());
        for (int64_t m = 0; m < M; ++m)
          EXPECT_EQ(0, std::memcmp(c.data() + m * 37, alone[size_t(row0 + m)].data(), 37 * sizeof(float)))
              << "row " << m << " of " << M << " rows from " << row0;
      }
  };
  for (const int64_t K : {int64_t(40), int64_t(320), int64_t(4099)}) {
    const Tensor a = g.normal({k::kGemvQ8MaxM, K});
    const Q8 q = quantize(g.normal({37, K}));
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
      SCOPED_TRACE(std::string(hwy::TargetName(target)) + " K " + std::to_string(K));
      hwy::SetSupportedTargetsForTest(target);
      check(a, q, K);
    }
    hwy::SetSupportedTargetsForTest(0);
    if (k::cpu_has_vnni()) {
      SCOPED_TRACE("int8 activations, K " + std::to_string(K));
      const k::MatmulPrecisionGuard int8(k::MatmulPrecision::int8);
      check(a, q, K);
    }
  }
}

TEST(QuantQ8, NaNInActivationsPropagates) {
  Generator g(7);
  Tensor a = g.normal({12, 64});
  a.data<float>()[5 * 64 + 3] = std::numeric_limits<float>::quiet_NaN();
  const Q8 q = quantize(g.normal({10, 64}));
  for (const int64_t M : {int64_t(6), int64_t(12)}) {
    std::vector<float> c(size_t(M * 10));
    k::gemm_q8(a.data<float>(), 64, q.view(), M, c.data());
    for (int64_t n = 0; n < 10; ++n) {
      EXPECT_TRUE(std::isnan(c[size_t(5 * 10 + n)])) << "M " << M << " n " << n;
      EXPECT_TRUE(std::isfinite(c[size_t(4 * 10 + n)]));
    }
  }
}


// ---- int8 activations (MatmulPrecision::int8, AVX-512 VNNI) ----
//
// Against the exact product of the two quantized operands, sum_b s_a s_w sum_k q_a q_w (double):
// the integer block sums are exact, so the error is the f32 scaling and summation over the
// K / 64 steps and 16 lanes: bounded by (K / 64 + 20) u sum |a_q s_a w_q s_w|. Against the f32
// activations, the activations' rounding adds sum_k |w_k| s_a / 2.

#define REQUIRE_VNNI() \
  if (!k::cpu_has_vnni()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI"

void check_int8_activations(int64_t M, int64_t K, int64_t N, uint64_t seed) {
  SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N));
  Generator g(seed);
  const Tensor a = g.normal({M, K});
  const Q8 q = quantize(g.normal({N, K}, 0.0, 0.02));
  std::vector<float> got(size_t(M * N), std::numeric_limits<float>::quiet_NaN()), f32(got.size());
  ASSERT_TRUE(k::gemv_q8_int8_activations(a.data<float>(), K, M, q.view(), got.data()));
  k::gemm_q8(a.data<float>(), K, q.view(), M, f32.data());
  const Q8 aq = quantize(a);  // the activations as the kernel quantizes them (the same rows, 32 per block)
  double worst_exact = 0, worst_f32 = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double exact = 0, scale = 0, rounding = 0;
      for (int64_t kk = 0; kk < K; ++kk) {
        const double p = dequant(aq, m, kk) * dequant(q, n, kk);
        exact += p;
        scale += std::fabs(p);
        rounding += std::fabs(dequant(q, n, kk)) * aq.scales[size_t(m * k::q8_blocks(K) + kk / 32)] / 2;
      }
      const double v = got[size_t(m * N + n)];
      ASSERT_TRUE(std::isfinite(v)) << m << "," << n;
      const double sum_bound = (double(K) / 64 + 20) * std::ldexp(1.0, -24) * scale + 1e-30;
      worst_exact = std::max(worst_exact, std::fabs(v - exact) / sum_bound);
      // The f32-activation result carries its own summation error, (K + 1) u sum |a w| (above).
      double f32_scale = 0;
      for (int64_t kk = 0; kk < K; ++kk) f32_scale += std::fabs(double(a.data<float>()[m * K + kk]) * dequant(q, n, kk));
      const double f32_err = double(K + 1) * std::ldexp(1.0, -24) * f32_scale;
      worst_f32 = std::max(worst_f32, std::fabs(v - f32[size_t(m * N + n)]) / (rounding + sum_bound + f32_err));
    }
  EXPECT_LE(worst_exact, 1.0) << "beyond the f32 summation bound of the exact quantized product";
  EXPECT_LE(worst_f32, 1.0) << "beyond the activations' rounding from the f32-activation product";
}

TEST(QuantQ8Int8, MatchesTheExactQuantizedProduct) {
  REQUIRE_VNNI();
  // Whole pairs of blocks, a lone last block, a partial last block, K under one block.
  uint64_t seed = 60;
  for (const int64_t M : {1, 2, 3, 5, 8})
    for (const int64_t K : {1, 32, 33, 64, 100, 4096, 4000})
      for (const int64_t N : {1, 3, 70}) check_int8_activations(M, K, N, seed++);
}

TEST(QuantQ8Int8, GemmTakesItOnlyWhenAskedAndOnlyForDecodeRows) {
  REQUIRE_VNNI();
  Generator g(70);
  const Tensor a = g.normal({12, 256});
  const Q8 q = quantize(g.normal({40, 256}));
  std::vector<float> f32(12 * 40), int8(12 * 40), direct(2 * 40);
  k::gemm_q8(a.data<float>(), 256, q.view(), 2, f32.data());
  {
    const k::MatmulPrecisionGuard guard(k::MatmulPrecision::int8);
    k::gemm_q8(a.data<float>(), 256, q.view(), 2, int8.data());
  }
  ASSERT_TRUE(k::gemv_q8_int8_activations(a.data<float>(), 256, 2, q.view(), direct.data()));
  EXPECT_EQ(0, std::memcmp(int8.data(), direct.data(), direct.size() * sizeof(float)));
  EXPECT_NE(0, std::memcmp(int8.data(), f32.data(), direct.size() * sizeof(float))) << "int8 changed nothing";
  // Above kGemvQ8MaxM rows the f32 path runs whatever the precision.
  k::gemm_q8(a.data<float>(), 256, q.view(), 12, f32.data());
  {
    const k::MatmulPrecisionGuard guard(k::MatmulPrecision::int8);
    k::gemm_q8(a.data<float>(), 256, q.view(), 12, int8.data());
  }
  EXPECT_EQ(0, std::memcmp(int8.data(), f32.data(), f32.size() * sizeof(float)));
}

TEST(QuantQ8Int8, NaNFallsBackAndPropagates) {
  REQUIRE_VNNI();
  Generator g(71);
  Tensor a = g.normal({2, 64});
  a.data<float>()[64 + 5] = std::numeric_limits<float>::quiet_NaN();
  const Q8 q = quantize(g.normal({10, 64}));
  std::vector<float> c(2 * 10, 0.0f);
  EXPECT_FALSE(k::gemv_q8_int8_activations(a.data<float>(), 64, 2, q.view(), c.data()));
  const k::MatmulPrecisionGuard guard(k::MatmulPrecision::int8);
  k::gemm_q8(a.data<float>(), 64, q.view(), 2, c.data());
  // The finite row keeps the int8 path and its one-row bits; the other propagates the NaN.
  std::vector<float> alone(10);
  k::gemm_q8(a.data<float>(), 64, q.view(), 1, alone.data());
  EXPECT_EQ(0, std::memcmp(c.data(), alone.data(), 10 * sizeof(float)));
  for (int n = 0; n < 10; ++n) {
    EXPECT_TRUE(std::isfinite(c[size_t(n)]));
    EXPECT_TRUE(std::isnan(c[size_t(10 + n)]));
  }
}

TEST(QuantQ8Int8, ResultDoesNotDependOnThreadCount) {
  REQUIRE_VNNI();
  Generator g(72);
  const Tensor a = g.normal({3, 1000});
  const Q8 q = quantize(g.normal({300, 1000}));
  std::vector<float> one(3 * 300), two(3 * 300);
  const int before = k::num_threads();
  k::set_num_threads(1);
  ASSERT_TRUE(k::gemv_q8_int8_activations(a.data<float>(), 1000, 3, q.view(), one.data()));
  k::set_num_threads(4);
  ASSERT_TRUE(k::gemv_q8_int8_activations(a.data<float>(), 1000, 3, q.view(), two.data()));
  k::set_num_threads(before);
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
}

TEST(QuantQ8Bf16, BfloatProductsMatchTheirReference) {
  // MatmulPrecision::bf16 above kGemvQ8MaxM rows: against the exact sum of bf16(a) bf16(code *
  // scale) (the reference of gemm_bf16_dot, given the dequantized f32 weights), K u sum|ab| as there;
  // every K edge: a partial block, odd K, K past one packed block, partial panels.
  if (!k::cpu_has_bf16_dot()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  uint64_t seed = 80;
  for (const auto& [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{9, 33, 65}, {40, 100, 130}, {100, 2100, 70},
                                {13, 1, 17}, {20, 64, 64}}) {
    SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N));
    Generator g(seed++);
    const Tensor a = g.normal({M, K});
    const Q8 q = quantize(g.normal({N, K}, 0.0, 0.02));
    std::vector<float> got(size_t(M * N), std::numeric_limits<float>::quiet_NaN());
    {
      const k::MatmulPrecisionGuard guard(k::MatmulPrecision::bf16);
      k::gemm_q8(a.data<float>(), K, q.view(), M, got.data());
    }
    std::vector<float> wt(size_t(K * N));  // dequant(W)^T [K, N]
    k::dequantize_q8_rows(q.view(), 0, N, wt.data());  // [N, K] first
    std::vector<float> w_kn(size_t(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t kk = 0; kk < K; ++kk) w_kn[size_t(kk * N + n)] = wt[size_t(n * K + kk)];
    std::vector<double> want(got.size()), scale(got.size());
    k::ref::matmul_bf16_products(a.data<float>(), K, 1, w_kn.data(), N, 1, want.data(), scale.data(), M, K, N);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << i;
      worst = std::max(worst, std::fabs(got[i] - want[i]) / (double(K) * std::ldexp(1.0, -24) * scale[i] + 1e-30));
    }
    EXPECT_LE(worst, 1.0) << "beyond K u sum|ab| of the bf16 products";
  }
}

// ---- the ops (autograd/ops/quant_ops.cpp) ----

TEST(LinearQ8, ComposedDequantizationIsTheKernels) {
  const ops::Q8Weight q = ops::quantize_q8(Generator(8).normal({6, 70}).to(DType::bf16));
  const Tensor w = ops::dequantize_q8(q.codes, q.scales);  // [6, 70]
  ASSERT_EQ(w.shape(), (Shape{6, 70}));
  std::vector<float> rows(6 * 70);
  k::dequantize_q8_rows({q.codes.data<int8_t>(), q.scales.data<float>(), 6, 70}, 0, 6, rows.data());
  EXPECT_EQ(w.to_vector<float>(), rows);
}

TEST(LinearQ8, StaysWithinTheWeightRoundingOfTheUnquantizedLinear) {
  // |x . (w - dequant(w))| <= sum_k |x_k| d_k / 2: the only difference from the f32 product
  // besides summation (bounded as above).
  Generator g(9);
  const Tensor w = g.normal({30, 96}, 0.0, 0.02), x = g.normal({4, 96});
  const ops::Q8Weight q = ops::quantize_q8(w);
  const Tensor got = ops::linear_q8(x, q.codes, q.scales), full = ops::linear(x, w);
  for (int64_t m = 0; m < 4; ++m)
    for (int64_t n = 0; n < 30; ++n) {
      double bound = 0, scale = 0;
      for (int64_t kk = 0; kk < 96; ++kk) {
        bound += std::fabs(x.data<float>()[m * 96 + kk]) * q.scales.data<float>()[n * 3 + kk / 32] / 2;
        scale += std::fabs(x.data<float>()[m * 96 + kk] * w.data<float>()[n * 96 + kk]);
      }
      EXPECT_LE(std::fabs(got.data<float>()[m * 30 + n] - full.data<float>()[m * 30 + n]),
                bound + 200 * std::ldexp(1.0, -24) * scale) << m << "," << n;
    }
}

TEST(LinearQ8, BadOperandsGetClearErrors) {
  Generator g(10);
  const ops::Q8Weight q = ops::quantize_q8(g.normal({5, 40}));
  const Tensor x = g.normal({2, 40});
  EXPECT_THROW(ops::linear_q8(g.normal({2, 41}), q.codes, q.scales), ShapeError);
  EXPECT_THROW(ops::linear_q8(x, q.codes.to(DType::i32), q.scales), DTypeError);
  EXPECT_THROW(ops::linear_q8(x, q.codes, g.normal({5, 1})), ShapeError);
  EXPECT_THROW(ops::linear_q8(x, q.codes, Tensor()), ValueError);
  EXPECT_THROW(ops::linear_q8(Tensor::from_vector(std::vector<int32_t>(40, 1), {1, 40}), q.codes, q.scales),
               DTypeError);
  Tensor trainable = q.scales.clone();
  trainable.set_requires_grad(true);
  EXPECT_THROW(ops::linear_q8(x, q.codes, trainable), ValueError);
  EXPECT_THROW(ops::quantize_q8(g.normal({3})), DTypeError);
  EXPECT_THROW(ops::quantize_q8(g.normal({3, 4}).to(DType::f64)), DTypeError);
}

TEST(LinearQ8, EmptyDimensionsGiveZeros) {
  // K = 0: every output is an empty sum; N = 0: the input gradient is zero. Both with rows in x.
  const ops::Q8Weight k0 = ops::quantize_q8(Tensor::zeros({5, 0}));
  const Tensor y = ops::linear_q8(Generator(12).normal({3, 0}), k0.codes, k0.scales);
  ASSERT_EQ(y.shape(), (Shape{3, 5}));
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(15, 0.0f));
  const ops::Q8Weight n0 = ops::quantize_q8(Tensor::zeros({0, 4}));
  Tensor x = Generator(13).normal({3, 4});
  x.set_requires_grad(true);
  const Tensor out = ops::linear_q8(x, n0.codes, n0.scales);  // [3, 0]
  const Tensor gx = autograd::grad(out, {x}, Tensor::zeros({3, 0})).at(0);
  EXPECT_EQ(gx.to_vector<float>(), std::vector<float>(12, 0.0f));
}

TEST(LinearQ8, InputGradientIsTheTransposedProduct) {
  // The f32 vjp (kernels::gemm_q8_transposed) against the composed one (matmul by dequant(W)).
  Generator g(11);
  const ops::Q8Weight q = ops::quantize_q8(g.normal({50, 70}));
  Tensor x = g.normal({3, 4, 70});
  x.set_requires_grad(true);
  const Tensor cot = g.normal({3, 4, 50});
  const Tensor gx = autograd::grad(ops::linear_q8(x, q.codes, q.scales), {x}, cot).at(0);
  const Tensor want = ops::matmul(cot, ops::dequantize_q8(q.codes, q.scales));
  ASSERT_EQ(gx.shape(), x.shape());
  expect_close("dx", gx, want, {50 * 1.2e-7 * 20, 1e-5});
}

}  // namespace
}  // namespace rscapret::testing
