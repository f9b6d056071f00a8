// config.json parsing: HF defaults for absent keys, rope_theta vs rope_parameters, errors.
#include <gtest/gtest.h>

#include "models/config/model_config.h"
#include "tensor/error.h"
#include "tests/common/shared_dir.h"

using namespace rscapret;
using namespace rscapret::models;

TEST(ModelConfig, LlamaDefaultsAndRopeTheta) {
  const ModelConfig m = parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
    "num_attention_heads": 32, "rope_theta": 500000.0, "rms_norm_eps": 1e-5})", "t");
  EXPECT_EQ(m.architecture, Architecture::llama);
  EXPECT_EQ(m.llama.num_key_value_heads, 32);  // defaults to the attention heads
  EXPECT_EQ(m.llama.head_dim, 128);
  EXPECT_EQ(m.llama.vocab_size, 32000);
  EXPECT_DOUBLE_EQ(m.llama.rope_theta, 500000.0);
  EXPECT_FALSE(m.llama.tie_word_embeddings);
  const ModelConfig p = parse_model_config(R"({"model_type": "llama", "eos_token_id": [2, 7],
    "rope_parameters": {"rope_theta": 1234.0, "rope_type": "default"}})", "t");
  EXPECT_DOUBLE_EQ(p.llama.rope_theta, 1234.0);
  EXPECT_EQ(p.llama.eos_token_ids, (std::vector<int64_t>{2, 7}));
  EXPECT_DOUBLE_EQ(p.llama.rms_norm_eps, 1e-6);  // LlamaConfig's default
}

TEST(ModelConfig, ClipTowersAndVisionOnly) {
  const ModelConfig m = parse_model_config(R"({"architectures": ["CLIPModel"], "projection_dim": 768,
    "vision_config": {"patch_size": 14, "hidden_size": 1024, "num_attention_heads": 16}, "text_config": {}})", "t");
  EXPECT_TRUE(m.clip.has_text && m.clip.has_vision);
  EXPECT_EQ(m.clip.vision.patch_size, 14);
  EXPECT_EQ(m.clip.vision.num_patches(), 256);
  EXPECT_EQ(m.clip.text.eos_token_id, 49407);
  EXPECT_EQ(m.clip.projection_dim, 768);
  const ModelConfig v = parse_model_config(R"({"architectures": ["CLIPVisionModelWithProjection"],
    "model_type": "clip_vision_model", "projection_dim": 64, "hidden_act": "gelu"})", "t");
  EXPECT_FALSE(v.clip.has_text);
  EXPECT_TRUE(v.clip.has_visual_projection);
  EXPECT_EQ(v.clip.projection_dim, 64);
  EXPECT_EQ(v.clip.vision.hidden_act, Activation::gelu_erf);
}

TEST(ModelConfig, Errors) {
  EXPECT_THROW(parse_model_config(R"({"architectures": ["GPT2LMHeadModel"]})", "t"), ValueError);
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3"}})", "t"),
               ValueError);
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "hidden_size": "big"})", "t"), FormatError);
  EXPECT_THROW(parse_model_config("{not json", "t"), FormatError);
  // eos_token_id of the wrong type, alone or in a list (a JSON type error escaped before; found by
  // tools/fuzz/fuzz_model_config.cpp).
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "eos_token_id": "float32"})", "t"), FormatError);
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "eos_token_id": [2, "x"]})", "t"), FormatError);
  // Sizes must be positive: a CLIP tower with 0 heads divided by zero while parsing (SIGFPE, found
  // by fuzz_model_config), a negative width would size tensors.
  for (const char* bad : {R"({"architectures": ["CLIPModel"], "vision_config": {"num_attention_heads": 0}})",
                          R"({"architectures": ["CLIPModel"], "text_config": {"num_attention_heads": 0}})",
                          R"({"architectures": ["CLIPModel"], "vision_config": {"patch_size": 0}})",
                          R"({"architectures": ["CLIPModel"], "projection_dim": -4})",
                          R"({"model_type": "llama", "hidden_size": -64, "num_attention_heads": 1})",
                          R"({"model_type": "llama", "num_key_value_heads": 0})",
                          R"({"model_type": "llama", "vocab_size": 0})"})
    EXPECT_THROW(parse_model_config(bad, "t"), ValueError) << bad;
  // Integers written as floats: an integral value is taken, a fraction or an out-of-range value is
  // refused (converting 1e58 to int64 was undefined behaviour; UBSan under fuzz_model_config).
  EXPECT_EQ(parse_model_config(R"({"model_type": "llama", "vocab_size": 300.0})", "t").llama.vocab_size, 300);
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "vocab_size": 300.5})", "t"), FormatError);
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama", "vocab_size": 1.7e58})", "t"), FormatError);
  EXPECT_THROW(load_model_config("/nonexistent/config.json"), IOError);
}

TEST(ModelConfig, FixtureConfigs) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/config.json");
  const ModelConfig l = load_model_config(rscapret::testing::shared_path("fixtures/hf/llama_tiny"));
  EXPECT_EQ(l.llama.intermediate_size, 172);
  EXPECT_DOUBLE_EQ(l.llama.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(l.llama.rms_norm_eps, 1e-5);
  const ModelConfig c = load_model_config(rscapret::testing::shared_path("fixtures/hf/clip_tiny"));
  EXPECT_EQ(c.clip.text.eos_token_id, 299);
  EXPECT_EQ(c.clip.vision.num_patches(), 16);
  EXPECT_EQ(c.clip.projection_dim, 32);
}
