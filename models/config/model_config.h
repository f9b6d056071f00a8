// Model configurations read from Hugging Face `config.json`: CLIPModel, CLIPVisionModel,
// CLIPVisionModelWithProjection and LlamaForCausalLM. Keys that are absent take the defaults of
// the corresponding transformers config class; an unknown architecture, an unsupported activation
// or RoPE scaling is a ValueError that says what is supported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nn/mlp.h"

namespace rscapret::models {

using Activation = nn::Activation;
using nn::activation_from_name;  // Hugging Face's `hidden_act` spellings

// One CLIP tower (vision or text); the fields of the other tower keep their defaults.
struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  Activation hidden_act = Activation::quick_gelu;
  double layer_norm_eps = 1e-5;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 49406;
  int64_t eos_token_id = 49407;  // 2 selects the legacy pooling rule (argmax of the ids)
};

struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  Activation hidden_act = Activation::quick_gelu;
  double layer_norm_eps = 1e-5;

  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct ClipConfig {
  bool has_vision = true;
  bool has_text = true;
  bool has_visual_projection = true;  // CLIPModel and CLIPVisionModelWithProjection
  bool has_text_projection = true;    // CLIPModel
  bool has_logit_scale = true;        // CLIPModel
  int64_t projection_dim = 512;
  double logit_scale_init_value = 2.6592;
  ClipVisionConfig vision;
  ClipTextConfig text;
};

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;  // defaults to num_attention_heads when absent
  int64_t head_dim = 128;            // defaults to hidden_size / num_attention_heads when absent
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;       // `rope_theta`, or `rope_parameters.rope_theta`
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};  // `eos_token_id` may be one id or a list
  std::optional<int64_t> pad_token_id;
};

enum class Architecture { clip, clip_vision, clip_vision_with_projection, llama };

std::string architecture_name(Architecture a);

struct ModelConfig {
  Architecture architecture = Architecture::llama;
  std::string dtype;  // "float32", "bfloat16", ... as the config says (informative); may be empty
  ClipConfig clip;    // for the CLIP architectures
  LlamaConfig llama;  // for LlamaForCausalLM
  bool is_clip() const { return architecture != Architecture::llama; }
};

// Parses config.json text; `source` names it in errors.
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
// Reads `path` (a config.json, or a directory holding one).
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace rscapret::models
