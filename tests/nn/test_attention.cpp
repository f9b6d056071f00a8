// Attention module: against a scalar reference (projections, rope, GQA, masks), fused against
// composed, and the KV-cache path (token-by-token decoding equals the full causal forward).
//
// Dimensions: B batch, T tokens, C channels, H query heads, Hkv key/value heads, D head dim.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;

std::vector<double> project(const std::vector<double>& x, const Linear& l, int64_t rows) {
  const auto w = values(l.weight);
  const auto b = l.bias.defined() ? values(l.bias) : std::vector<double>{};
  const int64_t I = l.in_features(), O = l.out_features();
  std::vector<double> y(size_t(rows * O));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < O; ++o) {
      double s = b.empty() ? 0 : b[size_t(o)];
      for (int64_t i = 0; i < I; ++i) s += x[size_t(r * I + i)] * w[size_t(o * I + i)];
      y[size_t(r * O + o)] = s;
    }
  return y;
}

// Rotates one head vector (D values at p) to position pos, as Hugging Face (half_split) or Meta
// (interleaved) do.
void rope_ref(double* p, int64_t D, int64_t pos, const AttentionConfig& c) {
  const int64_t R = c.rotary_dim < 0 ? D : c.rotary_dim;
  for (int64_t i = 0; i < R / 2; ++i) {
    const double angle = double(pos) * std::pow(c.rope_theta, -2.0 * double(i) / double(R));
    const int64_t a = c.rope_layout == ops::RopeLayout::half_split ? i : 2 * i;
    const int64_t b = c.rope_layout == ops::RopeLayout::half_split ? i + R / 2 : 2 * i + 1;
    const double x1 = p[a], x2 = p[b];
    p[a] = x1 * std::cos(angle) - x2 * std::sin(angle);
    p[b] = x2 * std::cos(angle) + x1 * std::sin(angle);
  }
}

// The whole module in scalar loops. keep: [B * T] (empty: all keys), positions 0..T-1.
Tensor attention_ref(const Attention& att, const Tensor& x, bool causal, const std::vector<bool>& keep) {
  const AttentionConfig& c = att.config();
  const int64_t B = x.shape()[0], T = x.shape()[1], C = c.hidden_size;
  const int64_t H = c.num_heads, Hkv = c.num_kv_heads, D = c.head_dim, group = H / Hkv;
  const double scale = c.scale.value_or(1.0 / std::sqrt(double(D)));
  const auto xv = values(x);
  auto q = project(xv, *att.q_proj, B * T), k = project(xv, *att.k_proj, B * T), v = project(xv, *att.v_proj, B * T);
  if (c.rope)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t h = 0; h < H; ++h) rope_ref(&q[size_t(((b * T + t) * H + h) * D)], D, t, c);
        for (int64_t h = 0; h < Hkv; ++h) rope_ref(&k[size_t(((b * T + t) * Hkv + h) * D)], D, t, c);
      }
  std::vector<double> o(size_t(B * T * H * D), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t kh = h / group;  // GQA: query head h reads key head h / (H / Hkv)
        std::vector<double> s(size_t(T), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          if ((causal && j > i) || (!keep.empty() && !keep[size_t(b * T + j)])) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[size_t(((b * T + i) * H + h) * D + d)] * k[size_t(((b * T + j) * Hkv + kh) * D + d)];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        if (mx == -INFINITY) continue;  // no visible key: zeros
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j < T; ++j)
          for (int64_t d = 0; d < D; ++d)
            o[size_t(((b * T + i) * H + h) * D + d)] += s[size_t(j)] / z * v[size_t(((b * T + j) * Hkv + kh) * D + d)];
      }
  return Tensor::from_vector(project(o, *att.o_proj, B * T), {B, T, C});
}

AttentionConfig clip_config() {
  AttentionConfig c;
  c.hidden_size = 12, c.num_heads = 3, c.out_name = "out_proj";
  return c;
}

AttentionConfig llama_config(ops::RopeLayout layout = ops::RopeLayout::half_split) {
  AttentionConfig c;
  c.hidden_size = 16, c.num_heads = 4, c.num_kv_heads = 2, c.bias = false, c.rope = true, c.rope_theta = 500.0;
  c.rope_layout = layout;
  return c;
}

Tensor keep_mask(const std::vector<bool>& keep, int64_t B, int64_t T) {
  Tensor m = Tensor::empty({B, T}, DType::boolean);
  for (int64_t i = 0; i < B * T; ++i) m.data<bool>()[i] = keep[size_t(i)];
  return m;
}

TEST(NnAttention, ClipStyleWithPaddingMatchesReference) {
  Generator g(10);
  Attention att(clip_config(), Init{DType::f64});
  std::vector<std::string> names;
  for (auto& [n, t] : att.named_parameters()) names.push_back(n);
  EXPECT_EQ(names[6], "out_proj.weight");
  EXPECT_EQ(names[7], "out_proj.bias");
  const Tensor x = randn(g, {2, 5, 12}, DType::f64);
  const std::vector<bool> keep = {true, true, true, true, true, true, true, true, false, false};
  const Tensor y = att(x, {.key_keep = keep_mask(keep, 2, 5)});
  EXPECT_EQ(y.shape(), (Shape{2, 5, 12}));
  expect_close("clip attention", y, attention_ref(att, x, false, keep), 1e-12, 1e-10);
}

TEST(NnAttention, LlamaStyleRopeGqaCausalMatchesReference) {
  Generator g(11);
  for (auto layout : {ops::RopeLayout::half_split, ops::RopeLayout::interleaved}) {
    Attention att(llama_config(layout), Init{DType::f64});
    EXPECT_EQ(att.k_proj->weight.shape(), (Shape{8, 16}));  // Hkv * D = 2 * 4
    EXPECT_TRUE(att.has_parameter("o_proj.weight"));
    const Tensor x = randn(g, {2, 6, 16}, DType::f64);
    std::vector<bool> keep(12, true);
    keep[6] = keep[7] = false;  // left padding in row 1
    expect_close("llama attention", att(x, {.causal = true, .key_keep = keep_mask(keep, 2, 6)}),
                 attention_ref(att, x, true, keep), 1e-12, 1e-10);
  }
  AttentionConfig bad = llama_config();
  bad.num_kv_heads = 3;
  EXPECT_THROW(Attention{bad}, ValueError);
}

TEST(NnAttention, FusedMatchesComposedInF32) {
  Generator g(12);
  AttentionConfig c = llama_config();
  Attention fused(c);
  c.composed = true;
  Attention composed(c);
  composed.load_state_dict(fused.state_dict());
  const Tensor x = randn(g, {3, 7, 16});
  std::vector<bool> keep(21, true);
  keep[7] = keep[14] = keep[15] = false;
  const AttentionArgs args{.causal = true, .key_keep = keep_mask(keep, 3, 7)};
  // f32 softmax over <= 7 keys and 4-term dots: a few ulp of O(1) values.
  expect_close("fused vs composed", fused(x, args), composed(x, args), 2e-5, 1e-5);
}

TEST(NnAttention, KvCacheDecodingEqualsFullCausalForward) {
  Generator g(13);
  for (bool rope : {true, false}) {
    AttentionConfig c = llama_config();
    c.rope = rope;
    Attention att(c, Init{DType::f64});
    const int64_t B = 2, T = 7;
    const Tensor x = randn(g, {B, T, 16}, DType::f64);
    std::vector<bool> keep(size_t(B * T), true);
    keep[size_t(T)] = keep[size_t(T + 1)] = false;  // row 1 left-padded by two
    const Tensor mask = keep_mask(keep, B, T);
    const Tensor full = att(x, {.causal = true, .key_keep = mask});

    // Prefill 3 tokens, then one token at a time; positions continue from the cache length.
    LayerKVCache cache;
    std::vector<Tensor> pieces;
    int64_t t = 0;
    for (int64_t n : {3, 1, 1, 1, 1}) {
      const Tensor xs = x.narrow(1, t, n);
      pieces.push_back(att(xs, {.causal = true, .key_keep = mask.narrow(1, 0, t + n).contiguous(), .cache = &cache}));
      t += n;
      EXPECT_EQ(cache.length(), t);
    }
    expect_close(rope ? "kv cache (rope)" : "kv cache", ops::concat(pieces, 1), full, 1e-12, 1e-10);
  }
}

TEST(NnAttention, KvCacheBufferGrowthTruncateReorder) {
  LayerKVCache cache;
  Generator g(14);
  std::vector<Tensor> ks;
  for (int i = 0; i < 40; ++i) {  // past the initial capacity of 16 twice
    ks.push_back(randn(g, {2, 1, 1, 3}));
    cache.append(ks.back(), ks.back());
  }
  expect_close("grown keys", cache.keys(), ops::concat(ks, 2), 0);
  cache.truncate(10);
  EXPECT_EQ(cache.length(), 10);
  expect_close("truncated", cache.values(), ops::concat(std::vector<Tensor>(ks.begin(), ks.begin() + 10), 2), 0);
  cache.reorder(Tensor::from_vector<int64_t>({1, 1, 0}, {3}));
  EXPECT_EQ(cache.keys().shape(), (Shape{3, 1, 10, 3}));
  expect_close("reordered", cache.keys().select(0, 0), cache.keys().select(0, 1), 0);
  EXPECT_THROW(cache.append(randn(g, {3, 2, 1, 3}), randn(g, {3, 2, 1, 3})), ShapeError);

  KVCache all(3);
  EXPECT_EQ(all.length(), 0);
  all.layer(0).append(ks[0], ks[0]);
  EXPECT_EQ(all.length(), 1);
  all.clear();
  EXPECT_EQ(all.layer(0).length(), 0);
}

// The fused rope-and-append is a GPU path: on the CPU it declines and leaves the cache untouched, so
// Attention takes rope and append (tests/cuda/test_cuda_decode.cpp checks the GPU's bits).
TEST(NnAttention, RopeAppendDeclinesOnTheCpu) {
  LayerKVCache cache;
  Generator g(15);
  const Tensor x = randn(g, {1, 2, 2, 8});
  cache.append(ops::transpose(x, 1, 2), ops::transpose(x, 1, 2));
  LayerKVCache::Rotated r;
  EXPECT_FALSE(cache.append_rotated(x, x, x, Tensor::from_vector<int64_t>({2, 3}, {2}), 10000.0,
                                    ops::RopeLayout::half_split, 8, &r));
  EXPECT_EQ(cache.length(), 2);
  expect_close("cache unchanged", cache.keys(), ops::transpose(x, 1, 2), 0);
  Tensor dst = randn(g, {1, 2, 2, 8});
  EXPECT_FALSE(ops::rope_append(x, x, x, Tensor::from_vector<int64_t>({0, 1}, {2}), 10000.0,
                                ops::RopeLayout::half_split, 8, dst, dst)
                   .defined());
}

TEST(NnAttention, ExplicitPositionsOverrideTheDefault) {
  Generator g(15);
  Attention att(llama_config(), Init{DType::f64});
  const Tensor x = randn(g, {1, 4, 16}, DType::f64);
  // Positions 0..3 spelled out equal the default; shifting every position by 5 leaves causal
  // attention unchanged too (rope scores depend only on the difference of positions).
  const Tensor def = att(x, {.causal = true});
  expect_close("explicit", att(x, {.causal = true, .positions = Tensor::arange(4)}), def, 1e-12);
  const Tensor shifted = Tensor::from_vector<int64_t>({5, 6, 7, 8}, {1, 4});
  expect_close("shifted", att(x, {.causal = true, .positions = shifted}), def, 1e-10);
}

}  // namespace
}  // namespace rscapret::testing
