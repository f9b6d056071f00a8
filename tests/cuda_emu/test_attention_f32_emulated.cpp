// The f32 attention (kernels/cuda/attention.cu), its own source on the host emulator (simt.h): the
// forward of the decode path (launched as a programmatic dependent of rope_append, reading the KV
// cache's first Tk rows in place) against the CPU reference kernel (kernels/cpu/ref): causal and
// padding masks, GQA, Tq != Tk, head sizes of the three kernel instances, a cache with spare rows;
// and the backward against the GPU tests' double reference (tests/cuda/attention_reference.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/attention.cu"
#include "tests/cuda/attention_reference.h"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
namespace att = rscapret::testing::attention;

struct Case {
  int64_t B, H, Hkv, Tq, Tk, D, Dv, kv_rows;
  bool causal, padding;
};

TEST(EmulatedAttentionF32, ForwardMatchesTheCpuReference) {
  const Case cases[] = {
      {2, 4, 2, 5, 9, 64, 64, 9, true, false},     // prefill chunk after a cache, GQA
      {1, 4, 4, 1, 37, 64, 64, 48, true, false},   // decode: one query, cache with spare rows
      {2, 2, 1, 7, 7, 96, 80, 7, false, true},     // padding mask, D != Dv (128 instance)
      {1, 2, 2, 3, 20, 160, 160, 24, true, true},  // the 256 instance
  };
  std::mt19937 g(3);
  std::normal_distribution<float> n(0.f, 1.f);
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "B" << c.B << " H" << c.H << "/" << c.Hkv << " Tq" << c.Tq << " Tk" << c.Tk
                                      << " D" << c.D << "/" << c.Dv << " rows " << c.kv_rows);
    std::vector<float> q(size_t(c.B * c.H * c.Tq * c.D)), k(size_t(c.B * c.Hkv * c.kv_rows * c.D)),
        v(size_t(c.B * c.Hkv * c.kv_rows * c.Dv));
    for (auto* x : {&q, &k, &v})
      for (float& e : *x) e = n(g);
    std::vector<char> keep_bytes(size_t(c.B * c.Tk), 1);
    if (c.padding)
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < 1 + b; ++t) keep_bytes[size_t(b * c.Tk + t)] = 0;  // left padding
    const bool* keep = c.padding ? reinterpret_cast<const bool*>(keep_bytes.data()) : nullptr;
    // The reference reads contiguous [B, Hkv, Tk, D]: the cache's first Tk rows.
    std::vector<float> kc_(size_t(c.B * c.Hkv * c.Tk * c.D)), vc(size_t(c.B * c.Hkv * c.Tk * c.Dv));
    for (int64_t bh = 0; bh < c.B * c.Hkv; ++bh)
      for (int64_t t = 0; t < c.Tk; ++t) {
        for (int64_t d = 0; d < c.D; ++d)
          kc_[size_t((bh * c.Tk + t) * c.D + d)] = k[size_t((bh * c.kv_rows + t) * c.D + d)];
        for (int64_t d = 0; d < c.Dv; ++d)
          vc[size_t((bh * c.Tk + t) * c.Dv + d)] = v[size_t((bh * c.kv_rows + t) * c.Dv + d)];
      }
    const float scale = 1.0f / std::sqrt(float(c.D));
    std::vector<float> want(size_t(c.B * c.H * c.Tq * c.Dv));
    ref::attention(q.data(), kc_.data(), vc.data(), keep, want.data(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.Dv, scale,
                   c.causal);
    std::vector<float> out(want.size() + 4, NAN), lse(size_t(c.B * c.H * c.Tq), NAN);
    {
      const emu_test::Registered reg{{q.data(), q.size() * 4},     {k.data(), k.size() * 4},
                                     {v.data(), v.size() * 4},     {keep_bytes.data(), keep_bytes.size()},
                                     {out.data(), out.size() * 4}, {lse.data(), lse.size() * 4}};
      kc::attention_forward(q.data(), k.data(), v.data(), keep, out.data(), lse.data(), c.B, c.H, c.Hkv, c.Tq, c.Tk,
                            c.D, c.Dv, scale, c.causal, 0, c.kv_rows);
    }
    // f32 throughout, online softmax in another order than the reference's: ~1e-6.
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[i], want[i], 2e-5f * (1 + std::fabs(want[i]))) << i;
    for (size_t i = want.size(); i < out.size(); ++i) EXPECT_TRUE(std::isnan(out[i])) << "written past out";
    for (float l : lse) EXPECT_FALSE(std::isnan(l));
  }
}

// The f32 backward (the dq and dk/dv kernels of training on the f32 path) from the emulated
// forward's out and lse, against the GPU tests' double reference and tolerance: masks with a batch
// row that sees no key (zero gradients), GQA, causal with Tq < Tk, D != Dv, the three instances;
// warps run one at a time to each barrier give the same bits (no missing barrier, no atomics).
TEST(EmulatedAttentionF32, BackwardMatchesTheDoubleReference) {
  using att::Mask;
  using rscapret::testing::close_norm_and_max;
  using rscapret::testing::random_normal;
  const att::Case cases[] = {
      {2, 4, 2, 37, 45, 64, 64, true, Mask::empty_row},  // GQA, causal, a row with no visible key
      {1, 2, 1, 33, 40, 40, 24, false, Mask::random},    // D != Dv, the 64 instance
      {1, 2, 2, 20, 35, 100, 120, true, Mask::none},     // the 128 instance
      {1, 1, 1, 9, 17, 200, 160, false, Mask::random},   // the 256 instance
  };
  for (const att::Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c);
    const uint64_t seed = uint64_t(c.Tq * 7919 + c.Tk * 31 + c.D);
    const double scale = att::default_scale(c);
    const std::vector<float> q = random_normal(c.B * c.H * c.Tq * c.D, seed),
                             k = random_normal(c.B * c.Hkv * c.Tk * c.D, seed + 1),
                             v = random_normal(c.B * c.Hkv * c.Tk * c.Dv, seed + 2),
                             dout = random_normal(c.B * c.H * c.Tq * c.Dv, seed + 3);
    const std::vector<unsigned char> keep_bytes = att::make_keep(c, seed + 4);
    const bool* keep = c.mask == Mask::none ? nullptr : reinterpret_cast<const bool*>(keep_bytes.data());
    const att::Reference ref = att::reference(c, scale, q, k, v, keep, &dout);
    std::vector<float> out(size_t(c.B * c.H * c.Tq * c.Dv), NAN), lse(size_t(c.B * c.H * c.Tq), NAN);
    // Each gradient with 4 NaN sentinels past its end.
    const auto run_backward = [&] {
      std::vector<std::vector<float>> g{std::vector<float>(q.size() + 4, NAN), std::vector<float>(k.size() + 4, NAN),
                                        std::vector<float>(v.size() + 4, NAN)};
      const emu_test::Registered reg{{q.data(), q.size() * 4},
                                     {k.data(), k.size() * 4},
                                     {v.data(), v.size() * 4},
                                     {dout.data(), dout.size() * 4},
                                     {out.data(), out.size() * 4},
                                     {lse.data(), lse.size() * 4},
                                     {keep_bytes.data(), keep_bytes.size()},
                                     {g[0].data(), g[0].size() * 4},
                                     {g[1].data(), g[1].size() * 4},
                                     {g[2].data(), g[2].size() * 4}};
      kc::attention_backward(q.data(), k.data(), v.data(), keep, out.data(), dout.data(), lse.data(), g[0].data(),
                             g[1].data(), g[2].data(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.Dv, float(scale), c.causal,
                             0);
      return g;
    };
    {
      const emu_test::Registered reg{{q.data(), q.size() * 4},     {k.data(), k.size() * 4},
                                     {v.data(), v.size() * 4},     {keep_bytes.data(), keep_bytes.size()},
                                     {out.data(), out.size() * 4}, {lse.data(), lse.size() * 4}};
      kc::attention_forward(q.data(), k.data(), v.data(), keep, out.data(), lse.data(), c.B, c.H, c.Hkv, c.Tq, c.Tk,
                            c.D, c.Dv, float(scale), c.causal, 0);
    }
    EXPECT_TRUE(close_norm_and_max(out, ref.out, att::kF32Tol)) << "out";
    EXPECT_LT(att::lse_err(lse, ref.lse), att::kF32Tol) << "lse";
    const std::vector<std::vector<float>> g = run_backward();
    const std::vector<double>* want[] = {&ref.dq, &ref.dk, &ref.dv};
    for (int i = 0; i < 3; ++i) {
      SCOPED_TRACE(i == 0 ? "dq" : i == 1 ? "dk" : "dv");
      const std::vector<float> got(g[size_t(i)].begin(), g[size_t(i)].end() - 4);
      EXPECT_TRUE(close_norm_and_max(got, *want[i], att::kF32Tol));
      for (size_t e = got.size(); e < g[size_t(i)].size(); ++e) EXPECT_TRUE(std::isnan(g[size_t(i)][e])) << "past end";
    }
    const simt::Timing serial(/*lazy_copies=*/false, /*warp_serial=*/true);
    const std::vector<std::vector<float>> again = run_backward();
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(std::memcmp(again[size_t(i)].data(), g[size_t(i)].data(), g[size_t(i)].size() * 4), 0)
          << "gradient " << i << " depends on the timing";
  }
}

}  // namespace
