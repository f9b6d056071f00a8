#include "models/checkpoint/hf_checkpoint.h"

#include <cstring>
#include <set>

#include "nn/linear.h"
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
    if (d == DType::i8 && name.size() > std::strlen(kQ8CodesSuffix) &&
        name.compare(name.size() - std::strlen(kQ8CodesSuffix), std::string::npos, kQ8CodesSuffix) == 0)
      continue;  // q8_0 codes (adopt_q8_layers)
    if (n_bad++ < 20) bad += cat("\n  ", name, ": ", dtype_name(d));
  }
  RS_CHECK(n_bad == 0, DTypeError, "checkpoint", dir.string(), ": ", n_bad,
           " weight(s) are not f32/f16/bf16:", bad);
  return c;
}

AdoptedQ8 adopt_q8_layers(nn::Module& module, const SafetensorsCheckpoint& ckpt) {
  const auto& names = ckpt.names();
  const std::set<std::string> present(names.begin(), names.end());
  std::vector<std::pair<std::string, nn::Linear*>> layers;
  for (auto& [name, m] : module.named_modules()) {
    auto* lin = dynamic_cast<nn::Linear*>(m);
    if (lin == nullptr || !present.count(name + kQ8CodesSuffix)) continue;
    RS_CHECK(present.count(name + kQ8ScalesSuffix), FormatError, "checkpoint", "q8_0 layer ", name, " has ",
             kQ8CodesSuffix + 1, " but no ", kQ8ScalesSuffix + 1);
    RS_CHECK(!present.count(name + ".weight"), FormatError, "checkpoint", "layer ", name,
             " holds both a weight and q8_0 codes");
    layers.emplace_back(name, lin);
  }
  AdoptedQ8 r;
  for (auto& [name, lin] : layers) {
    lin->weight = Tensor();  // a deferred slot until now; the codes take its place
    lin->set_q8_weight({ckpt.get(name + kQ8CodesSuffix), ckpt.get(name + kQ8ScalesSuffix)});
    r.replaced_weights.push_back(name + ".weight");
    r.consumed.push_back(name + kQ8CodesSuffix);
    r.consumed.push_back(name + kQ8ScalesSuffix);
  }
  return r;
}

}  // namespace rscapret::models
