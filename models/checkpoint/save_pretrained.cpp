#include "models/checkpoint/save_pretrained.h"

#include "tensor/atomic_file.h"

#include <cstdio>
#include <unistd.h>

#include <set>

#include "models/checkpoint/hf_checkpoint.h"
#include "models/clip/clip.h"
#include "models/llama/llama.h"
#include "nn/linear.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace rscapret::models {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string hf_dtype_name(DType storage) {
  switch (storage) {
    case DType::f32: return "float32";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "float16";
    default: break;
  }
  throw ValueError(cat("[save_pretrained] storage dtype ", dtype_name(storage),
                       " is not supported (f32, bf16 or f16)"));
}

DType parse_storage_dtype(const std::string& name) {
  if (name == "f32" || name == "float32") return DType::f32;
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  if (name == "f16" || name == "float16") return DType::f16;
  throw ValueError(cat("[save_pretrained] unknown storage dtype \"", name, "\" (f32, bf16 or f16)"));
}

std::string activation_hf_name(Activation act) {
  switch (act) {
    case Activation::quick_gelu: return "quick_gelu";
    case Activation::gelu_erf: return "gelu";
    case Activation::gelu_tanh: return "gelu_pytorch_tanh";
    case Activation::silu: return "silu";
    case Activation::none: break;  // no Hugging Face model has a linear feed-forward block
  }
  throw ValueError("[save_pretrained] no Hugging Face name for this activation");
}

json llama_config_json(const LlamaConfig& c, DType storage) {
  json j;
  j["architectures"] = json::array({"LlamaForCausalLM"});
  j["model_type"] = "llama";
  j["torch_dtype"] = hf_dtype_name(storage);
  j["dtype"] = hf_dtype_name(storage);
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = c.attention_bias;
  j["mlp_bias"] = c.mlp_bias;
  j["hidden_act"] = "silu";
  j["bos_token_id"] = c.bos_token_id;
  // One id is written as a number (what LLaMA-2 configs hold), several as a list (Llama 3).
  if (c.eos_token_ids.size() == 1)
    j["eos_token_id"] = c.eos_token_ids[0];
  else
    j["eos_token_id"] = c.eos_token_ids;
  j["pad_token_id"] = c.pad_token_id ? json(*c.pad_token_id) : json(nullptr);
  // Informative fields transformers expects; our parser ignores them.
  j["initializer_range"] = 0.02;
  j["attention_dropout"] = 0.0;
  j["pretraining_tp"] = 1;
  j["use_cache"] = true;
  return j;
}

namespace {

json text_config_json(const ClipTextConfig& t, int64_t projection_dim) {
  return json{{"model_type", "clip_text_model"},
              {"vocab_size", t.vocab_size},
              {"hidden_size", t.hidden_size},
              {"intermediate_size", t.intermediate_size},
              {"num_hidden_layers", t.num_hidden_layers},
              {"num_attention_heads", t.num_attention_heads},
              {"max_position_embeddings", t.max_position_embeddings},
              {"hidden_act", activation_hf_name(t.hidden_act)},
              {"layer_norm_eps", t.layer_norm_eps},
              {"pad_token_id", t.pad_token_id},
              {"bos_token_id", t.bos_token_id},
              {"eos_token_id", t.eos_token_id},
              {"projection_dim", projection_dim},
              {"attention_dropout", 0.0},
              {"initializer_range", 0.02},
              {"initializer_factor", 1.0}};
}

json vision_config_json(const ClipVisionConfig& v, int64_t projection_dim) {
  return json{{"model_type", "clip_vision_model"},
              {"hidden_size", v.hidden_size},
              {"intermediate_size", v.intermediate_size},
              {"num_hidden_layers", v.num_hidden_layers},
              {"num_attention_heads", v.num_attention_heads},
              {"num_channels", v.num_channels},
              {"image_size", v.image_size},
              {"patch_size", v.patch_size},
              {"hidden_act", activation_hf_name(v.hidden_act)},
              {"layer_norm_eps", v.layer_norm_eps},
              {"projection_dim", projection_dim},
              {"attention_dropout", 0.0},
              {"initializer_range", 0.02},
              {"initializer_factor", 1.0}};
}

}  // namespace

json clip_config_json(const ClipConfig& c, DType storage) {
  RS_CHECK(c.has_vision, ValueError, "save_pretrained", "a CLIP config without a vision tower cannot be saved "
           "(CLIPTextModel is not a supported architecture)");
  json j;
  if (c.has_text) {
    RS_CHECK(c.has_visual_projection && c.has_text_projection && c.has_logit_scale, ValueError, "save_pretrained",
             "a CLIPModel needs both projections and logit_scale");
    j["architectures"] = json::array({"CLIPModel"});
    j["model_type"] = "clip";
    j["text_config"] = text_config_json(c.text, c.projection_dim);
    j["vision_config"] = vision_config_json(c.vision, c.projection_dim);
    j["projection_dim"] = c.projection_dim;
    j["logit_scale_init_value"] = c.logit_scale_init_value;
    j["initializer_factor"] = 1.0;
  } else {
    // Vision-only: the vision config itself, as transformers saves CLIPVisionModel(WithProjection).
    j = vision_config_json(c.vision, c.projection_dim);
    j["architectures"] =
        json::array({c.has_visual_projection ? "CLIPVisionModelWithProjection" : "CLIPVisionModel"});
  }
  j["torch_dtype"] = hf_dtype_name(storage);
  j["dtype"] = hf_dtype_name(storage);
  return j;
}

void save_pretrained_module(const fs::path& dir, const json& config, const nn::Module& module, DType storage,
                            const std::map<std::string, std::string>& metadata) {
  hf_dtype_name(storage);  // validates the dtype before anything is written
  std::vector<std::pair<std::string, Tensor>> tensors;
  // q8_0 layers are written as their codes and scales (kQ8CodesSuffix), in place of the weight.
  std::set<std::string> quantized;
  for (auto& [name, m] : const_cast<nn::Module&>(module).named_modules())  // read only
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->is_quantized()) {
      quantized.insert(name + ".weight");
      tensors.emplace_back(name + kQ8CodesSuffix, lin->q8_weight().codes);
      tensors.emplace_back(name + kQ8ScalesSuffix, lin->q8_weight().scales);
    }
  for (const auto& [name, t] : module.named_state()) {
    if (quantized.count(name)) continue;
    RS_CHECK(t.defined(), ValueError, "save_pretrained", "tensor ", name, " is not allocated (deferred)");
    const bool floating = t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::bf16 ||
                          t.dtype() == DType::f16;
    tensors.emplace_back(name, floating ? t.to(storage) : t);
  }
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");  // what transformers checks before loading
  if (!quantized.empty()) meta.emplace("rscapret_quantization", "q8_0");
  fs::create_directories(dir);
  // Weights first: a folder whose config.json is new always has the matching weights.
  save_safetensors(dir / "model.safetensors", tensors, meta);
  write_file_atomic(dir / "config.json", config.dump(2) + "\n", "save_pretrained");
}

void save_pretrained(const fs::path& dir, const LlamaForCausalLM& model, DType storage,
                     const std::map<std::string, std::string>& metadata) {
  save_pretrained_module(dir, llama_config_json(model.config(), storage), model, storage, metadata);
}

void save_pretrained(const fs::path& dir, const ClipModel& model, DType storage,
                     const std::map<std::string, std::string>& metadata) {
  save_pretrained_module(dir, clip_config_json(model.config(), storage), model, storage, metadata);
}

}  // namespace rscapret::models
