// Writes a model folder in Hugging Face layout, the inverse of open_hf_checkpoint /
// LlamaForCausalLM::from_pretrained / ClipModel::from_pretrained:
//   config.json        architectures, model_type, torch_dtype and dtype, and every field that
//                      models/config parses (so parse_model_config gives back the same config)
//   model.safetensors  the module's parameters and persistent buffers under their own names (which
//                      are the Hugging Face names), in a chosen storage dtype, metadata format=pt
// Both files are written atomically (temporary file in the folder, then rename), so a reader never
// sees half a model, and a crash mid-save leaves the previous files intact.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "models/config/model_config.h"
#include "nn/module.h"
#include "tensor/dtype.h"

namespace rscapret::models {

class LlamaForCausalLM;
class ClipModel;

// "float32", "bfloat16", "float16" (the spellings of HF's torch_dtype); ValueError otherwise.
std::string hf_dtype_name(DType storage);
// "f32"/"float32", "bf16"/"bfloat16", "f16"/"float16" -> DType; ValueError otherwise.
DType parse_storage_dtype(const std::string& name);
// The HF spelling of an activation ("quick_gelu", "gelu", "gelu_pytorch_tanh", "silu").
std::string activation_hf_name(Activation act);

// config.json contents. The CLIP architecture follows the flags: CLIPModel (both towers),
// CLIPVisionModelWithProjection or CLIPVisionModel (vision only).
nlohmann::json llama_config_json(const LlamaConfig& c, DType storage = DType::f32);
nlohmann::json clip_config_json(const ClipConfig& c, DType storage = DType::f32);

// Writes dir/config.json and dir/model.safetensors (dir is created). Floating tensors are stored
// in `storage` (f32, bf16 or f16); integer buffers keep their dtype.
void save_pretrained_module(const std::filesystem::path& dir, const nlohmann::json& config, const nn::Module& module,
                            DType storage = DType::f32,
                            const std::map<std::string, std::string>& metadata = {});
void save_pretrained(const std::filesystem::path& dir, const LlamaForCausalLM& model, DType storage = DType::f32,
                     const std::map<std::string, std::string>& metadata = {});
void save_pretrained(const std::filesystem::path& dir, const ClipModel& model, DType storage = DType::f32,
                     const std::map<std::string, std::string>& metadata = {});

}  // namespace rscapret::models
