// End-to-end checks of the modules with the autograd engine: a tiny two-layer transformer
// memorises 64 random sequences; backpropagation through a frozen block reaches the input
// projection and leaves the frozen weights bit-identical; a training step is deterministic.
//
// Dimensions: B batch (sequences), T tokens, C channels, V vocabulary.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/nn.h"
#include "nn/optim/adamw.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;

// The project's AdamW with no weight decay (plain Adam, betas 0.9/0.999) behind the one call
// these tests make.
class TestAdam {
 public:
  TestAdam(const std::vector<Tensor>& params, double lr) : opt_(groups(params, lr)) {}
  void step() {
    opt_.step();
    opt_.zero_grad();
  }

 private:
  static std::vector<ParamGroup> groups(const std::vector<Tensor>& params, double lr) {
    ParamGroup g;
    for (size_t i = 0; i < params.size(); ++i) g.params.push_back({"p" + std::to_string(i), params[i]});
    g.options = AdamWOptions{lr, 0.9, 0.999, 1e-8, 0.0};
    return {g};
  }
  AdamW opt_;
};

// A LLaMA-style pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)).
struct Block : Module {
  Block(int64_t C, int64_t H, int64_t hidden, double p_drop) : Module("Block") {
    AttentionConfig c;
    c.hidden_size = C, c.num_heads = H, c.num_kv_heads = H / 2, c.bias = false, c.rope = true;
    input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(C, 1e-5));
    self_attn = register_module("self_attn", std::make_shared<Attention>(c));
    post_attention_layernorm = register_module("post_attention_layernorm", std::make_shared<RMSNorm>(C, 1e-5));
    mlp = register_module("mlp", std::make_shared<SwiGLU>(C, hidden));
    dropout = register_module("dropout", std::make_shared<Dropout>(p_drop));
  }
  Tensor forward(const Tensor& x) {  // [B, T, C] -> [B, T, C]
    Tensor h = ops::add(x, dropout->forward(self_attn->forward(input_layernorm->forward(x), {.causal = true})));
    return ops::add(h, mlp->forward(post_attention_layernorm->forward(h)));
  }
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<SwiGLU> mlp;
  std::shared_ptr<Dropout> dropout;
};

struct TinyLM : Module {
  TinyLM(int64_t V, int64_t C, int64_t H, double p_drop = 0.0) : Module("TinyLM") {
    embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(V, C));
    layers = register_module("layers", std::make_shared<ModuleList<Block>>());
    for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<Block>(C, H, 2 * C, p_drop));
    norm = register_module("norm", std::make_shared<RMSNorm>(C, 1e-5));
    lm_head = register_module("lm_head", std::make_shared<Linear>(C, V, false));
  }
  Tensor forward(const Tensor& ids) {  // [B, T] -> logits [B, T, V]
    Tensor x = embed_tokens->forward(ids);
    for (const auto& layer : *layers) x = layer->forward(x);
    return lm_head->forward(norm->forward(x));
  }
  std::shared_ptr<Embedding> embed_tokens;
  std::shared_ptr<ModuleList<Block>> layers;
  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Linear> lm_head;
};

// 64 sequences of 8 tokens over V = 64: token 0 is the sequence's own id (so every continuation
// is determined and memorisable), the other 7 are random.
Tensor random_sequences(int64_t n, int64_t T, int64_t V, uint64_t seed) {
  Generator g(seed);
  Tensor ids = g.randint({n, T}, V);
  for (int64_t i = 0; i < n; ++i) ids.data<int64_t>()[i * T] = i;
  return ids;
}

uint64_t hash_params(const NamedTensors& params) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const auto& [n, t] : params) {
    const Tensor c = t.contiguous();
    XXH3_64bits_update(st, n.data(), n.size());
    XXH3_64bits_update(st, c.raw_data(), size_t(c.numel()) * c.element_size());
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

TEST(NnTraining, TinyTransformerOverfits64Sequences) {
  const auto start = std::chrono::steady_clock::now();
  manual_seed(42);
  const int64_t V = 64, T = 8, N = 64;
  TinyLM model(V, 32, 4);
  const Tensor ids = random_sequences(N, T, V, 7);
  TestAdam opt(model.trainable_parameters(), 1e-2);
  double loss = 1e9, first = 0;
  int step = 0;
  for (; step < 400 && loss >= 0.05; ++step) {
    const Tensor l = causal_lm_loss(model.forward(ids), ids);
    loss = l.item();
    if (step == 0) first = loss;
    autograd::backward(l);
    opt.step();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("tiny transformer: loss %.3f -> %.4f in %d steps, %.2f s\n", first, loss, step, seconds);
  EXPECT_NEAR(first, std::log(double(V)), 1.0);  // starts near uniform
  EXPECT_LT(loss, 0.05);
  EXPECT_LT(seconds, 20.0);
}

TEST(NnTraining, BackpropThroughFrozenBlockReachesInputProjection) {
  manual_seed(3);
  Generator g(4);
  const int64_t B = 3, T = 5, Cin = 6, C = 8, V = 10;
  Linear in_proj(Cin, C);
  Block block(C, 4, 16, 0.0);
  Linear head(C, V);
  block.freeze();
  const Tensor x = randn(g, {B, T, Cin});
  const Tensor labels = g.randint({B, T}, V);
  auto loss_fn = [&] { return causal_lm_loss(head(block.forward(in_proj(x))), labels); };

  const uint64_t frozen_before = hash_params(block.named_parameters());
  autograd::backward(loss_fn());
  ASSERT_TRUE(in_proj.weight.grad().defined());
  ASSERT_TRUE(head.weight.grad().defined());
  double norm = 0;
  for (double v : values(in_proj.weight.grad())) norm += v * v;
  EXPECT_GT(norm, 0.0);
  for (auto& [n, t] : block.named_parameters()) EXPECT_FALSE(t.grad().defined()) << n << " got a gradient buffer";

  // Exact: the input projection's gradient is the same whether the block is frozen or not.
  const Tensor frozen_grad = in_proj.weight.grad().clone();
  block.unfreeze();
  in_proj.zero_grad();
  autograd::backward(loss_fn());
  expect_close("frozen vs trainable path", frozen_grad, in_proj.weight.grad(), 0);
  block.freeze();
  in_proj.zero_grad();
  head.zero_grad();

  // Train only the outer layers: the frozen block's bytes never change.
  std::vector<Tensor> params = in_proj.trainable_parameters();
  for (const Tensor& p : head.trainable_parameters()) params.push_back(p);
  TestAdam opt(params, 1e-2);
  const std::vector<double> w0 = values(in_proj.weight);
  for (int s = 0; s < 5; ++s) {
    autograd::backward(loss_fn());
    opt.step();
  }
  EXPECT_NE(values(in_proj.weight), w0);
  EXPECT_EQ(hash_params(block.named_parameters()), frozen_before);
}

TEST(NnTraining, TrainingStepIsDeterministic) {
  // Same seeds, dropout included: two runs of three steps hash the same.
  auto run = [] {
    manual_seed(9);
    TinyLM model(32, 16, 4, /*p_drop=*/0.1);
    const Tensor ids = random_sequences(8, 6, 32, 1);
    TestAdam opt(model.trainable_parameters(), 1e-2);
    for (int s = 0; s < 3; ++s) {
      autograd::backward(causal_lm_loss(model.forward(ids), ids));
      opt.step();
    }
    return hash_params(model.named_parameters());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace rscapret::testing
