// The decode GEMV that applies an RMSNorm to its input rows as it loads them (gemm_bf16_skinny.cuh,
// kNormA: q|k|v and gate/up at decode, one launch fewer each) on the host emulator: it must give the
// bits of the norm kernel (norm.cu's rms_norm, also emulated) followed by the GEMV of its output, for
// the plain, concatenated and gated products, f32 and bf16 norm weights, 1 to 8 rows, rows wider
// than one norm block's stride with and without a tail, and A rows with padding (lda > K). The
// GEMV's outputs see rstd only through the bf16 rounding of A, which hides most one-ulp changes, so
// the reduction order it shares with the norm kernel (norm_row_order.cuh) is also checked alone:
// rstd bit for bit against the norm kernel's, by blocks of 32 to 256 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_skinny.cuh"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace gm = rscapret::kernels::cuda::gemm;
namespace kc = rscapret::kernels::cuda;

using emu_test::bits;
using emu_test::to_bf16;

struct Case {
  int M, N, K, lda;
  bool gated, bf16_weight;
};

struct Inputs {
  std::vector<float> x;                 // [M, lda]: the norm's input
  std::vector<float> norm_w;            // [K]
  std::vector<uint16_t> norm_w16;       // [K], the same values in bf16
  std::vector<uint16_t> w1, w2, w3;     // [N1, K], [N2, K], [N3, K] (gated: gate = w1, up = w2)
  int n1, n2, n3;
};

Inputs inputs(const Case& c, unsigned seed) {
  Inputs in;
  in.x = emu_test::normal(size_t(c.M) * size_t(c.lda), seed);
  for (int m = 0; m < c.M; ++m)  // rows of very different scales: rstd from 1e-2 to 1e2
    for (int k = 0; k < c.K; ++k) in.x[size_t(m * c.lda + k)] *= m % 3 == 0 ? 100.f : m % 3 == 1 ? 1.f : 0.01f;
  for (const float v : emu_test::normal(size_t(c.K), seed + 1, 1.f)) {
    in.norm_w16.push_back(to_bf16(v));
    in.norm_w.push_back(c.bf16_weight ? emu_test::from_bf16(in.norm_w16.back()) : v);
  }
  in.n1 = c.gated ? c.N : c.N / 2;
  in.n2 = c.gated ? c.N : c.N / 4;
  in.n3 = c.gated ? 0 : c.N - in.n1 - in.n2;
  auto weight = [&](int n, unsigned s) {
    std::vector<uint16_t> w;
    for (const float v : emu_test::normal(size_t(n) * size_t(c.K), s)) w.push_back(to_bf16(0.05f * v));
    return w;
  };
  in.w1 = weight(in.n1, seed + 2), in.w2 = weight(in.n2, seed + 3), in.w3 = weight(in.n3, seed + 4);
  return in;
}

// C [M, N] from one GEMV launch on a (f32, lda), with the norm applied on load when normed.
std::vector<float> gemv(const Case& c, const Inputs& in, const float* a, int lda, bool normed) {
  std::vector<float> out(size_t(c.M) * size_t(c.N), emu_test::kSentinel);
  const emu_test::Registered reg{{a, size_t(c.M) * size_t(lda) * 4},
                                 {in.norm_w.data(), in.norm_w.size() * 4},
                                 {in.norm_w16.data(), in.norm_w16.size() * 2},
                                 {in.w1.data(), in.w1.size() * 2},
                                 {in.w2.data(), in.w2.size() * 2},
                                 {in.w3.data(), in.w3.size() * 2},
                                 {out.data(), out.size() * 4}};
  gm::SkinnyArgs s{nullptr, lda, in.w1.data(), c.K, c.M, c.N, c.K, {}};
  s.A32 = a;
  s.epi.C = out.data();
  s.epi.ldc = c.N;
  s.epi.pair_aligned = gm::epilogue_pair_aligned(out.data(), c.N, false);
  s.epi.M = c.M;
  s.epi.N = c.N;
  if (c.gated) {
    s.B_up = in.w2.data();
    s.epi.act = kc::GemmActivation::silu;
  } else {
    s.B_seg1 = in.w2.data(), s.seg1 = in.n1;
    s.B_seg2 = in.w3.data(), s.seg2 = in.n1 + in.n2;
  }
  if (normed) {
    if (c.bf16_weight) s.norm_w16 = in.norm_w16.data();
    else s.norm_w = in.norm_w.data();
    s.norm_eps = 1e-5f;
  }
  gm::launch_skinny(s, nullptr);
  return out;
}

// rms_norm (the norm kernel, f32 output) of x's rows, contiguous [M, K].
std::vector<float> norm_rows(const Case& c, const Inputs& in) {
  std::vector<float> x(size_t(c.M) * size_t(c.K)), y(x.size(), emu_test::kSentinel), rstd(size_t(c.M));
  for (int m = 0; m < c.M; ++m)
    for (int k = 0; k < c.K; ++k) x[size_t(m * c.K + k)] = in.x[size_t(m * c.lda + k)];
  const emu_test::Registered reg{{x.data(), x.size() * 4},
                                 {y.data(), y.size() * 4},
                                 {rstd.data(), rstd.size() * 4},
                                 {in.norm_w.data(), in.norm_w.size() * 4},
                                 {in.norm_w16.data(), in.norm_w16.size() * 2}};
  kc::rms_norm(x.data(), c.bf16_weight ? nullptr : in.norm_w.data(), y.data(), rstd.data(), c.M, c.K, 1e-5f, 0,
               in.norm_w16.data());
  return y;
}

TEST(EmulatedDecodeGemvNorm, BlocksOfAnyDivisorGiveTheNormKernelsRstd) {
  const int rows = 21;  // 3 x the 7 scales
  for (const int64_t cols : {1032, 1288, 4096}) {
    std::vector<float> x = emu_test::normal(size_t(rows) * size_t(cols), unsigned(cols));
    for (int r = 0; r < rows; ++r)  // scales from 1e-3 to 1e3
      for (int64_t k = 0; k < cols; ++k) x[size_t(r * cols + k)] *= std::pow(10.f, float(r % 7) - 3.f);
    const std::vector<float> w(size_t(cols), 1.f);
    std::vector<float> y(x.size()), want(static_cast<size_t>(rows));
    {
      const emu_test::Registered reg{{x.data(), x.size() * 4}, {w.data(), w.size() * 4}, {y.data(), y.size() * 4},
                                     {want.data(), want.size() * 4}};
      kc::rms_norm(x.data(), w.data(), y.data(), want.data(), rows, cols, 1e-5f, 0);
    }
    for (const int threads : {32, 64, 128, 256}) {
      std::vector<float> got(size_t(rows), emu_test::kSentinel);
      const emu_test::Registered reg{{x.data(), x.size() * 4}, {got.data(), got.size() * 4}};
      simt::launch(dim3(rows), dim3(threads), 0,
                   [&] { kc::norm_order::rstd_in_block_order_kernel<>(x.data(), got.data(), cols, 1e-5f); });
      for (int r = 0; r < rows; ++r)
        EXPECT_EQ(bits(got[size_t(r)]), bits(want[size_t(r)]))
            << "cols " << cols << ", " << threads << " threads, row " << r << ": " << got[size_t(r)] << " vs "
            << want[size_t(r)];
    }
  }
}

TEST(EmulatedDecodeGemvNorm, HasTheBitsOfTheNormKernelThenTheGemv) {
  ASSERT_TRUE(rscapret::kernels::cuda::norm_order::block_owns_row(1032));  // the cases below take the block order
  const Case cases[] = {
      {1, 24, 4096, 4096, false, true},   // LLaMA-7B's width, q|k|v in one launch, bf16 weight
      {1, 9, 4096, 4104, true, true},     // gate/up, padded A rows, N odd
      {3, 16, 1032, 1040, false, false},  // past 1024 by one 8-column chunk; f32 weight
      {8, 10, 2056, 2056, true, false},   // every row of the largest instantiation
      {2, 12, 1288, 1288, false, true},   // a norm stride (256) with a tail of 8
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "M " << c.M << " N " << c.N << " K " << c.K << " lda " << c.lda
                                      << (c.gated ? " gated" : " q|k|v") << (c.bf16_weight ? " bf16 w" : " f32 w"));
    const Inputs in = inputs(c, unsigned(c.K + c.M));
    const std::vector<float> y = norm_rows(c, in);
    const std::vector<float> composed = gemv(c, in, y.data(), c.K, false);
    const std::vector<float> fused = gemv(c, in, in.x.data(), c.lda, true);
    int mismatches = 0;
    for (size_t i = 0; i < composed.size(); ++i) {
      ASSERT_NE(bits(composed[i]), bits(emu_test::kSentinel)) << "composed output " << i << " unwritten";
      if (bits(fused[i]) != bits(composed[i]) && ++mismatches <= 5)
        ADD_FAILURE() << "output " << i << ": fused " << fused[i] << ", composed " << composed[i];
    }
    EXPECT_EQ(mismatches, 0);
  }
}

}  // namespace
