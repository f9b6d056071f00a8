// A Hugging Face model directory: config.json plus model.safetensors (or a sharded
// model.safetensors.index.json). Weights stay in the mapped files in their stored dtype (f32, f16
// or bf16): nothing is converted or copied, so a 7B bf16 model costs its page cache, not 2x RAM.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/config/model_config.h"
#include "nn/module.h"
#include "tensor/safetensors.h"

namespace rscapret::models {

// Checkpoint names that are buffers of older conversions, always arange/recomputable: accepted
// and ignored ('*' matches any run of characters).
const std::vector<std::string>& ignorable_checkpoint_names();

struct HfCheckpoint {
  std::filesystem::path dir;
  ModelConfig config;
  std::shared_ptr<SafetensorsCheckpoint> weights;
};

// Opens DIR/config.json and DIR's safetensors. Throws IOError/FormatError naming the file, and
// DTypeError listing every weight whose dtype is not f32/f16/bf16 (ignorable buffers excepted).
HfCheckpoint open_hf_checkpoint(const std::filesystem::path& dir);

// q8_0 layers in a checkpoint written by `rscapret quantize` (save_pretrained of a model whose
// Linears are quantized): NAME.weight_q8_codes (I8 [out, in]) and NAME.weight_q8_scales
// (F32 [out, ceil(in / 32)]) stand in for NAME.weight.
inline constexpr const char* kQ8CodesSuffix = ".weight_q8_codes";
inline constexpr const char* kQ8ScalesSuffix = ".weight_q8_scales";
// Gives every Linear under `module` whose codes the checkpoint holds those codes and scales
// (zero-copy, nn::Linear::set_q8_weight), after checking them all: a layer with codes but no
// scales, or with its full weight as well, is a FormatError. Returns the module names of the
// weights they replace (for LoadOptions::absent) and the checkpoint names consumed (to ignore).
struct AdoptedQ8 {
  std::vector<std::string> replaced_weights;
  std::vector<std::string> consumed;
};
AdoptedQ8 adopt_q8_layers(nn::Module& module, const SafetensorsCheckpoint& ckpt);

// The dtype a model computes activations in for weights of dtype `weight_dtype`: always f32
// (16-bit weights are widened to f32 inside matmul, never copied whole).
inline DType activation_dtype(DType /*weight_dtype*/) { return DType::f32; }

}  // namespace rscapret::models
