#include "models/checkpoint/hf_checkpoint.h"

#include "nn/module.h"
#include "tensor/error.h"

namespace rscapret::models {

const std::vector<std::string>& ignorable_checkpoint_names() {
  static const std::vector<std::string> names = {"*.position_ids", "*.rotary_emb.inv_freq"};
  return names;
}

HfCheckpoint open_hf_checkpoint(const std::filesystem::path& dir) {
  RS_CHECK(std::filesystem::is_directory(dir), IOError, "checkpoint", dir.string(),
           " is not a directory (expected a Hugging Face model folder with config.json)");
  HfCheckpoint c;
  c.dir = dir;
  c.config = load_model_config(dir / "config.json");
  const bool has_index = std::filesystem::exists(dir / "model.safetensors.index.json");
  RS_CHECK(has_index || std::filesystem::exists(dir / "model.safetensors"), IOError, "checkpoint", dir.string(),
           ": neither model.safetensors nor model.safetensors.index.json");
  c.weights = std::make_shared<SafetensorsCheckpoint>(dir);
  std::string bad;
  int n_bad = 0;
  for (const std::string& name : c.weights->names()) {
    bool ignorable = false;
    for (const auto& pat : ignorable_checkpoint_names()) ignorable = ignorable || nn::glob_match(pat, name);
    if (ignorable) continue;
    const Tensor t = c.weights->get(name);
    const DType d = t.dtype();
    if (d == DType::f32 || d == DType::f16 || d == DType::bf16) continue;
    if (n_bad++ < 20) bad += cat("\n  ", name, ": ", dtype_name(d));
  }
  RS_CHECK(n_bad == 0, DTypeError, "checkpoint", dir.string(), ": ", n_bad,
           " weight(s) are not f32/f16/bf16:", bad);
  return c;
}

}  // namespace rscapret::models
