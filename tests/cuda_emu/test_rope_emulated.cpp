// rope and rope_append (kernels/cuda/rope.cu), their own source on the host emulator (simt.h):
// rope against the CPU reference (kernels/cpu/ref), and rope_append (rope of q and k and the
// KV-cache writes in one launch) with the bits of rope and a copy, through the strides inference
// gives it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/rope.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::normal;
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::kernels::RopeLayout;

// rope_append through the layout of inference (q, k, v as column slices of one projection row,
// the cache [B, Hkv, capacity, D] written at its current length) against rope of q and k and a
// copy into the cache: the same bits, every other cache element untouched. Both pair layouts,
// partial rotary, GQA, explicit positions (left padding).
TEST(EmulatedRope, RopeAppendHasTheBitsOfRopeAndACopy) {
  for (const RopeLayout layout : {RopeLayout::half_split, RopeLayout::interleaved}) {
    for (const int64_t rotary : {64, 32}) {
      const int64_t B = 2, T = 3, Hq = 4, Hkv = 2, D = 64, cap = 16, past = 5;
      SCOPED_TRACE(::testing::Message() << "layout " << int(layout) << " rotary " << rotary);
      const int64_t row = (Hq + 2 * Hkv) * D;  // q | k | v of one token
      const std::vector<float> qkv = normal(size_t(B * T * row), 4);
      std::vector<int64_t> pos(size_t(B * T));
      for (int64_t i = 0; i < B * T; ++i) pos[size_t(i)] = 1000 * (i / T) + past + i % T;
      std::vector<float> q_out(size_t(B * T * Hq * D), NAN);
      std::vector<float> kcache = normal(size_t(B * Hkv * cap * D), 5), vcache = normal(size_t(B * Hkv * cap * D), 6);
      const std::vector<float> k_before = kcache, v_before = vcache;
      kc::RopeAppendArgs a{};
      a.q = qkv.data(), a.q_sb = T * row, a.q_st = row, a.q_sh = D;
      a.k = qkv.data() + Hq * D, a.k_sb = T * row, a.k_st = row, a.k_sh = D;
      a.v = qkv.data() + (Hq + Hkv) * D, a.v_sb = T * row, a.v_st = row, a.v_sh = D;
      a.q_out = q_out.data(), a.qo_sb = T * Hq * D, a.qo_st = Hq * D, a.qo_sh = D;
      a.k_dst = kcache.data() + past * D, a.kd_sb = Hkv * cap * D, a.kd_sh = cap * D, a.kd_st = D;
      a.v_dst = vcache.data() + past * D, a.vd_sb = Hkv * cap * D, a.vd_sh = cap * D, a.vd_st = D;
      a.positions = pos.data();
      a.B = B, a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D, a.rotary_dim = rotary, a.theta = 10000.0, a.layout = layout;
      {
        const Registered reg{{qkv.data(), qkv.size() * 4},
                             {pos.data(), pos.size() * 8},
                             {q_out.data(), q_out.size() * 4},
                             {kcache.data(), kcache.size() * 4},
                             {vcache.data(), vcache.size() * 4}};
        kc::rope_append(a, 0);
      }
      // The composed ops: q and k gathered dense [B, T, H, D], rope (emulated), then copies.
      std::vector<float> q(size_t(B * T * Hq * D)), k(size_t(B * T * Hkv * D));
      for (int64_t bt = 0; bt < B * T; ++bt) {
        for (int64_t e = 0; e < Hq * D; ++e) q[size_t(bt * Hq * D + e)] = qkv[size_t(bt * row + e)];
        for (int64_t e = 0; e < Hkv * D; ++e) k[size_t(bt * Hkv * D + e)] = qkv[size_t(bt * row + Hq * D + e)];
      }
      std::vector<float> q_rot(q.size()), k_rot(k.size());
      {
        const Registered reg{{q.data(), q.size() * 4},
                             {k.data(), k.size() * 4},
                             {pos.data(), pos.size() * 8},
                             {q_rot.data(), q_rot.size() * 4},
                             {k_rot.data(), k_rot.size() * 4}};
        kc::rope(q.data(), q_rot.data(), pos.data(), B, T, Hq, D, rotary, 10000.0, layout, false, 0);
        kc::rope(k.data(), k_rot.data(), pos.data(), B, T, Hkv, D, rotary, 10000.0, layout, false, 0);
      }
      // The emulated rope against the CPU reference (cos/sin in double on both sides).
      std::vector<float> q_ref(q.size());
      ref::rope(q.data(), q_ref.data(), pos.data(), B, T, Hq, D, rotary, 10000.0, layout, false);
      for (size_t i = 0; i < q.size(); ++i) ASSERT_NEAR(q_rot[i], q_ref[i], 1e-6f * (1 + std::fabs(q_ref[i]))) << i;
      for (size_t i = 0; i < q.size(); ++i) ASSERT_EQ(bits(q_out[i]), bits(q_rot[i])) << "q " << i;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < Hkv; ++h)
          for (int64_t t = 0; t < cap; ++t)
            for (int64_t d = 0; d < D; ++d) {
              const size_t c = size_t(((b * Hkv + h) * cap + t) * D + d);
              const bool fresh = t >= past && t < past + T;
              const size_t src = size_t(((b * T + (t - past)) * Hkv + h) * D + d);
              ASSERT_EQ(bits(kcache[c]), bits(fresh ? k_rot[src] : k_before[c]))
                  << b << " " << h << " " << t << " " << d;
              const float v_want =
                  fresh ? qkv[size_t((b * T + (t - past)) * row + (Hq + Hkv + h) * D + d)] : v_before[c];
              ASSERT_EQ(bits(vcache[c]), bits(v_want)) << b << " " << h << " " << t << " " << d;
            }
    }
  }
}

}  // namespace
