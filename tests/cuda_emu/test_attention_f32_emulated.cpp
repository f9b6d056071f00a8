// The f32 attention forward (kernels/cuda/attention.cu: the decode path, launched as a programmatic
// dependent of rope_append, reading the KV cache's first Tk rows in place), its own source on the
// host emulator (simt.h), against the CPU reference kernel (kernels/cpu/ref): causal and padding
// masks, GQA, Tq != Tk, head sizes of the three kernel instances, a cache with spare rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/attention.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;

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

}  // namespace
