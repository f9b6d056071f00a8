#include "models/config/model_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace rscapret::models {
namespace {

using json = nlohmann::json;

// Reads key as T when present and not null, otherwise keeps `value` (the HF default).
template <typename T>
void read_opt(const json& j, const char* key, T& value, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // An integer written as a float ("2048.0") is accepted; a fraction or a value out of T's range
    // is not (the JSON library's conversion would be undefined behaviour).
    if (it->is_number_float()) {
      const double d = it->get<double>();
      RS_CHECK(std::isfinite(d) && d == std::trunc(d) && d >= double(std::numeric_limits<T>::min()) &&
                   d < double(std::numeric_limits<T>::max()),
               FormatError, "config", source, ": key \"", key, "\" must be an integer, got ", d);
      value = T(d);
      return;
    }
  }
  try {
    value = it->get<T>();
  } catch (const json::exception& e) {
    throw FormatError(cat("[config] ", source, ": key \"", key, "\" has the wrong type: ", e.what()));
  }
}

void read_act(const json& j, Activation& act, const std::string& source) {
  std::string name;
  read_opt(j, "hidden_act", name, source);
  if (!name.empty()) act = activation_from_name(name);
}

// rope_theta (LLaMA-2 configs) or rope_parameters {rope_theta, rope_type} (transformers 5);
// scaled RoPE variants are refused rather than silently run unscaled.
void read_rope(const json& j, LlamaConfig& c, const std::string& source) {
  read_opt(j, "rope_theta", c.rope_theta, source);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    RS_CHECK(it->is_object(), FormatError, "config", source, ": \"", key, "\" must be an object");
    read_opt(*it, "rope_theta", c.rope_theta, source);
    std::string type = "default";
    read_opt(*it, "rope_type", type, source);
    if (type == "default") read_opt(*it, "type", type, source);
    RS_CHECK(type == "default", ValueError, "config", source, ": RoPE type \"", type,
             "\" is not supported (only the default, unscaled RoPE)");
  }
}

// read_opt for a size (width, count, vocabulary, ...): it must be positive (a zero would divide by
// zero below, a negative one would size tensors).
void read_size(const json& j, const char* key, int64_t& value, const std::string& source) {
  read_opt(j, key, value, source);
  RS_CHECK(value > 0, ValueError, "config", source, ": \"", key, "\" must be positive, got ", value);
}

ClipTextConfig parse_text(const json& j, const std::string& source) {
  ClipTextConfig c;
  read_size(j, "vocab_size", c.vocab_size, source);
  read_size(j, "hidden_size", c.hidden_size, source);
  read_size(j, "intermediate_size", c.intermediate_size, source);
  read_size(j, "num_hidden_layers", c.num_hidden_layers, source);
  read_size(j, "num_attention_heads", c.num_attention_heads, source);
  read_size(j, "max_position_embeddings", c.max_position_embeddings, source);
  read_act(j, c.hidden_act, source);
  read_opt(j, "layer_norm_eps", c.layer_norm_eps, source);
  read_opt(j, "pad_token_id", c.pad_token_id, source);
  read_opt(j, "bos_token_id", c.bos_token_id, source);
  read_opt(j, "eos_token_id", c.eos_token_id, source);
  RS_CHECK(c.hidden_size % c.num_attention_heads == 0, ValueError, "config", source,
           ": text hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ",
           c.num_attention_heads);
  return c;
}

ClipVisionConfig parse_vision(const json& j, const std::string& source) {
  ClipVisionConfig c;
  read_size(j, "hidden_size", c.hidden_size, source);
  read_size(j, "intermediate_size", c.intermediate_size, source);
  read_size(j, "num_hidden_layers", c.num_hidden_layers, source);
  read_size(j, "num_attention_heads", c.num_attention_heads, source);
  read_size(j, "num_channels", c.num_channels, source);
  read_size(j, "image_size", c.image_size, source);
  read_size(j, "patch_size", c.patch_size, source);
  read_act(j, c.hidden_act, source);
  read_opt(j, "layer_norm_eps", c.layer_norm_eps, source);
  RS_CHECK(c.image_size % c.patch_size == 0, ValueError, "config", source,
           ": image_size ", c.image_size, " is not a multiple of patch_size ", c.patch_size);
  RS_CHECK(c.hidden_size % c.num_attention_heads == 0, ValueError, "config", source,
           ": vision hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ",
           c.num_attention_heads);
  return c;
}

LlamaConfig parse_llama(const json& j, const std::string& source) {
  LlamaConfig c;
  read_size(j, "vocab_size", c.vocab_size, source);
  read_size(j, "hidden_size", c.hidden_size, source);
  read_size(j, "intermediate_size", c.intermediate_size, source);
  read_size(j, "num_hidden_layers", c.num_hidden_layers, source);
  read_size(j, "num_attention_heads", c.num_attention_heads, source);
  c.num_key_value_heads = c.num_attention_heads;
  read_size(j, "num_key_value_heads", c.num_key_value_heads, source);
  RS_CHECK(c.hidden_size % c.num_attention_heads == 0, ValueError, "config",
           source, ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ",
           c.num_attention_heads);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  read_size(j, "head_dim", c.head_dim, source);
  read_size(j, "max_position_embeddings", c.max_position_embeddings, source);
  read_opt(j, "rms_norm_eps", c.rms_norm_eps, source);
  read_rope(j, c, source);
  read_opt(j, "tie_word_embeddings", c.tie_word_embeddings, source);
  read_opt(j, "attention_bias", c.attention_bias, source);
  read_opt(j, "mlp_bias", c.mlp_bias, source);
  read_opt(j, "bos_token_id", c.bos_token_id, source);
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    c.eos_token_ids.clear();
    if (it->is_array()) {
      read_opt(j, "eos_token_id", c.eos_token_ids, source);
    } else {
      int64_t id = 0;
      read_opt(j, "eos_token_id", id, source);
      c.eos_token_ids.push_back(id);
    }
  }
  if (auto it = j.find("pad_token_id"); it != j.end() && it->is_number_integer())
    c.pad_token_id = it->get<int64_t>();
  std::string act = "silu";
  read_opt(j, "hidden_act", act, source);
  RS_CHECK(activation_from_name(act) == Activation::silu, ValueError, "config", source,
           ": LLaMA hidden_act \"", act, "\" is not supported (only silu)");
  int64_t tp = 1;
  read_opt(j, "pretraining_tp", tp, source);  // only a training-time slicing; the maths is the same
  RS_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, ValueError,
           "config", source, ": num_attention_heads ", c.num_attention_heads,
           " is not a multiple of num_key_value_heads ", c.num_key_value_heads);
  RS_CHECK(c.head_dim % 2 == 0, ValueError, "config", source, ": head_dim ", c.head_dim, " must be even for RoPE");
  return c;
}

Architecture detect(const json& j, const std::string& source) {
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    arch = (*it)[0].get<std::string>();
  std::string model_type;
  read_opt(j, "model_type", model_type, source);
  if (arch == "CLIPModel") return Architecture::clip;
  if (arch == "CLIPVisionModel") return Architecture::clip_vision;
  if (arch == "CLIPVisionModelWithProjection") return Architecture::clip_vision_with_projection;
  if (arch == "LlamaForCausalLM") return Architecture::llama;
  if (arch.empty()) {
    if (model_type == "clip") return Architecture::clip;
    if (model_type == "clip_vision_model") return Architecture::clip_vision;
    if (model_type == "llama") return Architecture::llama;
  }
  throw ValueError(cat("[config] ", source, ": unknown architecture \"", arch.empty() ? model_type : arch,
                       "\" (supported: CLIPModel, CLIPVisionModel, CLIPVisionModelWithProjection, "
                       "LlamaForCausalLM)"));
}

}  // namespace

std::string architecture_name(Architecture a) {
  switch (a) {
    case Architecture::clip: return "CLIPModel";
    case Architecture::clip_vision: return "CLIPVisionModel";
    case Architecture::clip_vision_with_projection: return "CLIPVisionModelWithProjection";
    case Architecture::llama: return "LlamaForCausalLM";
  }
  return "?";
}

namespace {

ModelConfig config_from_json(const json& j, const std::string& source) {
  ModelConfig m;
  m.architecture = detect(j, source);
  read_opt(j, "torch_dtype", m.dtype, source);
  read_opt(j, "dtype", m.dtype, source);
  if (m.architecture == Architecture::llama) {
    m.llama = parse_llama(j, source);
    return m;
  }
  ClipConfig& c = m.clip;
  if (m.architecture == Architecture::clip) {
    auto sub = [&](const char* key) {
      auto it = j.find(key);
      return (it != j.end() && it->is_object()) ? *it : json::object();
    };
    c.vision = parse_vision(sub("vision_config"), source);
    c.text = parse_text(sub("text_config"), source);
    read_size(j, "projection_dim", c.projection_dim, source);
    read_opt(j, "logit_scale_init_value", c.logit_scale_init_value, source);
    return m;
  }
  // Vision-only: the config is the vision config itself (model_type clip_vision_model), or a full
  // CLIPConfig whose vision_config is used.
  auto vc = j.find("vision_config");
  const json& vj = (vc != j.end() && vc->is_object()) ? *vc : j;
  c.vision = parse_vision(vj, source);
  read_size(vj, "projection_dim", c.projection_dim, source);
  read_size(j, "projection_dim", c.projection_dim, source);
  c.has_text = false;
  c.has_text_projection = false;
  c.has_logit_scale = false;
  c.has_visual_projection = m.architecture == Architecture::clip_vision_with_projection;
  return m;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw FormatError(cat("[config] ", source, ": not valid JSON: ", e.what()));
  }
  RS_CHECK(j.is_object(), FormatError, "config", source, ": expected a JSON object");
  try {
    return config_from_json(j, source);
  } catch (const json::exception& e) {  // a value of the wrong type that no check above names
    throw FormatError(cat("[config] ", source, ": ", e.what()));
  }
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  const std::filesystem::path file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  std::ifstream in(file, std::ios::binary);
  RS_CHECK(in.good(), IOError, "config", "cannot open ", file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_model_config(ss.str(), file.string());
}

}  // namespace rscapret::models
