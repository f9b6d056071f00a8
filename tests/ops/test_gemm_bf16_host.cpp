// Host-side pieces of the GPU bf16 GEMM that run without a GPU: the argument checks every GEMM
// entry shares, the B [K,N] wgmma variant's switch, and the product its on-device self-check
// computes (gemm_bf16_internal.h). The self-check can only catch a wrong operand layout if its
// expected result is exact and a wrong read of B gives another result; both are checked here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cuda/gemm_bf16_internal.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;

float bf16_value(uint16_t bits) {
  const uint32_t u = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// C = A @ B with B read through `b_at(k, n)`, in double.
template <class BAt>
std::vector<double> product(const kc::WgmmaKnSelfCheck& c, BAt b_at) {
  std::vector<double> out(size_t(c.M * c.N), 0.0);
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < c.K; ++k) acc += double(bf16_value(c.a[size_t(m * c.K + k)])) * b_at(k, n);
      out[size_t(m * c.N + n)] = acc;
    }
  return out;
}

bool equals_expected(const kc::WgmmaKnSelfCheck& c, const std::vector<double>& got) {
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != double(c.expected[i])) return false;
  return true;
}

TEST(GemmBf16Host, SelfCheckProductIsExactAndSpansTheTiles) {
  const kc::WgmmaKnSelfCheck c = kc::wgmma_kn_self_check_case();
  ASSERT_EQ(c.a.size(), size_t(c.M * c.K));
  ASSERT_EQ(c.b.size(), size_t(c.K * c.N));
  ASSERT_EQ(c.expected.size(), size_t(c.M * c.N));
  // Two 128-row tiles (the second partial), a partial last tile at both widths, nine 64-deep k-tiles
  // (more than the kernel's 4 or 6 pipeline stages: the stage ring wraps).
  EXPECT_GT(c.M, 128);
  EXPECT_NE(c.M % 128, 0);
  EXPECT_NE(c.N % 256, 0);
  EXPECT_NE(c.N % 128, 0);
  EXPECT_EQ(c.K, 9 * 64);
  // Operands are small integers (exact in bf16), so every partial sum is an integer below 2^24.
  for (uint16_t v : c.a) EXPECT_LE(std::fabs(bf16_value(v)), 3.0f);
  for (uint16_t v : c.b) EXPECT_LE(std::fabs(bf16_value(v)), 3.0f);
  EXPECT_LT(9.0 * double(c.K), 16777216.0);
  const std::vector<double> ref = product(c, [&](int64_t k, int64_t n) { return bf16_value(c.b[size_t(k * c.N + n)]); });
  EXPECT_TRUE(equals_expected(c, ref));
  double largest = 0;
  for (float e : c.expected) largest = std::max(largest, double(std::fabs(e)));
  EXPECT_GT(largest, 0.0) << "an all-zero product would pass any layout";
}

TEST(GemmBf16Host, SelfCheckRejectsPlausibleMisreadsOfB) {
  const kc::WgmmaKnSelfCheck c = kc::wgmma_kn_self_check_case();
  auto b = [&](int64_t k, int64_t n) { return double(bf16_value(c.b[size_t(k * c.N + n)])); };
  // B read as [N,K] (the K-major layout: no transpose), within the same buffer.
  EXPECT_FALSE(equals_expected(c, product(c, [&](int64_t k, int64_t n) {
    return double(bf16_value(c.b[size_t((n * c.K + k) % (c.K * c.N))]));
  })));
  // 64-column blocks swapped pairwise (the leading- and stride-dimension offsets confused).
  EXPECT_FALSE(equals_expected(c, product(c, [&](int64_t k, int64_t n) {
    const int64_t n2 = n ^ 64;
    return n2 < c.N ? b(k, n2) : b(k, n);
  })));
  // 8-row groups of K swapped pairwise (a wrong K step inside the 16-deep instruction).
  EXPECT_FALSE(equals_expected(c, product(c, [&](int64_t k, int64_t n) { return b(k ^ 8, n); })));
  // The 128-byte swizzle not undone: 8-column chunks permuted by the row's index mod 8.
  EXPECT_FALSE(equals_expected(c, product(c, [&](int64_t k, int64_t n) {
    const int64_t chunk = (n / 8) % 8, swizzled = chunk ^ (k % 8);
    return b(k, n - chunk * 8 + swizzled * 8);
  })));
}

// The device's result is judged by value: an unwritten (NaN) or wrong output fails, a zero written
// as -0.0 does not.
TEST(GemmBf16Host, SelfCheckComparesValuesNotBytes) {
  const kc::WgmmaKnSelfCheck c = kc::wgmma_kn_self_check_case();
  std::vector<float> got = c.expected;
  EXPECT_TRUE(kc::wgmma_kn_self_check_passes(c, got));
  const auto zero = std::find(c.expected.begin(), c.expected.end(), 0.0f);
  ASSERT_NE(zero, c.expected.end()) << "the case has exact zeros; a sign-bit check needs one";
  got[size_t(zero - c.expected.begin())] = -0.0f;
  EXPECT_TRUE(kc::wgmma_kn_self_check_passes(c, got));
  got = c.expected;
  got[7] = std::nanf("");
  EXPECT_FALSE(kc::wgmma_kn_self_check_passes(c, got));
  got = c.expected;
  got.back() += 1.0f;
  EXPECT_FALSE(kc::wgmma_kn_self_check_passes(c, got));
  got.pop_back();
  EXPECT_FALSE(kc::wgmma_kn_self_check_passes(c, got));
}

TEST(GemmBf16Host, WgmmaKnSwitchRoundTrips) {
  ASSERT_TRUE(kc::gemm_wgmma_kn()) << "on by default";
  kc::set_gemm_wgmma_kn(false);
  EXPECT_FALSE(kc::gemm_wgmma_kn());
  kc::set_gemm_wgmma_kn(true);
  EXPECT_TRUE(kc::gemm_wgmma_kn());
}

TEST(GemmBf16Host, ArgumentChecksNameTheProblem) {
  EXPECT_NO_THROW(kc::check_gemm_bf16_args("gemm", 64, 32, false, DType::f32, 32, 8, 32, 64));
  EXPECT_THROW(kc::check_gemm_bf16_args("gemm", 64, 32, true, DType::f32, 32, 8, 32, 64), ValueError);  // ldb < K
  EXPECT_THROW(kc::check_gemm_bf16_args("gemm", 64, 16, false, DType::f32, 32, 8, 32, 64), ValueError);  // ldb < N
  EXPECT_THROW(kc::check_gemm_bf16_args("gemm", 64, 64, true, DType::f16, 32, 8, 32, 64), DTypeError);
  EXPECT_THROW(kc::check_gemm_bf16_args("gemm", 64, 64, true, DType::f32, 32, -1, 32, 64), ValueError);
}

}  // namespace
}  // namespace rscapret::testing
