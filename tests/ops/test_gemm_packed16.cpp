// The packed 16-bit GEMMs (kernels/cpu/gemm_packed16): bf16 products against their scalar
// reference, f32 products against the exact product, and the matmul precision switch.
//
// Bounds: the reference sums the exact products of the bf16-rounded operands in double, so the
// kernel's only error is f32 summation of K terms: |C - ref| <= K u sum_k |a b| with u = 2^-24
// (a worst-case bound for any summation order). Against the exact f32 product the operand
// rounding adds up to (2 * 2^-9 + 2^-18) sum |a b| (each operand within 2^-9 relative).
#include <cmath>
#include <limits>

#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

#define REQUIRE_BF16_DOT()                                                                   \
  if (!kernels::cpu_has_bf16_dot()) GTEST_SKIP() << "this CPU has no AVX-512 BF16 (vdpbf16ps)"

struct Case {
  int64_t M, K, N;
  bool b_nk;    // B given as W [N, K] transposed (a Linear weight); else row-major [K, N]
  DType b_dtype;
  bool a_transposed;  // A given as a transposed view of a [K, M] tensor
};

// A and B as f32 host tensors with the case's layouts, and the operands gemm sees.
void check_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE("M " + std::to_string(c.M) + " K " + std::to_string(c.K) + " N " + std::to_string(c.N) +
               (c.b_nk ? " B [N,K]" : " B [K,N]") + " B " + std::string(dtype_name(c.b_dtype)) +
               (c.a_transposed ? " A^T" : ""));
  Generator g(seed);
  const Tensor a_store = c.a_transposed ? g.normal({c.K, c.M}) : g.normal({c.M, c.K});
  const Tensor a = c.a_transposed ? a_store.transpose(0, 1) : a_store;                 // [M, K]
  const Tensor b_store = (c.b_nk ? g.normal({c.N, c.K}) : g.normal({c.K, c.N})).to(c.b_dtype);
  const Tensor b = c.b_nk ? b_store.transpose(0, 1) : b_store;                         // [K, N]
  const Tensor b32 = b.to(DType::f32).contiguous();

  const kernels::MatrixOperand oa{a.raw_data(), DType::f32, a.strides()[0], a.strides()[1]};
  const kernels::MatrixOperand ob{b.raw_data(), c.b_dtype, b.strides()[0], b.strides()[1]};
  std::vector<float> got(size_t(c.M * c.N), std::numeric_limits<float>::quiet_NaN());
  kernels::gemm_bf16_dot(oa, ob, got.data(), c.M, c.K, c.N);

  std::vector<double> want(got.size()), scale(got.size());
  kernels::ref::matmul_bf16_products(a.data<float>(), a.strides()[0], a.strides()[1], b32.data<float>(), c.N, 1,
                                     want.data(), scale.data(), c.M, c.K, c.N);
  const Tensor exact = ops::matmul(a, b32);  // f32 products (OpenBLAS)
  const double u = std::ldexp(1.0, -24);
  double worst_sum = 0, worst_round = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << "element " << i << " not written or not finite";
    const double sum_err = std::fabs(got[i] - want[i]) / (double(c.K) * u * scale[i] + 1e-30);
    const double round_err =
        std::fabs(got[i] - double(exact.data<float>()[i])) / ((2 * std::ldexp(1.0, -9) + std::ldexp(1.0, -18)) * scale[i] + 1e-30);
    worst_sum = std::max(worst_sum, sum_err);
    worst_round = std::max(worst_round, round_err);
  }
  EXPECT_LE(worst_sum, 1.0) << "summation error beyond K u sum|ab|";
  EXPECT_LE(worst_round, 1.0) << "difference from the f32 product beyond the bf16 rounding bound";
}

TEST(MatmulBf16Dot, MatchesReferenceOnEveryEdge) {
  REQUIRE_BF16_DOT();
  // Partial register tiles (M % 6, N % 16, N % 64), odd K (a padded pair), K beyond one packed
  // block (kPacked16Kc), several row blocks per panel (few panels), every B layout and dtype, and
  // each packing path: [N, K] bf16 in 16 x 16 register transposes (full 64-column panels) or
  // pair by pair, row-major [K, N] bf16 two rows at a time, and element by element.
  const Case cases[] = {
      {9, 1, 1, true, DType::bf16, false},      {13, 17, 70, true, DType::bf16, false},
      {6, 64, 64, true, DType::bf16, false},    {257, 64, 129, true, DType::bf16, false},
      {50, 2051, 65, true, DType::bf16, false}, {31, 33, 200, false, DType::bf16, false},
      {40, 96, 80, true, DType::f32, false},    {11, 130, 48, false, DType::f32, true},
      {17, 40, 19, true, DType::f16, false},    {400, 48, 16, true, DType::bf16, true},
      {40, 64, 130, false, DType::bf16, false}, {20, 2050, 70, false, DType::bf16, false},
  };
  uint64_t seed = 1;
  for (const Case& c : cases) check_case(c, seed++);
}

// f32 products with 16-bit weights widened in registers: the exact product of the f32 A and the
// bf16 or f16 B (double, per element) within f32 summation error, K u sum |a b|.
TEST(MatmulBf16Dot, F32ProductsWith16BitWeightsMatchTheExactProduct) {
  if (!kernels::cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  const Case cases[] = {{9, 2, 1, true, DType::bf16, false},     {13, 17, 70, true, DType::bf16, false},
                        {257, 64, 129, true, DType::bf16, false}, {50, 2051, 65, true, DType::bf16, false},
                        {31, 34, 200, false, DType::bf16, false}, {11, 130, 48, true, DType::bf16, true},
                        {20, 2050, 70, false, DType::bf16, false}, {400, 48, 16, true, DType::bf16, true},
                        {13, 17, 70, true, DType::f16, false},    {257, 64, 129, true, DType::f16, false},
                        {50, 2051, 65, true, DType::f16, false},  {31, 34, 200, false, DType::f16, false},
                        {11, 130, 48, true, DType::f16, true}};
  uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE("M " + std::to_string(c.M) + " K " + std::to_string(c.K) + " N " + std::to_string(c.N) + " B " +
                 std::string(dtype_name(c.b_dtype)));
    Generator g(seed++);
    const Tensor a_store = c.a_transposed ? g.normal({c.K, c.M}) : g.normal({c.M, c.K});
    const Tensor a = c.a_transposed ? a_store.transpose(0, 1) : a_store;
    const Tensor b_store = (c.b_nk ? g.normal({c.N, c.K}) : g.normal({c.K, c.N})).to(c.b_dtype);
    const Tensor b = c.b_nk ? b_store.transpose(0, 1) : b_store;
    const Tensor a64 = a.to(DType::f64).contiguous(), b64 = b.to(DType::f64).contiguous();
    std::vector<float> got(size_t(c.M * c.N), std::numeric_limits<float>::quiet_NaN());
    kernels::gemm_f32_16bit_weights({a.raw_data(), DType::f32, a.strides()[0], a.strides()[1]},
                                   {b.raw_data(), c.b_dtype, b.strides()[0], b.strides()[1]}, got.data(), c.M, c.K, c.N);
    double worst = 0;
    for (int64_t m = 0; m < c.M; ++m)
      for (int64_t n = 0; n < c.N; ++n) {
        double exact = 0, scale = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double p = a64.data<double>()[m * c.K + k] * b64.data<double>()[k * c.N + n];
          exact += p;
          scale += std::fabs(p);
        }
        const float v = got[size_t(m * c.N + n)];
        ASSERT_TRUE(std::isfinite(v)) << m << "," << n;
        worst = std::max(worst, std::fabs(v - exact) / (double(c.K) * std::ldexp(1.0, -24) * scale + 1e-30));
      }
    EXPECT_LE(worst, 1.0) << "error beyond K u sum|ab|";
  }
}

TEST(MatmulBf16Dot, ResultDoesNotDependOnThreadCount) {
  REQUIRE_BF16_DOT();
  Generator g(7);
  const Tensor a = g.normal({100, 300}), w = g.normal({150, 300}).to(DType::bf16);
  const kernels::MatrixOperand oa{a.raw_data(), DType::f32, 300, 1}, ob{w.raw_data(), DType::bf16, 1, 300};
  std::vector<float> one(100 * 150), two(100 * 150);
  const int before = kernels::num_threads();
  kernels::set_num_threads(1);
  kernels::gemm_bf16_dot(oa, ob, one.data(), 100, 300, 150);
  kernels::set_num_threads(4);
  kernels::gemm_bf16_dot(oa, ob, two.data(), 100, 300, 150);
  kernels::set_num_threads(before);
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
}

TEST(MatmulBf16Dot, NaNAndInfinityPropagate) {
  REQUIRE_BF16_DOT();
  Generator g(8);
  Tensor a = g.normal({12, 40});
  const Tensor w = g.normal({20, 40}).to(DType::bf16);
  a.data<float>()[3 * 40 + 5] = std::numeric_limits<float>::quiet_NaN();
  a.data<float>()[7 * 40 + 1] = std::numeric_limits<float>::infinity();
  std::vector<float> c(12 * 20);
  kernels::gemm_bf16_dot({a.raw_data(), DType::f32, 40, 1}, {w.raw_data(), DType::bf16, 1, 40}, c.data(), 12, 40, 20);
  for (int n = 0; n < 20; ++n) {
    EXPECT_TRUE(std::isnan(c[3 * 20 + n])) << n;
    EXPECT_FALSE(std::isfinite(c[7 * 20 + n])) << n;
    EXPECT_TRUE(std::isfinite(c[0 * 20 + n])) << n;
  }
}

TEST(MatmulBf16Dot, PrecisionSwitchRoutesMatmul) {
  EXPECT_EQ(kernels::matmul_precision(), kernels::MatmulPrecision::f32) << "the default must stay f32";
  EXPECT_EQ(kernels::matmul_precision_from_name("bf16"), kernels::MatmulPrecision::bf16);
  EXPECT_EQ(kernels::matmul_precision_from_name("int8"), kernels::MatmulPrecision::int8);
  EXPECT_THROW(kernels::matmul_precision_from_name("tf32"), ValueError);
  Generator g(9);
  const Tensor x = g.normal({2, 30, 64}), w = g.normal({48, 64}).to(DType::bf16);
  const Tensor f32 = ops::matmul(x, w.transpose(0, 1));
  const Tensor decode_f32 = ops::matmul(x.narrow(1, 0, 1), w.transpose(0, 1));
  Tensor bf16;
  {
    kernels::MatmulPrecisionGuard guard(kernels::MatmulPrecision::bf16);
    bf16 = ops::matmul(x, w.transpose(0, 1));
    // Decode shapes (M <= kGemvHalfMaxM) keep the exact 16-bit GEMV.
    expect_close("decode row under bf16 precision", ops::matmul(x.narrow(1, 0, 1), w.transpose(0, 1)),
                 decode_f32, {0, 0});
  }
  EXPECT_EQ(kernels::matmul_precision(), kernels::MatmulPrecision::f32) << "the guard restores the precision";
  if (!kernels::cpu_has_bf16_dot()) {
    expect_close("no AVX-512 BF16: the f32 path", bf16, f32, {0, 0});
    return;
  }
  // bf16 activations: within bf16 rounding of the f32 result, and not identical to it (the
  // switch really changed the path).
  expect_close("bf16 precision vs f32", bf16, f32, {5e-2, 1e-2});
  double diff = 0;
  for (int64_t i = 0; i < f32.numel(); ++i) diff += std::fabs(bf16.data<float>()[i] - f32.data<float>()[i]);
  EXPECT_GT(diff, 0.0);
}

}  // namespace
}  // namespace rscapret::testing
