// The mma.sync bf16 GEMM (kernels/cuda/gemm_bf16_kernel.cuh: the tensor-core kernel of every GPU
// before Hopper, and of B [K, N] products until the wgmma variant passes its self-check) with the
// production tile configurations, its own source on the host emulator (simt.h): B as [N, K] and as
// [K, N], the cp.async path and the bounds-checked one, partial tiles, the fused epilogue (bias,
// GELU, f32 or bf16 output, the quad-transposed 16-byte bf16 stores), against a double reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/gemm_bf16_kernel.cuh"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace gm = rscapret::kernels::cuda::gemm;
using rscapret::kernels::cuda::GemmActivation;

using emu_test::from_bf16;
using emu_test::to_bf16;

struct Shape {
  int M, N, K;
  bool b_is_nk, bias, gelu, bf16_out;
};

// C [M, N] (ldc = N, or N + 8 to leave a gap the kernel must not touch) for one emulated launch.
template <class Cfg>
void check(const Shape& s, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<uint16_t> a(size_t(s.M) * s.K), b(size_t(s.N) * s.K);
  for (auto& e : a) e = to_bf16(n(g));
  for (auto& e : b) e = to_bf16(n(g));
  std::vector<float> bias(size_t(s.N));
  for (auto& e : bias) e = n(g);
  const int64_t ldc = s.N + 8;
  std::vector<float> c32(size_t(s.M) * ldc, -7.0f);
  std::vector<uint16_t> c16(size_t(s.M) * ldc, 0x7fc1);
  void* c = s.bf16_out ? static_cast<void*>(c16.data()) : static_cast<void*>(c32.data());
  gm::MmaArgs p{a.data(), s.K, b.data(), s.b_is_nk ? s.K : s.N, s.M, s.N, s.K, {}};
  p.epi.C = c;
  p.epi.ldc = ldc;
  p.epi.c_bf16 = s.bf16_out;
  p.epi.pair_aligned = gm::epilogue_pair_aligned(c, ldc, s.bf16_out);
  p.epi.bias = s.bias ? bias.data() : nullptr;
  p.epi.act = s.gelu ? GemmActivation::gelu_tanh : GemmActivation::none;
  p.epi.M = s.M;
  p.epi.N = s.N;
  const emu_test::Registered reg{{a.data(), a.size() * 2},
                                 {b.data(), b.size() * 2},
                                 {bias.data(), bias.size() * 4},
                                 {c32.data(), c32.size() * 4},
                                 {c16.data(), c16.size() * 2}};
  gm::launch_mma<Cfg>(p, s.b_is_nk, nullptr, 0);
  for (int m = 0; m < s.M; ++m)
    for (int j = 0; j < ldc; ++j) {
      const float got = s.bf16_out ? from_bf16(c16[size_t(m * ldc + j)]) : c32[size_t(m * ldc + j)];
      if (j >= s.N) {  // the gap between rows: untouched
        if (s.bf16_out)
          ASSERT_EQ(c16[size_t(m * ldc + j)], 0x7fc1) << m << "," << j;
        else
          ASSERT_EQ(got, -7.0f) << m << "," << j;
        continue;
      }
      double want = s.bias ? bias[size_t(j)] : 0.0;
      for (int k = 0; k < s.K; ++k) {
        const uint16_t bk = s.b_is_nk ? b[size_t(j) * s.K + k] : b[size_t(k) * s.N + j];
        want += double(from_bf16(a[size_t(m) * s.K + k])) * from_bf16(bk);
      }
      if (s.gelu) want = 0.5 * want * (1.0 + std::tanh(0.7978845608028654 * (want + 0.044715 * want * want * want)));
      // f32 sums of K exact products (~1e-6 relative), then bf16 output (2^-9 relative).
      const double tol = s.bf16_out ? 4e-3 * (1 + std::fabs(want)) : 1e-4 * (1 + std::fabs(want));
      ASSERT_NEAR(got, want, tol) << m << "," << j;
    }
}

TEST(EmulatedMmaGemm, ProductionTilesMatchADoubleReference) {
  // Two M tiles (the second partial) and a partial N tile for the 128 x 128 configurations; B [N,K]
  // and [K,N]; the bounds-checked path (K = 70: rows not 16-byte multiples).
  check<gm::CfgK32>({130, 136, 96, true, true, true, false}, 1);
  check<gm::CfgK32>({130, 136, 96, false, false, false, true}, 2);
  check<gm::CfgK64>({129, 128, 128, true, true, false, true}, 3);
  check<gm::CfgSmall>({70, 72, 70, true, true, true, false}, 4);
  check<gm::CfgSmall>({33, 40, 40, false, true, false, false}, 5);
}

}  // namespace
