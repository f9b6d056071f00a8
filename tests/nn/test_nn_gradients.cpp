// Finite-difference checks (float64, tests/common/gradcheck.h) of every layer and loss, with the
// module's parameters bound as gradcheck inputs, so both input and parameter gradients are checked.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "tests/common/gradcheck.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;
using Inputs = std::vector<Tensor>;

const Init kF64{DType::f64};

// Checks d(forward)/d(x, named parameters); forward reads the module, which bind_params() updates.
void check_module(const std::string& what, Module& m, const std::vector<std::string>& params, const Tensor& x,
                  const std::function<Tensor(const Tensor&)>& forward) {
  m.freeze();  // only the bound inputs are leaves that ask for gradients
  Inputs in{x};
  for (Tensor& p : current(m, params)) in.push_back(p);
  const double worst = gradcheck(what, [&](const Inputs& xs) {
    bind_params(m, params, xs, 1);
    return forward(xs[0]);
  }, in);
  std::printf("%-24s %zu inputs, worst |autograd - numeric| %.2e\n", what.c_str(), in.size(), worst);
}

std::vector<std::string> all_names(Module& m) {
  std::vector<std::string> out;
  for (auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}

TEST(NnGradients, Linear) {
  Generator g(30);
  for (bool bias : {true, false}) {
    Linear lin(4, 3, bias, kF64);
    check_module("linear", lin, all_names(lin), randn(g, {2, 3, 4}, DType::f64),
                 [&](const Tensor& x) { return lin(x); });
    for (Activation act : {Activation::quick_gelu, Activation::gelu_erf, Activation::gelu_tanh, Activation::silu})
      check_module("linear + activation", lin, all_names(lin), randn(g, {2, 3, 4}, DType::f64),
                   [&](const Tensor& x) { return lin.forward(x, act); });
  }
}

TEST(NnGradients, LayerNormAndRMSNorm) {
  Generator g(31);
  LayerNorm ln(5, 1e-5, true, true, kF64);
  ln.weight = randn(g, {5}, DType::f64);
  ln.bias = randn(g, {5}, DType::f64);
  check_module("layer_norm", ln, all_names(ln), randn(g, {3, 5}, DType::f64), [&](const Tensor& x) { return ln(x); });
  RMSNorm rms(5, 1e-6, kF64);
  rms.weight = randn(g, {5}, DType::f64);
  check_module("rms_norm", rms, all_names(rms), randn(g, {2, 2, 5}, DType::f64), [&](const Tensor& x) { return rms(x); });
}

TEST(NnGradients, MlpAndSwiGLU) {
  Generator g(32);
  MLP mlp(4, 6, Activation::quick_gelu, true, kF64);
  check_module("mlp", mlp, all_names(mlp), randn(g, {2, 3, 4}, DType::f64), [&](const Tensor& x) { return mlp(x); });
  SwiGLU sw(4, 6, false, kF64);
  check_module("swiglu", sw, all_names(sw), randn(g, {3, 4}, DType::f64), [&](const Tensor& x) { return sw(x); });
}

TEST(NnGradients, EmbeddingAndDropout) {
  Generator g(33);
  Embedding emb(5, 3, kF64);
  emb.freeze();
  const Tensor ids = Tensor::from_vector<int64_t>({4, 1, 4, 0}, {2, 2});  // a repeated row accumulates
  gradcheck("embedding", [&](const Inputs& xs) {
    emb.weight = xs[0];
    return emb(ids);
  }, {emb.weight.clone()});

  Dropout drop(0.4, 7);
  gradcheck("dropout", [&](const Inputs& xs) {
    drop.set_counter(0);  // the same mask at every evaluation
    return drop(xs[0]);
  }, {randn(g, {4, 5}, DType::f64)});
}

AttentionConfig small_llama() {
  AttentionConfig c;
  c.hidden_size = 8, c.num_heads = 4, c.num_kv_heads = 2, c.bias = false, c.rope = true;
  return c;
}

Tensor mask(const std::vector<int>& keep, int64_t B, int64_t T) {
  Tensor m = Tensor::empty({B, T}, DType::boolean);
  for (int64_t i = 0; i < B * T; ++i) m.data<bool>()[i] = keep[size_t(i)] != 0;
  return m;
}

TEST(NnGradients, AttentionWithPaddingMask) {
  Generator g(34);
  AttentionConfig c;
  c.hidden_size = 6, c.num_heads = 2, c.out_name = "out_proj";
  Attention att(c, kF64);
  const Tensor keep = mask({1, 1, 1, 1, 0, 1, 1, 0}, 2, 4);
  check_module("attention padding", att, all_names(att), randn(g, {2, 4, 6}, DType::f64),
               [&](const Tensor& x) { return att(x, {.key_keep = keep}); });
}

TEST(NnGradients, AttentionGqaRopeCausal) {
  Generator g(35);
  Attention att(small_llama(), kF64);
  const Tensor keep = mask({0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 5);  // row 0 left-padded
  check_module("attention gqa causal", att, all_names(att), randn(g, {2, 5, 8}, DType::f64),
               [&](const Tensor& x) { return att(x, {.causal = true, .key_keep = keep}); });
}

TEST(NnGradients, AttentionThroughKvCache) {
  Generator g(36);
  Attention att(small_llama(), kF64);
  const Tensor keep = mask({1, 1, 1, 1, 1, 0, 1, 1, 1, 1}, 2, 5);
  // Prefill 3 tokens, then decode 2, one at a time: gradients reach the cached keys and values.
  check_module("attention kv cache", att, all_names(att), randn(g, {2, 5, 8}, DType::f64), [&](const Tensor& x) {
    LayerKVCache cache;
    std::vector<Tensor> outs;
    int64_t t = 0;
    for (int64_t n : {3, 1, 1}) {
      const Tensor m = keep.narrow(1, 0, t + n).contiguous();
      outs.push_back(att(ops::narrow(x, 1, t, n), {.causal = true, .key_keep = m, .cache = &cache}));
      t += n;
    }
    return ops::concat(outs, 1);
  });
}

TEST(NnGradients, CausalLmLoss) {
  Generator g(37);
  const Tensor labels = Tensor::from_vector<int64_t>({-100, 2, 3, 0, 1, 4, -100, -100}, {2, 4});
  gradcheck("causal_lm_loss", [&](const Inputs& xs) { return causal_lm_loss(xs[0], labels); },
            {randn(g, {2, 4, 5}, DType::f64)});
}

TEST(NnGradients, InfoNce) {
  Generator g(38);
  gradcheck("info_nce", [&](const Inputs& xs) { return info_nce_loss(xs[0], xs[1], xs[2]); },
            {randn(g, {4, 3}, DType::f64), randn(g, {4, 3}, DType::f64), Tensor::scalar(0.7, DType::f64)});
  gradcheck("l2_normalize", [&](const Inputs& xs) { return l2_normalize(xs[0]); }, {randn(g, {3, 4}, DType::f64)});
}

}  // namespace
}  // namespace rscapret::testing
