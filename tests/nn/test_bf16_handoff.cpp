// The bf16 handoff's ops on the CPU: linear_bf16_out and attention's bf16_out are the casts of the
// f32 results (value and gradient), and neither predicate admits a CPU tensor. The GPU side, where
// the handoff happens, is tested in tests/cuda/test_cuda_handoff.cpp.
#include <gtest/gtest.h>

#include <cstring>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "tensor/rng.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

TEST(Bf16Handoff, LinearBf16OutIsTheCastOfLinear) {
  Generator g(3);
  const Tensor x = g.normal({2, 5, 16}), w = g.normal({12, 16}).to(DType::bf16), b = g.normal({12});
  for (ops::Activation act : {ops::Activation::none, ops::Activation::quick_gelu}) {
    const Tensor got = ops::linear_bf16_out(x, w, b, act);
    EXPECT_EQ(got.dtype(), DType::bf16);
    EXPECT_TRUE(same_bits(got, ops::cast(ops::linear(x, w, b, act), DType::bf16)));
  }
  EXPECT_THROW(ops::linear_bf16_out(g.normal({2, 7}), w, b), ShapeError);  // K differs
  EXPECT_THROW(ops::linear_bf16_out(x, w, g.normal({5})), ShapeError);     // bias not [N]
}

TEST(Bf16Handoff, LinearBf16OutPassesGradients) {
  Generator g(4);
  Tensor x = g.normal({3, 8}), w = g.normal({6, 8}), b = g.normal({6});
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  autograd::backward(ops::sum_all(ops::linear_bf16_out(x, w, b)));
  const Tensor gx = x.grad(), gw = w.grad();
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  // cast's gradient passes the cotangent through: that of the f32 linear.
  autograd::backward(ops::sum_all(ops::linear(x, w, b)));
  EXPECT_TRUE(same_bits(gx, x.grad()));
  EXPECT_TRUE(same_bits(gw, w.grad()));
}

TEST(Bf16Handoff, AttentionBf16OutIsTheCastOfAttention) {
  Generator g(5);
  const Tensor q = g.normal({2, 4, 7, 64}), k = g.normal({2, 2, 9, 64}), v = g.normal({2, 2, 9, 64});
  for (bool causal : {false, true}) {
    ops::AttentionOptions opt;
    opt.causal = causal;
    const Tensor f32 = ops::attention(q, k, v, opt);
    opt.bf16_out = true;
    const Tensor got = ops::attention(q, k, v, opt);
    EXPECT_EQ(got.dtype(), DType::bf16);
    EXPECT_TRUE(same_bits(got, ops::cast(f32, DType::bf16)));
  }
}

TEST(Bf16Handoff, LayerNormBf16OutIsTheCastOfLayerNorm) {
  Generator g(7);
  const Tensor x = g.normal({3, 5, 24}), w = g.normal({24}), b = g.normal({24});
  const Tensor got = ops::layer_norm_bf16_out(x, w, b, 1e-5);
  EXPECT_EQ(got.dtype(), DType::bf16);
  EXPECT_TRUE(same_bits(got, ops::cast(ops::layer_norm(x, w, b, 1e-5), DType::bf16)));
  EXPECT_THROW(ops::layer_norm_bf16_out(x, g.normal({5}), b, 1e-5), ShapeError);
}

TEST(Bf16Handoff, PredicatesAdmitNoCpuTensor) {
  Generator g(6);
  autograd::NoGradGuard no_grad;
  const Tensor x = g.normal({4, 16}), w = g.normal({8, 16}).to(DType::bf16);
  EXPECT_FALSE(ops::linear_takes_bf16(x, w, Tensor()));
  EXPECT_FALSE(ops::linear_takes_bf16(x, Tensor(), Tensor()));  // a quantized layer has no weight
  ops::CudaAutocastBf16Guard autocast(true);
  EXPECT_FALSE(ops::attention_takes_bf16(Device::cpu(), 64, 64, {}));
  EXPECT_TRUE(ops::cuda_bf16_handoff());  // on by default
}

}  // namespace
}  // namespace rscapret::testing
