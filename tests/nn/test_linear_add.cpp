// The residual update `residual + linear(x)` (ops::linear_add, Linear::forward_add, and the residual
// arguments of Attention and SwiGLU that a LLaMA layer passes): on the CPU it is the composed ops, bit
// for bit, value and gradients. On a GPU at decode it is one kernel with the same bits
// (tests/cuda/test_cuda_linear.cpp).
#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "tensor/rng.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

TEST(LinearAdd, IsTheResidualPlusTheLinear) {
  Generator g(41);
  for (bool bias : {false, true})
    for (DType wdt : {DType::f32, DType::bf16}) {
      SCOPED_TRACE(std::string(bias ? "bias " : "no bias ") + std::string(dtype_name(wdt)));
      const Tensor x = g.normal({2, 3, 16}), w = g.normal({12, 16}).to(wdt), r = g.normal({2, 3, 12});
      const Tensor b = bias ? g.normal({12}) : Tensor();
      EXPECT_TRUE(same_bits(ops::linear_add(x, w, b, r), ops::add(r, ops::linear(x, w, b))));
    }
  const Tensor x = g.normal({2, 16}), w = g.normal({12, 16});
  EXPECT_THROW(ops::linear_add(x, w, Tensor(), g.normal({2, 5})), ShapeError);  // residual not [2, 12]
  EXPECT_THROW(ops::linear_add(g.normal({2, 7}), w, Tensor(), g.normal({2, 12})), ShapeError);  // K differs
}

TEST(LinearAdd, GradientsAreTheComposedOnes) {
  Generator g(42);
  auto leaf = [&](const Shape& s) {
    Tensor t = g.normal(s);
    t.set_requires_grad(true);
    return t;
  };
  Tensor x = leaf({3, 8}), w = leaf({5, 8}), b = leaf({5}), r = leaf({3, 5});
  const Tensor weights = g.normal({3, 5});  // a loss that weighs every output differently
  autograd::backward(ops::sum_all(ops::mul(ops::linear_add(x, w, b, r), weights)));
  const std::vector<Tensor> fused_grads = {x.grad(), w.grad(), b.grad(), r.grad()};
  for (Tensor* t : {&x, &w, &b, &r}) t->set_grad(Tensor());
  autograd::backward(ops::sum_all(ops::mul(ops::add(r, ops::linear(x, w, b)), weights)));
  const std::vector<Tensor> composed_grads = {x.grad(), w.grad(), b.grad(), r.grad()};
  for (size_t i = 0; i < fused_grads.size(); ++i) {
    ASSERT_TRUE(fused_grads[i].defined()) << "input " << i << " got no gradient";
    EXPECT_TRUE(same_bits(fused_grads[i], composed_grads[i])) << "input " << i;
  }
}

TEST(LinearAdd, ModulesTakeTheResidual) {
  Generator g(43);
  nn::Linear lin(16, 16);
  const Tensor x = g.normal({2, 4, 16}), r = g.normal({2, 4, 16});
  EXPECT_TRUE(same_bits(lin.forward_add(x, r), ops::add(r, lin.forward(x))));

  nn::SwiGLU mlp(16, 40);
  EXPECT_TRUE(same_bits(mlp.forward(x, r), ops::add(r, mlp.forward(x))));

  nn::AttentionConfig cfg;
  cfg.hidden_size = 16;
  cfg.num_heads = 4;
  cfg.bias = false;
  cfg.rope = true;
  nn::Attention attn(cfg);
  nn::AttentionArgs plain{.causal = true};
  nn::AttentionArgs with_residual = plain;
  with_residual.residual = r;
  EXPECT_TRUE(same_bits(attn.forward(x, with_residual), ops::add(r, attn.forward(x, plain))));
}

}  // namespace
}  // namespace rscapret::testing
