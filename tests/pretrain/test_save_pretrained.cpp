// save_pretrained: what we write is what our loaders read back (config and weights), in f32
// exactly and in 16-bit storage within rounding, and the write leaves no temporary behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "autograd/autograd.h"
#include "models/checkpoint/hf_checkpoint.h"
#include "models/checkpoint/save_pretrained.h"
#include "models/clip/clip.h"
#include "models/llama/llama.h"
#include "tests/pretrain/pretrain_test_util.h"

namespace rscapret {
namespace {
namespace fs = std::filesystem;
using models::ClipConfig;
using models::LlamaConfig;

LlamaConfig tiny_llama(bool tied) {
  LlamaConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500.0;
  c.tie_word_embeddings = tied;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

ClipConfig tiny_clip() {
  ClipConfig c;
  c.projection_dim = 16;
  c.logit_scale_init_value = 2.5;
  c.vision.hidden_size = 32;
  c.vision.intermediate_size = 64;
  c.vision.num_hidden_layers = 1;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 16;
  c.vision.patch_size = 8;
  c.vision.hidden_act = models::Activation::gelu_erf;
  c.text.vocab_size = 100;
  c.text.hidden_size = 24;
  c.text.intermediate_size = 48;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 2;
  c.text.max_position_embeddings = 20;
  c.text.bos_token_id = 98;
  c.text.eos_token_id = 99;
  c.text.pad_token_id = 99;
  c.text.layer_norm_eps = 1e-6;
  return c;
}

void expect_llama_config_eq(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
}

void expect_clip_config_eq(const ClipConfig& a, const ClipConfig& b) {
  EXPECT_EQ(a.has_vision, b.has_vision);
  EXPECT_EQ(a.has_text, b.has_text);
  EXPECT_EQ(a.has_visual_projection, b.has_visual_projection);
  EXPECT_EQ(a.has_text_projection, b.has_text_projection);
  EXPECT_EQ(a.has_logit_scale, b.has_logit_scale);
  EXPECT_EQ(a.projection_dim, b.projection_dim);
  EXPECT_EQ(a.vision.hidden_size, b.vision.hidden_size);
  EXPECT_EQ(a.vision.intermediate_size, b.vision.intermediate_size);
  EXPECT_EQ(a.vision.num_hidden_layers, b.vision.num_hidden_layers);
  EXPECT_EQ(a.vision.num_attention_heads, b.vision.num_attention_heads);
  EXPECT_EQ(a.vision.num_channels, b.vision.num_channels);
  EXPECT_EQ(a.vision.image_size, b.vision.image_size);
  EXPECT_EQ(a.vision.patch_size, b.vision.patch_size);
  EXPECT_EQ(a.vision.hidden_act, b.vision.hidden_act);
  EXPECT_EQ(a.vision.layer_norm_eps, b.vision.layer_norm_eps);
  if (a.has_text) {
    EXPECT_EQ(a.logit_scale_init_value, b.logit_scale_init_value);
    EXPECT_EQ(a.text.vocab_size, b.text.vocab_size);
    EXPECT_EQ(a.text.hidden_size, b.text.hidden_size);
    EXPECT_EQ(a.text.intermediate_size, b.text.intermediate_size);
    EXPECT_EQ(a.text.num_hidden_layers, b.text.num_hidden_layers);
    EXPECT_EQ(a.text.num_attention_heads, b.text.num_attention_heads);
    EXPECT_EQ(a.text.max_position_embeddings, b.text.max_position_embeddings);
    EXPECT_EQ(a.text.hidden_act, b.text.hidden_act);
    EXPECT_EQ(a.text.layer_norm_eps, b.text.layer_norm_eps);
    EXPECT_EQ(a.text.pad_token_id, b.text.pad_token_id);
    EXPECT_EQ(a.text.bos_token_id, b.text.bos_token_id);
    EXPECT_EQ(a.text.eos_token_id, b.text.eos_token_id);
  }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to(DType::f64).contiguous().to_vector<double>();
  const auto y = b.to(DType::f64).contiguous().to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

bool has_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

TEST(SavePretrained, LlamaRoundTripExact) {
  const fs::path tmp = testing::temp_dir("sp_llama");
  for (bool tied : {false, true}) {
    const LlamaConfig cfg = tiny_llama(tied);
    Generator gen(11);
    nn::Init init;
    init.gen = &gen;
    models::LlamaForCausalLM m(cfg, init);
    const fs::path dir = tmp / (tied ? "tied" : "untied");
    models::save_pretrained(dir, m);
    EXPECT_FALSE(has_temporaries(dir));
    // The config parses back to what was written.
    const models::ModelConfig parsed = models::load_model_config(dir);
    EXPECT_EQ(parsed.architecture, models::Architecture::llama);
    EXPECT_EQ(parsed.dtype, "float32");
    expect_llama_config_eq(parsed.llama, cfg);
    const models::HfCheckpoint ck = models::open_hf_checkpoint(dir);
    EXPECT_EQ(ck.weights->names().size(), m.named_state().size());
    // Identical outputs.
    const auto loaded = models::LlamaForCausalLM::from_pretrained(dir);
    autograd::NoGradGuard ng;
    const Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 5, 9, 33, 2, 7, 1, 60, 61, 3}, {2, 5});
    models::LlamaInput in;
    in.input_ids = ids;
    EXPECT_EQ(max_abs_diff(m.forward(in).logits, loaded->forward(in).logits), 0.0);
  }
}

TEST(SavePretrained, LlamaBf16Storage) {
  const fs::path tmp = testing::temp_dir("sp_llama_bf16");
  Generator gen(3);
  nn::Init init;
  init.gen = &gen;
  models::LlamaForCausalLM m(tiny_llama(false), init);
  models::save_pretrained(tmp, m, DType::bf16);
  const models::HfCheckpoint ck = models::open_hf_checkpoint(tmp);
  EXPECT_EQ(ck.config.dtype, "bfloat16");
  EXPECT_EQ(ck.weights->get("lm_head.weight").dtype(), DType::bf16);
  const auto loaded = models::LlamaForCausalLM::from_pretrained(tmp);
  autograd::NoGradGuard ng;
  models::LlamaInput in;
  in.input_ids = Tensor::from_vector(std::vector<int64_t>{1, 5, 9, 33}, {1, 4});
  const double d = max_abs_diff(m.forward(in).logits, loaded->forward(in).logits);
  EXPECT_GT(d, 0.0);   // really rounded
  EXPECT_LT(d, 0.05);  // but only by bf16's 8 bits
}

TEST(SavePretrained, ClipRoundTripExact) {
  const fs::path tmp = testing::temp_dir("sp_clip");
  const ClipConfig cfg = tiny_clip();
  Generator gen(5);
  nn::Init init;
  init.gen = &gen;
  models::ClipModel m(cfg, init);
  models::save_pretrained(tmp, m);
  EXPECT_FALSE(has_temporaries(tmp));
  const models::ModelConfig parsed = models::load_model_config(tmp);
  EXPECT_EQ(parsed.architecture, models::Architecture::clip);
  expect_clip_config_eq(parsed.clip, cfg);
  const auto loaded = models::ClipModel::from_pretrained(tmp);
  autograd::NoGradGuard ng;
  const Tensor px = gen.normal({2, 3, 16, 16});
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{98, 4, 5, 99, 99, 98, 7, 8, 9, 99}, {2, 5});
  const Tensor mask = Tensor::from_vector(std::vector<int64_t>{1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, {2, 5});
  EXPECT_EQ(max_abs_diff(m.encode_image(px).image_embeds, loaded->encode_image(px).image_embeds), 0.0);
  EXPECT_EQ(max_abs_diff(m.encode_text(ids, mask).text_embeds, loaded->encode_text(ids, mask).text_embeds), 0.0);
  EXPECT_EQ(loaded->logit_scale.item(), m.logit_scale.item());
}

TEST(SavePretrained, VisionOnlyConfigs) {
  for (bool proj : {true, false}) {
    ClipConfig c = tiny_clip();
    c.has_text = c.has_text_projection = c.has_logit_scale = false;
    c.has_visual_projection = proj;
    const auto j = models::clip_config_json(c, DType::f16);
    const models::ModelConfig parsed = models::parse_model_config(j.dump(), "<test>");
    EXPECT_EQ(parsed.architecture,
              proj ? models::Architecture::clip_vision_with_projection : models::Architecture::clip_vision);
    EXPECT_EQ(parsed.dtype, "float16");
    expect_clip_config_eq(parsed.clip, c);
  }
}

TEST(SavePretrained, Errors) {
  EXPECT_THROW(models::parse_storage_dtype("f64"), ValueError);
  EXPECT_EQ(models::parse_storage_dtype("bf16"), DType::bf16);
  EXPECT_THROW(models::hf_dtype_name(DType::i32), ValueError);
  ClipConfig c = tiny_clip();
  c.has_vision = false;
  EXPECT_THROW(models::clip_config_json(c), ValueError);
  // A failed save leaves nothing half-written: the target folder's path is a file.
  const fs::path tmp = testing::temp_dir("sp_err");
  std::ofstream(tmp / "blocker") << "x";
  Generator gen(1);
  nn::Init init;
  init.gen = &gen;
  models::LlamaForCausalLM m(tiny_llama(false), init);
  EXPECT_ANY_THROW(models::save_pretrained(tmp / "blocker", m));
}

}  // namespace
}  // namespace rscapret
