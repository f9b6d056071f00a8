// The RS-CapRet bridge model: label construction, shapes, which tensors get gradients, the frozen
// backbones, a float64 finite-difference check of the losses, and [RET] handling.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/losses.h"
#include "tests/rscapret/rscapret_test_util.h"

namespace rscapret::models {
namespace {

using testing::tiny_captions;
using testing::tiny_spec;

constexpr int64_t kRet = 99, kPad = 0, kBos = 1;

TEST(RsCapRetLabels, TokensAndLabels) {
  // Row 0 fits; row 1 is truncated (its last kept token becomes [RET]).
  const CaptionTokens t = make_caption_tokens({{10, 11}, {20, 21, 22, 23, 24}}, kBos, 5, kRet, kPad);
  EXPECT_EQ(t.tokens.to_vector<int64_t>(), (std::vector<int64_t>{1, 10, 11, kRet, kPad, 1, 20, 21, 22, kRet}));
  EXPECT_EQ(t.lengths, (std::vector<int64_t>{4, 5}));
  // K = 2 visual positions ignored; BOS and words are targets; [RET] and padding are not.
  EXPECT_EQ(caption_labels(t, 2).to_vector<int64_t>(),
            (std::vector<int64_t>{-100, -100, 1, 10, 11, -100, -100, -100, -100, 1, 20, 21, 22, -100}));
  // Retrieval mode: [RET] IS a target, padding is not.
  EXPECT_EQ(retrieval_labels(t).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 10, 11, kRet, -100, 1, 20, 21, 22, kRet}));
}

TEST(RsCapRetLabels, NoPaddingModeUsesTheLongestRow) {
  const CaptionTokens t = make_caption_tokens({{5}, {6, 7, 8}}, kBos, 0, kRet, kPad);
  EXPECT_EQ(t.tokens.shape(), (Shape{2, 5}));
  EXPECT_EQ(t.lengths, (std::vector<int64_t>{3, 5}));
}

TEST(RsCapRetLabels, ConcatenationPlanAndLabels) {
  // Three rows: (0, 1) are concatenated, row 2 is alone and padded.
  const CaptionTokens t = make_caption_tokens({{10}, {20, 21}, {30}}, kBos, 4, kRet, kPad);
  const int64_t K = 1;
  const ConcatPlan plan = concat_plan(t, K);
  ASSERT_EQ(plan.rows.size(), 2u);
  EXPECT_EQ(plan.length, 2 * (K + 4));
  const std::vector<int64_t> lab = concat_caption_labels(t, plan, K).to_vector<int64_t>();
  // [vis0, BOS 10, vis1, BOS 20 21, RET pad, RET] -> targets BOS,10 and BOS,20,21 only.
  EXPECT_EQ(std::vector<int64_t>(lab.begin(), lab.begin() + 10),
            (std::vector<int64_t>{-100, 1, 10, -100, 1, 20, 21, -100, -100, -100}));
  // [vis2, BOS 30, RET pad, then K + L ignored positions].
  EXPECT_EQ(std::vector<int64_t>(lab.begin() + 10, lab.end()),
            (std::vector<int64_t>{-100, 1, 30, -100, -100, -100, -100, -100, -100, -100}));
}

TEST(RsCapRetLabels, TruncateCaption) {
  EXPECT_EQ(truncate_caption(" many trees are near a river . two cars"), "many trees are near a river");
  EXPECT_EQ(truncate_caption("no period here "), "no period here");
  EXPECT_EQ(truncate_caption("."), "");
}

class RsCapRetTiny : public ::testing::Test {
 protected:
  void SetUp() override {
    RSCAPRET_REQUIRE_TINY();
    tmp_ = testing::temp_dir("model");
  }
  void TearDown() override {
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_);
  }
  RsCapRetBundle load(const std::string& dtype = "f32", DType param_dtype = DType::f32, int64_t k = 1) {
    RsCapRetSpec spec = tiny_spec(tmp_, dtype);
    spec.options.num_visual_tokens = k;
    Generator gen(7);
    nn::Init init;
    init.dtype = param_dtype;
    init.gen = &gen;
    return load_rscapret(spec, init);
  }
  std::filesystem::path tmp_;
};

TEST_F(RsCapRetTiny, ShapesAndRetId) {
  RsCapRetBundle b = load("f32", DType::f32, 2);
  RsCapRet& m = *b.model;
  EXPECT_EQ(m.ret_id(), 256);
  EXPECT_EQ(b.tokenizer->piece_to_id("[RET]"), 256);
  const Tensor pooled = m.encode_images(testing::random_pixels(3, 1));
  EXPECT_EQ(pooled.shape(), (Shape{3, 64}));
  EXPECT_FALSE(pooled.requires_grad());
  EXPECT_EQ(m.visual_prefix(pooled).shape(), (Shape{3, 2, 64}));
  EXPECT_EQ(m.image_embeddings(pooled).shape(), (Shape{3, 16}));
  const CaptionTokens t = tokenize_captions(*b.tokenizer, {"a red roof", "some boats", "a big farm"}, 16, 256, 0);
  EXPECT_EQ(m.embed_tokens(t.tokens).shape(), (Shape{3, 16, 64}));
  EXPECT_EQ(m.logits(m.embed_tokens(t.tokens)).shape(), (Shape{3, 16, 257}));
  EXPECT_EQ(m.text_embeddings(t).shape(), (Shape{3, 16}));
  for (bool concat : {false, true}) {
    const RsCapRetLosses l = m.losses(pooled, t, concat);
    EXPECT_TRUE(std::isfinite(l.total.item()));
    EXPECT_GT(l.caption.item(), 0.0);
    EXPECT_GT(l.ret_lm.item(), 0.0);
    EXPECT_GT(l.contrastive.item(), 0.0);
    // total = 1 * cap + 1 * lm + 1 * nce (the defaults).
    EXPECT_NEAR(l.total.item(), l.caption.item() + l.ret_lm.item() + l.contrastive.item(), 1e-5);
    EXPECT_EQ(l.logits_per_image.shape(), (Shape{3, 3}));
  }
  // The [RET] row of the embeddings is the trainable row; the others are the frozen table's.
  const Tensor e = m.embed_tokens(Tensor::from_vector(std::vector<int64_t>{256, 5}, {1, 2}));
  EXPECT_EQ(e.select(1, 0).to_vector<float>(), m.ret_input_embedding.select(0, 0).to_vector<float>());
  EXPECT_EQ(e.select(1, 1).to_vector<float>(), m.llm().model->embed_tokens->weight.select(0, 5).to_vector<float>());
  EXPECT_THROW(m.embed_tokens(Tensor::from_vector(std::vector<int64_t>{257}, {1, 1})), IndexError);
}

TEST_F(RsCapRetTiny, LogitScaleAndRetRowsStartAsSpecified) {
  RsCapRetBundle b = load();
  RsCapRet& m = *b.model;
  EXPECT_NEAR(m.logit_scale.item(), std::log(1.0 / 0.07), 1e-6);
  double sq = 0;
  for (float v : m.ret_input_embedding.to_vector<float>()) sq += double(v) * v;
  EXPECT_NEAR(std::sqrt(sq), m.mean_embedding_norm(), 1e-5 * m.mean_embedding_norm());
  ASSERT_TRUE(m.ret_output_embedding.defined());  // llama_tiny's head is untied
  EXPECT_EQ(m.ret_output_embedding.shape(), (Shape{1, 64}));
}

// Gradients reach exactly W_c, W_i, W_t, logit_scale and the two [RET] rows; the frozen backbones
// get no gradient buffer and stay bit-identical through optimizer steps.
TEST_F(RsCapRetTiny, GradientsReachExactlyTheTrainableParts) {
  RsCapRetBundle b = load();
  RsCapRet& m = *b.model;
  std::vector<std::string> names;
  for (const auto& [n, t] : m.named_parameters())
    if (t.requires_grad()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"logit_scale", "ret_input_embedding", "ret_output_embedding",
                                             "visual_embeddings.weight", "visual_embeddings.bias", "visual_fc.weight",
                                             "visual_fc.bias", "text_hidden_fc.weight", "text_hidden_fc.bias"}))
      << "registration order";
  EXPECT_EQ(m.clip().num_parameters(true), 0);
  EXPECT_EQ(m.llm().num_parameters(true), 0);
  const std::string clip_hash = module_xxh3(m.clip()), llm_hash = module_xxh3(m.llm());

  const Tensor pooled = m.encode_images(testing::random_pixels(4, 2));
  const CaptionTokens t = tokenize_captions(*b.tokenizer, {tiny_captions().begin(), tiny_captions().begin() + 4}, 16,
                                            m.ret_id(), 0);
  autograd::backward(m.losses(pooled, t, /*concat=*/true).total);
  for (const auto& [n, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << n;
    double s = 0;
    for (double v : p.grad().to_vector<double>()) s += std::abs(v);
    EXPECT_GT(s, 0.0) << n << " got an all-zero gradient";
  }
  for (const auto& [n, p] : m.clip().named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
  for (const auto& [n, p] : m.llm().named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
  EXPECT_EQ(module_xxh3(m.clip()), clip_hash);
  EXPECT_EQ(module_xxh3(m.llm()), llm_hash);
}

// The [RET] input row is held at the mean norm of the frozen rows after an update.
TEST_F(RsCapRetTiny, RetRowRenormalisation) {
  RsCapRetBundle b = load();
  RsCapRet& m = *b.model;
  m.ret_input_embedding.copy_from(ops::mul(m.ret_input_embedding, 3.5));
  m.renormalize_ret_embedding();
  double sq = 0;
  for (float v : m.ret_input_embedding.to_vector<float>()) sq += double(v) * v;
  EXPECT_NEAR(std::sqrt(sq), m.mean_embedding_norm(), 1e-5 * m.mean_embedding_norm());
}

// [RET] never comes from plain text, and captioning never emits it even when it would win.
TEST_F(RsCapRetTiny, RetNeverProducedFromPlainTextOrWhileCaptioning) {
  RsCapRetBundle b = load();
  RsCapRet& m = *b.model;
  for (int32_t id : b.tokenizer->encode("a [RET] b [RET]", true)) EXPECT_NE(id, m.ret_id());
  const CaptionTokens t = tokenize_captions(*b.tokenizer, {"trees [RET] river"}, 0, m.ret_id(), 0);
  const auto ids = t.tokens.to_vector<int64_t>();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), m.ret_id()), 1);
  EXPECT_EQ(ids.back(), m.ret_id());

  // Make [RET] the unconstrained argmax: its head row becomes a large multiple of the hidden state
  // the decoder sees first (checked below, so the test cannot pass vacuously).
  const Tensor pooled = m.encode_images(testing::random_pixels(2, 3));
  {
    autograd::NoGradGuard ng;
    LlamaInput in;
    in.inputs_embeds = m.visual_prefix(pooled);
    in.logits = false;
    const Tensor h = m.llm().forward(in).last_hidden_state.select(1, 0).select(0, 0);  // [C]
    m.ret_output_embedding.copy_from(ops::mul(h.unsqueeze(0), 1e3));
  }
  RsCapRetDecoder dec2(m);
  EXPECT_EQ(argmax_row(dec2.step_embeds(m.visual_prefix(pooled)), 0), m.ret_id()) << "the test must be meaningful";
  GenerateOptions g;
  g.max_new_tokens = 6;
  for (auto strategy : {DecodeStrategy::greedy, DecodeStrategy::beam}) {
    g.strategy = strategy;
    g.num_beams = 2;
    for (const auto& row : m.caption_tokens(pooled, g).tokens)
      for (int64_t id : row) EXPECT_NE(id, m.ret_id());
  }
}

// Central differences in float64 of every loss term with respect to sampled elements of every
// trainable tensor (all elements would take minutes; 12 per tensor, chosen at random, still
// exercise every vjp on the path). Backbones are widened to f64 so the whole function is f64.
TEST_F(RsCapRetTiny, FiniteDifferencesOfTheBridgeLosses) {
  RsCapRetBundle b = load("f64", DType::f64, 2);
  RsCapRet& m = *b.model;
  const Tensor pooled = m.encode_images(testing::random_pixels(3, 4, DType::f64)).to(DType::f64);
  // Pooled features as a frozen input (CLIP is frozen): f64.
  ASSERT_EQ(pooled.dtype(), DType::f64);
  const CaptionTokens t = tokenize_captions(*b.tokenizer, {"a red roof", "many green trees", "some boats"}, 12,
                                            m.ret_id(), 0);
  // h = 1e-6 in f64: truncation ~h^2 and rounding ~1e-16 / 1e-6 = 1e-10 on losses of O(1);
  // 1e-6 absolute + 1e-5 relative is far above that noise and far below any vjp bug.
  const double h = 1e-6, atol = 1e-6, rtol = 1e-5;
  for (bool concat : {false, true}) {
    m.zero_grad();
    autograd::backward(m.losses(pooled, t, concat).total);
    Generator pick(11);
    for (auto& [name, p] : m.named_parameters()) {
      ASSERT_EQ(p.dtype(), DType::f64) << name;
      const Tensor g = p.grad();
      ASSERT_TRUE(g.defined()) << name;
      const std::vector<double> gv = g.to_vector<double>();
      const auto idx = pick.randint({12}, p.numel()).to_vector<int64_t>();
      double* data = p.data<double>();  // parameters are contiguous leaves
      for (int64_t i : idx) {
        autograd::NoGradGuard ng;
        const double orig = data[i];
        data[i] = orig + h;
        const double up = m.losses(pooled, t, concat).total.item();
        data[i] = orig - h;
        const double down = m.losses(pooled, t, concat).total.item();
        data[i] = orig;
        const double numeric = (up - down) / (2 * h);
        EXPECT_NEAR(gv[size_t(i)], numeric, atol + rtol * std::abs(numeric))
            << name << "[" << i << "] concat " << concat;
      }
    }
  }
}

// bf16 backbones (the full-size setting) run forward and backward into the f32 bridge.
TEST_F(RsCapRetTiny, Bf16BackbonesTrainTheF32Bridge) {
  RsCapRetBundle b = load("bf16");
  RsCapRet& m = *b.model;
  EXPECT_EQ(m.llm().model->embed_tokens->weight.dtype(), DType::bf16);
  EXPECT_EQ(m.clip().vision_model->post_layernorm->weight.dtype(), DType::bf16);
  EXPECT_EQ(m.visual_fc->weight.dtype(), DType::f32);
  const Tensor pooled = m.encode_images(testing::random_pixels(2, 5));
  const CaptionTokens t = tokenize_captions(*b.tokenizer, {"a red roof", "some boats"}, 16, m.ret_id(), 0);
  const RsCapRetLosses l = m.losses(pooled, t, false);
  EXPECT_TRUE(std::isfinite(l.total.item()));
  autograd::backward(l.total);
  EXPECT_TRUE(m.ret_input_embedding.grad().defined());
  EXPECT_EQ(m.ret_input_embedding.grad().dtype(), DType::f32);
}

}  // namespace
}  // namespace rscapret::models
