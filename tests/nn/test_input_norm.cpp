// An input RMSNorm handed to the layers that consume it (ops::InputRmsNorm, AttentionArgs::input_norm,
// SwiGLU::forward's input_norm: what a LLaMA layer passes, so that at decode on a GPU the norm rides
// in the q/k/v and gate/up kernels' loads). On the CPU it is the norm followed by the layer, bit for
// bit, value and gradients; decode_linears, a GPU path, declines. The GPU's bits are checked in
// tests/cuda/test_cuda_decode.cpp and, kernel against kernel, on the emulator
// (tests/cuda_emu/test_gemv_norm_emulated.cpp).
#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/mlp.h"
#include "nn/norm.h"
#include "tensor/rng.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

TEST(InputNorm, GatedLinearNormalisesFirstAndDecodeLinearsDeclinesOnTheCpu) {
  Generator g(51);
  for (const DType wdt : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(wdt));
    const Tensor x = g.normal({2, 3, 16}, 0.0, 3.0), nw = g.normal({16}, 1.0, 0.2).to(wdt);
    const Tensor wg = g.normal({24, 16}).to(wdt), wu = g.normal({24, 16}).to(wdt);
    const ops::InputRmsNorm norm{nw, 1e-5};
    EXPECT_TRUE(same_bits(ops::gated_linear(x, wg, wu, ops::Activation::silu, &norm),
                          ops::gated_linear(ops::rms_norm(x, nw, 1e-5), wg, wu, ops::Activation::silu)));
    EXPECT_FALSE(ops::decode_linears(x, {wg, wu}, &norm).defined());
  }
}

struct Layers {
  nn::RMSNorm norm{16, 1e-5};
  nn::SwiGLU mlp{16, 40};
  nn::Attention attn{[] {
    nn::AttentionConfig cfg;
    cfg.hidden_size = 16;
    cfg.num_heads = 4;
    cfg.num_kv_heads = 2;
    cfg.bias = false;
    cfg.rope = true;
    return cfg;
  }()};
  explicit Layers(Generator& g) {
    norm.weight = g.normal({16}, 1.0, 0.2);  // not all ones, so the weight's role shows
  }
};

TEST(InputNorm, LayersGiveTheNormThenTheLayer) {
  Generator g(52);
  Layers l(g);
  const Tensor x = g.normal({2, 4, 16}, 0.0, 2.0), r = g.normal({2, 4, 16});
  EXPECT_TRUE(same_bits(l.mlp.forward(x, r, &l.norm), l.mlp.forward(l.norm.forward(x), r)));
  EXPECT_TRUE(same_bits(l.mlp.forward(x, Tensor(), &l.norm), l.mlp.forward(l.norm.forward(x))));
  nn::AttentionArgs composed{.causal = true};
  composed.residual = r;
  nn::AttentionArgs handed = composed;
  handed.input_norm = &l.norm;
  EXPECT_TRUE(same_bits(l.attn.forward(x, handed), l.attn.forward(l.norm.forward(x), composed)));
}

TEST(InputNorm, GradientsReachTheNormWeightAsWhenComposed) {
  Generator g(53);
  Layers l(g);
  l.norm.weight.set_requires_grad(true);
  const Tensor x = g.normal({1, 3, 16});
  const Tensor weights = g.normal({1, 3, 16});  // a loss that weighs every output differently
  auto grads = [&](bool handed) {
    l.norm.weight.set_grad(Tensor());
    nn::AttentionArgs a{.causal = true};
    if (handed) a.input_norm = &l.norm;
    const Tensor h = l.attn.forward(handed ? x : l.norm.forward(x), a);
    const Tensor y = handed ? l.mlp.forward(h, Tensor(), &l.norm) : l.mlp.forward(l.norm.forward(h));
    autograd::backward(ops::sum_all(ops::mul(y, weights)));
    return l.norm.weight.grad();
  };
  const Tensor want = grads(false), got = grads(true);
  ASSERT_TRUE(got.defined());
  EXPECT_TRUE(same_bits(got, want));
}

}  // namespace
}  // namespace rscapret::testing
