// The CUDA attention kernels (kernels/cuda/attention.cu, flash_attention_bf16.cu) against a
// double-precision CPU loop with the full score matrix (forward and backward): GQA, causal with
// Tq <= Tk (query i at position Tk - Tq + i), key_keep padding masks including a batch row with
// every key masked (zeros out, -inf lse, zero gradients), sizes that are not tile multiples, and
// the decode shape Tq = 1. Outputs start poisoned (NaN), so an element a kernel never writes fails
// the comparison (rel_err turns any NaN into +inf), and every buffer's guards must stay intact.
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "tensor/error.h"
#include "tests/cuda/attention_reference.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;

using namespace attention;  // the reference, cases and tolerances (attention_reference.h)

// ---- the f32 path ----

// Cases: one element; non-multiples of the 32-row tiles (37, 130, 257); Tq < Tk; decode (Tq = 1);
// GQA (H = 8, Hkv = 2); key masks with an all-masked batch row; D = Dv = 64, 128, 256; odd dims
// (40, 24, 37) and D != Dv.
const Case kF32Cases[] = {
    {1, 1, 1, 1, 1, 64, 64, false, Mask::none},
    {2, 2, 2, 37, 37, 64, 64, false, Mask::none},
    {1, 8, 2, 130, 130, 64, 64, true, Mask::none},
    {2, 4, 4, 257, 257, 128, 128, true, Mask::random},
    {2, 8, 2, 1, 257, 128, 128, true, Mask::none},
    {1, 2, 1, 37, 130, 40, 40, true, Mask::none},
    {2, 3, 1, 37, 70, 40, 24, false, Mask::empty_row},
    {2, 8, 2, 33, 65, 37, 64, true, Mask::empty_row},
    {1, 2, 1, 33, 65, 256, 256, true, Mask::random},
    {1, 2, 2, 20, 35, 100, 200, false, Mask::none},
};

class CudaAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAttention, ForwardAndBackwardMatchDoubleReference) {
  RS_REQUIRE_CUDA();
  const Case c = GetParam();
  const uint64_t seed = uint64_t(c.Tq * 7919 + c.Tk * 31 + c.D);
  const double scale = default_scale(c);
  const std::vector<float> q = random_normal(c.B * c.H * c.Tq * c.D, seed);
  const std::vector<float> k = random_normal(c.B * c.Hkv * c.Tk * c.D, seed + 1);
  const std::vector<float> v = random_normal(c.B * c.Hkv * c.Tk * c.Dv, seed + 2);
  const std::vector<float> dout = random_normal(c.B * c.H * c.Tq * c.Dv, seed + 3);
  const std::vector<unsigned char> keep_bytes = make_keep(c, seed + 4);
  const bool* keep_host = c.mask == Mask::none ? nullptr : reinterpret_cast<const bool*>(keep_bytes.data());
  const Reference ref = reference(c, scale, q, k, v, keep_host, &dout);

  DeviceBuffer<float> dq_in(q), dk_in(k), dv_in(v), ddout(dout);
  DeviceBuffer<unsigned char> dkeep(keep_bytes);  // bool is one byte holding 0 or 1
  const bool* keep_dev = keep_host ? reinterpret_cast<const bool*>(dkeep.get()) : nullptr;
  DeviceBuffer<float> out(c.B * c.H * c.Tq * c.Dv), lse(c.B * c.H * c.Tq);
  kc::attention_forward(dq_in.get(), dk_in.get(), dv_in.get(), keep_dev, out.get(), lse.get(),
                        c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.Dv, float(scale), c.causal, 0);
  EXPECT_TRUE(close_norm_and_max(out.download(), ref.out, kF32Tol)) << "out";
  EXPECT_LT(lse_err(lse.download(), ref.lse), kF32Tol) << "lse";

  DeviceBuffer<float> dq(int64_t(q.size())), dk(int64_t(k.size())), dv(int64_t(v.size()));
  kc::attention_backward(dq_in.get(), dk_in.get(), dv_in.get(), keep_dev, out.get(),
                         ddout.get(), lse.get(), dq.get(), dk.get(), dv.get(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.Dv,
                         float(scale), c.causal, 0);
  const std::vector<float> gdq = dq.download(), gdk = dk.download(), gdv = dv.download();
  EXPECT_TRUE(close_norm_and_max(gdq, ref.dq, kF32Tol)) << "dq";
  EXPECT_TRUE(close_norm_and_max(gdk, ref.dk, kF32Tol)) << "dk";
  EXPECT_TRUE(close_norm_and_max(gdv, ref.dv, kF32Tol)) << "dv";
  for (const auto* buf : {&out, &lse, &dq, &dk, &dv}) EXPECT_TRUE(buf->guards_intact());

  // Rerun the backward into fresh (poisoned) buffers: no atomics, so the same bits.
  DeviceBuffer<float> dq2(int64_t(q.size())), dk2(int64_t(k.size())), dv2(int64_t(v.size()));
  kc::attention_backward(dq_in.get(), dk_in.get(), dv_in.get(), keep_dev, out.get(),
                         ddout.get(), lse.get(), dq2.get(), dk2.get(), dv2.get(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D,
                         c.Dv, float(scale), c.causal, 0);
  EXPECT_EQ(0, std::memcmp(gdq.data(), dq2.download().data(), gdq.size() * sizeof(float))) << "dq not reproducible";
  EXPECT_EQ(0, std::memcmp(gdk.data(), dk2.download().data(), gdk.size() * sizeof(float))) << "dk not reproducible";
  EXPECT_EQ(0, std::memcmp(gdv.data(), dv2.download().data(), gdv.size() * sizeof(float))) << "dv not reproducible";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention, ::testing::ValuesIn(kF32Cases));

// A batch row whose keys are all masked: its queries output exact zeros with lse = -inf, and
// contribute nothing to any gradient (its keys get exact zero dk, dv).
TEST(CudaAttentionMask, FullyMaskedBatchRowGivesZerosAndMinusInf) {
  RS_REQUIRE_CUDA();
  const Case c{2, 4, 2, 37, 45, 64, 64, true, Mask::empty_row};
  const double scale = default_scale(c);
  const std::vector<float> q = random_normal(c.B * c.H * c.Tq * c.D, 5), k = random_normal(c.B * c.Hkv * c.Tk * c.D, 6),
                           v = random_normal(c.B * c.Hkv * c.Tk * c.Dv, 7),
                           dout = random_normal(c.B * c.H * c.Tq * c.Dv, 8);
  const std::vector<unsigned char> keep = make_keep(c, 9);
  DeviceBuffer<float> dq_in(q), dk_in(k), dv_in(v), ddout(dout);
  DeviceBuffer<unsigned char> dkeep(keep);
  const bool* keep_dev = reinterpret_cast<const bool*>(dkeep.get());
  DeviceBuffer<float> out(c.B * c.H * c.Tq * c.Dv), lse(c.B * c.H * c.Tq);
  DeviceBuffer<float> dq(int64_t(q.size())), dk(int64_t(k.size())), dv(int64_t(v.size()));
  kc::attention_forward(dq_in.get(), dk_in.get(), dv_in.get(), keep_dev, out.get(), lse.get(), c.B, c.H, c.Hkv,
                        c.Tq, c.Tk, c.D, c.Dv, float(scale), c.causal, 0);
  kc::attention_backward(dq_in.get(), dk_in.get(), dv_in.get(), keep_dev, out.get(), ddout.get(), lse.get(),
                         dq.get(), dk.get(), dv.get(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.Dv, float(scale), c.causal,
                         0);
  const std::vector<float> o = out.download(), l = lse.download(), gq = dq.download(), gk = dk.download(),
                           gv = dv.download();
  const int64_t row0_q = c.H * c.Tq;  // batch row 0 comes first in every [B, ...] layout
  for (int64_t i = 0; i < row0_q * c.Dv; ++i) ASSERT_EQ(o[size_t(i)], 0.0f) << "out " << i;
  for (int64_t i = 0; i < row0_q; ++i) ASSERT_EQ(l[size_t(i)], -std::numeric_limits<float>::infinity()) << "lse " << i;
  for (int64_t i = 0; i < row0_q * c.D; ++i) ASSERT_EQ(gq[size_t(i)], 0.0f) << "dq " << i;
  for (int64_t i = 0; i < c.Hkv * c.Tk * c.D; ++i) ASSERT_EQ(gk[size_t(i)], 0.0f) << "dk " << i;
  for (int64_t i = 0; i < c.Hkv * c.Tk * c.Dv; ++i) ASSERT_EQ(gv[size_t(i)], 0.0f) << "dv " << i;
  // Batch row 1 is ordinary: finite everywhere.
  for (size_t i = size_t(row0_q); i < l.size(); ++i) ASSERT_TRUE(std::isfinite(l[i])) << "lse " << i;
}

TEST(CudaAttentionMask, RejectsHeadDimsPast256) {
  RS_REQUIRE_CUDA();
  DeviceBuffer<float> x(4 * 300);
  EXPECT_THROW(kc::attention_forward(x.get(), x.get(), x.get(), nullptr, x.get(), x.get(), 1, 1, 1, 1, 1, 300, 300,
                                     1.0f, false, 0),
               DeviceError);
}

// ---- the bf16 tensor-core path (D = Dv in {64, 128}, no key mask) ----

// Cases: one element; non-multiples of the 64-row and 64-key tiles (37, 130, 257) and of the
// 128-row, 48-key tiles of the D = 128 forward (300 rows: two full blocks and 44 rows; 410 keys);
// Tq < Tk, causal too; decode (Tq = 1); GQA (H = 8, Hkv = 2); causal and not; D = 64 and 128.
const Case kBf16Cases[] = {
    {1, 1, 1, 1, 1, 64, 64, false, Mask::none},      {2, 2, 2, 37, 37, 64, 64, false, Mask::none},
    {1, 8, 2, 130, 130, 64, 64, true, Mask::none},   {2, 4, 4, 257, 257, 128, 128, true, Mask::none},
    {2, 8, 2, 1, 257, 128, 128, true, Mask::none},   {1, 2, 1, 37, 130, 64, 64, true, Mask::none},
    {1, 4, 4, 257, 257, 64, 64, false, Mask::none},  {1, 2, 2, 130, 257, 128, 128, false, Mask::none},
    {1, 8, 2, 200, 200, 128, 128, true, Mask::none},  {1, 4, 2, 300, 410, 128, 128, true, Mask::none},
};

std::vector<uint16_t> random_bf16(int64_t n, uint64_t seed) { return to_bf16(random_normal(n, seed)); }

class CudaFlashAttentionBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(CudaFlashAttentionBf16, ForwardAndBackwardMatchDoubleReference) {
  RS_REQUIRE_CUDA();
  const Case c = GetParam();
  const uint64_t seed = uint64_t(c.Tq * 104729 + c.Tk * 17 + c.D);
  const double scale = default_scale(c);
  const std::vector<uint16_t> q = random_bf16(c.B * c.H * c.Tq * c.D, seed),
                              k = random_bf16(c.B * c.Hkv * c.Tk * c.D, seed + 1),
                              v = random_bf16(c.B * c.Hkv * c.Tk * c.D, seed + 2),
                              dout = random_bf16(c.B * c.H * c.Tq * c.D, seed + 3);
  // The reference sees exactly the bf16 values the kernel reads.
  const std::vector<float> qf = from_bf16(q), kf = from_bf16(k), vf = from_bf16(v), dof = from_bf16(dout);
  const Reference ref = reference(c, scale, qf, kf, vf, nullptr, &dof);

  DeviceBuffer<uint16_t> dq_in(q), dk_in(k), dv_in(v), ddout(dout);
  DeviceBuffer<uint16_t> out(c.B * c.H * c.Tq * c.D);
  DeviceBuffer<float> lse(c.B * c.H * c.Tq);
  kc::flash_attention_bf16_forward(dq_in.get(), dk_in.get(), dv_in.get(), out.get(), lse.get(), c.B, c.H, c.Hkv, c.Tq,
                                   c.Tk, c.D, float(scale), c.causal, 0);
  EXPECT_TRUE(close_norm_and_max(from_bf16(out.download()), ref.out, kBf16OutTol)) << "out";
  // lse is f32 from f32 sums (only the bf16 mma products differ from the reference).
  EXPECT_LT(lse_err(lse.download(), ref.lse), kBf16OutTol) << "lse";

  DeviceBuffer<uint16_t> dq(int64_t(q.size())), dk(int64_t(k.size())), dv(int64_t(v.size()));
  kc::flash_attention_bf16_backward(dq_in.get(), dk_in.get(), dv_in.get(), out.get(), ddout.get(), lse.get(), dq.get(),
                                    dk.get(), dv.get(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, float(scale), c.causal, 0);
  const std::vector<uint16_t> gdq = dq.download(), gdk = dk.download(), gdv = dv.download();
  EXPECT_TRUE(close_norm_and_max(from_bf16(gdq), ref.dq, kBf16GradTol)) << "dq";
  EXPECT_TRUE(close_norm_and_max(from_bf16(gdk), ref.dk, kBf16GradTol)) << "dk";
  EXPECT_TRUE(close_norm_and_max(from_bf16(gdv), ref.dv, kBf16GradTol)) << "dv";
  for (const auto* buf : {&out, &dq, &dk, &dv}) EXPECT_TRUE(buf->guards_intact());
  EXPECT_TRUE(lse.guards_intact());

  // No atomics: a second backward gives the same bits.
  DeviceBuffer<uint16_t> dq2(int64_t(q.size())), dk2(int64_t(k.size())), dv2(int64_t(v.size()));
  kc::flash_attention_bf16_backward(dq_in.get(), dk_in.get(), dv_in.get(), out.get(), ddout.get(), lse.get(),
                                    dq2.get(), dk2.get(), dv2.get(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, float(scale),
                                    c.causal, 0);
  EXPECT_EQ(gdq, dq2.download()) << "dq not reproducible";
  EXPECT_EQ(gdk, dk2.download()) << "dk not reproducible";
  EXPECT_EQ(gdv, dv2.download()) << "dv not reproducible";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaFlashAttentionBf16, ::testing::ValuesIn(kBf16Cases));

TEST(CudaFlashAttentionBf16Args, RejectsUnsupportedHeadDimAndCausalTqPastTk) {
  RS_REQUIRE_CUDA();
  DeviceBuffer<uint16_t> x(8 * 128);
  DeviceBuffer<float> l(8);
  EXPECT_THROW(kc::flash_attention_bf16_forward(x.get(), x.get(), x.get(), x.get(), l.get(), 1, 1, 1, 2, 2, 40, 1.0f,
                                                false, 0),
               DeviceError);
  EXPECT_THROW(kc::flash_attention_bf16_forward(x.get(), x.get(), x.get(), x.get(), l.get(), 1, 1, 1, 4, 2, 64, 1.0f,
                                                true, 0),
               DeviceError);
}

// The checker itself (host only, runs without a GPU): one wrong element of 100,000 passes the norm
// at the bf16 tolerance but not the largest-element bound; bf16-sized noise everywhere passes both.
TEST(CudaTestUtil, LargestElementBoundCatchesOneWrongElement) {
  std::vector<double> ref(100000);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = std::sin(double(i));
  std::vector<float> noisy(ref.size()), one_wrong(ref.begin(), ref.end());
  for (size_t i = 0; i < ref.size(); ++i) noisy[i] = float(ref[i] * (1.0 + ((i % 2) ? 3e-3 : -3e-3)));
  one_wrong[777] = float(-ref[777] + 0.5);
  EXPECT_LT(rel_err(one_wrong, ref), kBf16OutTol);
  EXPECT_FALSE(close_norm_and_max(one_wrong, ref, kBf16OutTol));
  EXPECT_TRUE(close_norm_and_max(noisy, ref, kBf16OutTol));
}

}  // namespace
}  // namespace rscapret::testing
