// The decode GEMV (kernels/cuda/gemm_bf16_skinny.cuh, launched by its production launch_skinny) on
// the host emulator: its products against a double reference, and the residual epilogue of the
// decode's o_proj / down_proj (C = residual + A W^T) with the bits of the composed ops, in place
// too, nothing written outside C. It is a programmatic dependent launch: the emulator fails it if a
// thread reads memory through a checked load before wait_for_predecessor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/gemm_bf16_skinny.cuh"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace gm = rscapret::kernels::cuda::gemm;

using emu_test::bits;
using emu_test::from_bf16;
using emu_test::to_bf16;

struct Problem {
  int M, N, K;
  std::vector<float> a;         // [M, K] f32 (rounded to bf16 by the kernel as it loads)
  std::vector<uint16_t> w;      // [N, K] bf16
  std::vector<float> bias;      // [N]
  std::vector<float> residual;  // [M, N + 5] (ldr = N + 5)
};
Problem problem(int M, int N, int K, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Problem p{M, N, K, {}, {}, {}, {}};
  for (int i = 0; i < M * K; ++i) p.a.push_back(n(g));
  for (int i = 0; i < N * K; ++i) p.w.push_back(to_bf16(n(g) * 0.1f));
  for (int i = 0; i < N; ++i) p.bias.push_back(n(g));
  for (int i = 0; i < M * (N + 5); ++i) p.residual.push_back(n(g));
  return p;
}

constexpr float kUnwritten = -12345.0f;

// C [M, ldc = N + 3] from one launch; residual: add p.residual (ldr = N + 5); in_place: C is the
// residual's own buffer (ldc = ldr), as the decode adds into its hidden state.
std::vector<float> run(const Problem& p, bool with_bias, bool with_residual, bool in_place = false) {
  const int64_t ldr = p.N + 5, ldc = in_place ? ldr : p.N + 3;
  std::vector<float> res = p.residual;
  std::vector<float> own(size_t(p.M) * size_t(ldc), kUnwritten);
  std::vector<float>& c = in_place ? res : own;
  const emu_test::Registered reg{{p.a.data(), p.a.size() * 4},
                                 {p.w.data(), p.w.size() * 2},
                                 {p.bias.data(), p.bias.size() * 4},
                                 {res.data(), res.size() * 4},
                                 {own.data(), own.size() * 4}};
  gm::SkinnyArgs s{nullptr, p.K, p.w.data(), p.K, p.M, p.N, p.K, {}};
  s.A32 = p.a.data();
  s.epi.C = c.data();
  s.epi.ldc = ldc;
  s.epi.c_bf16 = false;
  s.epi.pair_aligned = gm::epilogue_pair_aligned(c.data(), ldc, false);
  s.epi.bias = with_bias ? p.bias.data() : nullptr;
  s.epi.act = rscapret::kernels::cuda::GemmActivation::none;
  s.epi.M = p.M;
  s.epi.N = p.N;
  if (with_residual) s.epi.residual = res.data(), s.epi.ldr = ldr;
  gm::launch_skinny(s, nullptr);
  return c;
}

// M = 1 (decode), 3 and 8 rows (the three kernel instantiations past 1), K with and without a
// partial pass of the unrolled loop, N odd (a warp's second column past the end).
const int kShapes[][3] = {{1, 7, 264}, {3, 33, 8}, {8, 9, 520}, {1, 1, 2056}};

TEST(EmulatedDecodeGemv, ProductsMatchADoubleReference) {
  for (const auto& sh : kShapes) {
    const Problem p = problem(sh[0], sh[1], sh[2], 3);
    const std::vector<float> c = run(p, /*with_bias=*/true, /*with_residual=*/false);
    const int64_t ldc = p.N + 3;
    for (int m = 0; m < p.M; ++m)
      for (int n = 0; n < ldc; ++n) {
        const float got = c[size_t(m * ldc + n)];
        if (n >= p.N) {
          EXPECT_EQ(got, kUnwritten) << "written past N at " << m << "," << n;
          continue;
        }
        double want = p.bias[size_t(n)];
        for (int k = 0; k < p.K; ++k)
          want += double(from_bf16(to_bf16(p.a[size_t(m * p.K + k)]))) * from_bf16(p.w[size_t(n * p.K + k)]);
        // Products of bf16 values are exact in f32; only the f32 sums round (K <= 2056 terms).
        EXPECT_NEAR(got, want, 1e-5 * (1 + std::fabs(want))) << "M" << p.M << " K" << p.K << " at " << m << "," << n;
      }
  }
}

// The fused residual has the bits of the GEMV followed by a separate f32 add, also in place.
TEST(EmulatedDecodeGemv, ResidualEpilogueHasTheBitsOfTheComposedOps) {
  for (const auto& sh : kShapes) {
    const Problem p = problem(sh[0], sh[1], sh[2], 5);
    const std::vector<float> plain = run(p, true, false), fused = run(p, true, true),
                             in_place = run(p, true, true, true);
    const int64_t ldc = p.N + 3, ldr = p.N + 5;
    for (int m = 0; m < p.M; ++m)
      for (int n = 0; n < p.N; ++n) {
        const float composed = p.residual[size_t(m * ldr + n)] + plain[size_t(m * ldc + n)];
        EXPECT_EQ(bits(fused[size_t(m * ldc + n)]), bits(composed)) << "M" << p.M << " at " << m << "," << n;
        EXPECT_EQ(bits(in_place[size_t(m * ldr + n)]), bits(composed))
            << "in place, M" << p.M << " at " << m << "," << n;
      }
    for (int m = 0; m < p.M; ++m)  // in place: the residual's padding columns untouched
      for (int n = p.N; n < ldr; ++n) EXPECT_EQ(in_place[size_t(m * ldr + n)], p.residual[size_t(m * ldr + n)]);
  }
}

}  // namespace
