// The bf16 handoff on the GPU: where the consumer rounds its input to bf16 anyway (the fused
// linear, the tensor-core attention), the producer writes bf16 itself. Every result must keep its
// bits: the GEMM epilogue and the attention kernel round as a cast does, and nothing else changes.
#include <array>
#include <cstring>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda_kernels.h"
#include "models/clip/clip.h"
#include "tensor/rng.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

::testing::AssertionResult same_bits(const Tensor& a_any, const Tensor& b_any) {
  const Tensor a = a_any.to(Device::cpu()).contiguous(), b = b_any.to(Device::cpu()).contiguous();
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  const size_t n = size_t(a.numel()) * a.element_size();
  const auto* pa = static_cast<const unsigned char*>(a.raw_data());
  const auto* pb = static_cast<const unsigned char*>(b.raw_data());
  for (size_t i = 0; i < n; ++i)
    if (pa[i] != pb[i]) return ::testing::AssertionFailure() << "first differing byte " << i << " of " << n;
  return ::testing::AssertionSuccess();
}

struct HandoffGuard {  // restores the run's setting (RSCAPRET_DISABLE may have set it off) when a test leaves
  bool was = ops::cuda_bf16_handoff();
  ~HandoffGuard() { ops::set_cuda_bf16_handoff(was); }
};

TEST(CudaBf16Handoff, LinearBf16OutIsTheCastOfLinear) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(41);
  const Device gpu = Device::cuda(0);
  // {rows, K, N}: wgmma (N % 256, K % 64), mma.sync (odd N), the skinny kernel (few rows).
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{300, 128, 512}, std::array<int64_t, 3>{37, 40, 300},
                                         std::array<int64_t, 3>{5, 64, 256}})
    for (ops::Activation act : {ops::Activation::none, ops::Activation::quick_gelu})
      for (DType xt : {DType::f32, DType::bf16}) {
        SCOPED_TRACE("rows " + std::to_string(s[0]) + " K " + std::to_string(s[1]) + " N " + std::to_string(s[2]) +
                     " x " + std::string(dtype_name(xt)));
        const Tensor x = g.normal({s[0], s[1]}).to(xt).to(gpu);
        const Tensor w = g.normal({s[2], s[1]}, 0.0, 0.2).to(DType::bf16).to(gpu), b = g.normal({s[2]}).to(gpu);
        ASSERT_TRUE(ops::linear_takes_bf16(x, w, b));
        const Tensor got = ops::linear_bf16_out(x, w, b, act);
        EXPECT_EQ(got.dtype(), DType::bf16);
        EXPECT_TRUE(same_bits(got, ops::cast(ops::linear(x, w, b, act), DType::bf16)));
      }
}

TEST(CudaBf16Handoff, AttentionBf16OutIsTheCastOfAttention) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(42);
  const Device gpu = Device::cuda(0);
  for (bool autocast : {true, false})
    for (int64_t D : {64, 128})
      for (bool causal : {false, true}) {
        SCOPED_TRACE("autocast " + std::to_string(autocast) + " D " + std::to_string(D) + " causal " +
                     std::to_string(causal));
        ops::CudaAutocastBf16Guard guard(autocast);
        const Tensor q = g.normal({2, 4, 33, D}).to(gpu), k = g.normal({2, 2, 40, D}).to(gpu),
                     v = g.normal({2, 2, 40, D}).to(gpu);
        ops::AttentionOptions opt;
        opt.causal = causal;
        EXPECT_EQ(ops::attention_takes_bf16(gpu, D, D, opt), autocast);
        const Tensor f32 = ops::attention(q, k, v, opt);
        opt.bf16_out = true;
        const Tensor got = ops::attention(q, k, v, opt);
        EXPECT_EQ(got.dtype(), DType::bf16);
        EXPECT_TRUE(same_bits(got, ops::cast(f32, DType::bf16)));
        // bf16 inputs (what the handoff's projections give) are what the kernel rounds to: same bits.
        opt.bf16_out = false;
        if (autocast) {
          EXPECT_TRUE(same_bits(ops::attention(q.to(DType::bf16), k.to(DType::bf16), v.to(DType::bf16), opt), f32));
        }
      }
}

// At inference the flash kernel reads q, k and v where the projections left them ([B, T, heads, D]
// seen as [B, heads, T, D], here slices of one [B, T, (H + 2 Hkv) D] buffer) and writes out as
// [B, T, H, D]: the bits of the recording path, which takes contiguous copies, and an output whose
// transpose back needs no copy. Added in the twelfth session without a GPU.
TEST(CudaBf16Handoff, AttentionReadsProjectionLayoutsInPlace) {
  RS_REQUIRE_CUDA();
  Generator g(44);
  const Device gpu = Device::cuda(0);
  const int64_t B = 2, T = 37, H = 4, Hkv = 2;
  for (int64_t D : {64, 128})
    for (bool causal : {false, true}) {
      SCOPED_TRACE("D " + std::to_string(D) + " causal " + std::to_string(causal));
      ops::CudaAutocastBf16Guard guard(true);
      const Tensor qkv = g.normal({B, T, (H + 2 * Hkv) * D}).to(DType::bf16).to(gpu);
      auto heads = [&](int64_t first, int64_t n) {  // [B, n, T, D] view of the buffer
        return ops::transpose(ops::reshape(ops::narrow(qkv, 2, first * D, n * D), {B, T, n, D}), 1, 2);
      };
      const Tensor q = heads(0, H), k = heads(H, Hkv), v = heads(H + Hkv, Hkv);
      ASSERT_FALSE(q.is_contiguous());
      ops::AttentionOptions opt;
      opt.causal = causal;
      opt.bf16_out = true;
      Tensor got;
      {
        autograd::NoGradGuard no_grad;
        got = ops::attention(q, k, v, opt);  // [B, H, T, D]
      }
      EXPECT_TRUE(ops::transpose(got, 1, 2).is_contiguous()) << "out should be written as [B, T, H, D]";
      // The recording path (contiguous copies, the layout the kernels were validated with).
      Tensor qf = q.to(DType::f32).contiguous(), kf = k.to(DType::f32).contiguous(), vf = v.to(DType::f32).contiguous();
      for (Tensor* t : {&qf, &kf, &vf}) t->set_requires_grad(true);
      opt.bf16_out = false;
      const Tensor ref = ops::attention(qf, kf, vf, opt);
      EXPECT_TRUE(same_bits(got, ops::cast(ops::detach(ref), DType::bf16)));
    }
}

// The strided forward refuses an output layout that would write some elements twice (rows of
// different heads overlapping), before touching the device. Added in the thirteenth session.
TEST(CudaBf16Handoff, StridedAttentionRefusesOverlappingOutputRows) {
  RS_REQUIRE_CUDA();
  namespace kc = kernels::cuda;
  const int64_t B = 1, H = 4, T = 8, D = 64;
  const kc::AttentionRowStrides dense{T * H * D, D, H * D};  // [B, T, H, D]
  DeviceBuffer<uint16_t> q(B * T * H * D), k(B * T * H * D), v(B * T * H * D), out(B * T * H * D);
  DeviceBuffer<float> lse(B * H * T);
  auto run = [&](kc::AttentionRowStrides os) {
    kc::flash_attention_bf16_forward_strided(q.get(), dense, k.get(), dense, v.get(), dense, out.get(), os, lse.get(),
                                             B, H, H, T, T, D, 0.125f, false, 0);
  };
  EXPECT_THROW(run({T * H * D, 2, H * D}), DeviceError) << "heads 2 elements apart, rows of 64";
  EXPECT_THROW(run({T * H * D, D, D}), DeviceError) << "heads and tokens on the same rows";
  EXPECT_NO_THROW(run(dense));
  cuda_runtime::synchronize(0);
  EXPECT_TRUE(out.guards_intact());
}

TEST(CudaBf16Handoff, PredicatesFollowGradientsWeightsAndTheSwitch) {
  RS_REQUIRE_CUDA();
  HandoffGuard restore;
  Generator g(43);
  const Device gpu = Device::cuda(0);
  const Tensor x = g.normal({4, 64}).to(gpu), w16 = g.normal({32, 64}).to(DType::bf16).to(gpu);
  Tensor producer_w = g.normal({64, 64}).to(gpu);
  producer_w.set_requires_grad(true);
  EXPECT_FALSE(ops::linear_takes_bf16(x, w16, Tensor(), {&producer_w}));  // the producer is differentiated
  autograd::NoGradGuard no_grad;
  EXPECT_TRUE(ops::linear_takes_bf16(x, w16, Tensor(), {&producer_w}));
  EXPECT_FALSE(ops::linear_takes_bf16(x, w16.to(DType::f32), Tensor()));  // f32 weights: no rounding of x
  ops::set_cuda_bf16_handoff(false);
  EXPECT_FALSE(ops::linear_takes_bf16(x, w16, Tensor()));
}

// A CLIP vision tower (bf16 weights) gives the same bits with the handoff on and off, attention in
// f32 (only the MLP's hidden layer handed over) and under bf16 autocast (q, k, v and the attention
// output too).
TEST(CudaBf16Handoff, ClipVisionKeepsItsBits) {
  RS_REQUIRE_CUDA();
  HandoffGuard restore;
  autograd::NoGradGuard no_grad;
  models::ClipVisionConfig c;
  c.hidden_size = 256;
  c.intermediate_size = 1024;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;  // head size 64: the tensor-core kernel's
  c.patch_size = 14;
  c.image_size = 56;
  Generator g(44);
  auto m = std::make_shared<models::ClipVisionTransformer>(c, nn::Init{DType::f32, &g});
  m->eval();
  m->to(DType::bf16);
  m->to(Device::cuda(0));
  const Tensor px = g.normal({3, 3, 56, 56}).to(Device::cuda(0));
  for (bool autocast : {false, true}) {
    SCOPED_TRACE(autocast ? "bf16 attention" : "f32 attention");
    ops::CudaAutocastBf16Guard guard(autocast);
    ops::set_cuda_bf16_handoff(true);
    const models::ClipVisionOutput on = m->forward(px);
    ops::set_cuda_bf16_handoff(false);
    const models::ClipVisionOutput off = m->forward(px);
    EXPECT_EQ(on.last_hidden_state.dtype(), DType::f32);
    EXPECT_TRUE(same_bits(on.last_hidden_state, off.last_hidden_state));
    EXPECT_TRUE(same_bits(on.pooler_output, off.pooler_output));
  }
}

}  // namespace
}  // namespace rscapret::testing
