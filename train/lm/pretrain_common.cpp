#include "train/lm/pretrain_common.h"

#include "tensor/atomic_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "models/checkpoint/save_pretrained.h"
#include "models/rscapret/bundle.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace rscapret::train {
namespace fs = std::filesystem;

std::vector<nn::ParamGroup> decay_param_groups(const nn::Module& m, const nn::AdamWOptions& base) {
  nn::ParamGroup decay, plain;
  decay.options = base;
  plain.options = base;
  plain.options.weight_decay = 0.0;
  for (const auto& [name, t] : m.named_parameters()) {
    if (!t.requires_grad()) continue;
    (t.dim() >= 2 ? decay : plain).params.emplace_back(name, t);
  }
  std::vector<nn::ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!plain.params.empty()) groups.push_back(std::move(plain));
  RS_CHECK(!groups.empty(), ValueError, "train", "the model has no trainable parameters");
  return groups;
}

void reinit_normal(nn::Module& m, Generator& gen,
                   const std::function<double(const std::string& name, const Shape& shape)>& std_of) {
  // Written through the module's own handles (they share storage with the slots), so parameters
  // that are kept are not touched at all.
  for (const auto& [name, t] : m.named_parameters()) {
    const double sd = std_of(name, t.shape());
    if (sd < 0) continue;
    Tensor slot = t;
    slot.copy_from(sd == 0 ? Tensor::zeros(t.shape(), DType::f32) : gen.normal(t.shape(), 0.0, sd, DType::f32));
  }
}

void save_train_checkpoint(const fs::path& path, const nn::Module& m, const nn::AdamW& opt, int64_t step,
                           std::map<std::string, std::string> meta) {
  std::vector<std::pair<std::string, Tensor>> all;
  for (const auto& [name, t] : m.named_state()) all.emplace_back("model." + name, t);
  for (const auto& [name, t] : opt.state()) all.emplace_back("optim." + name, t);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  meta["step"] = std::to_string(step);
  meta["xxh3"] = models::tensors_xxh3(all);
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  save_safetensors(path, all, meta);
}

int64_t load_train_checkpoint(const fs::path& path, nn::Module& m, nn::AdamW& opt, const std::string& kind,
                              uint64_t seed) {
  RS_CHECK(fs::exists(path), IOError, "train", "no checkpoint to resume from: ", path.string());
  SafetensorsCheckpoint ck(path);
  std::map<std::string, std::string> meta = ck.metadata();
  RS_CHECK(meta.count("kind") && meta.at("kind") == kind, FormatError, "train", path.string(),
           " is not a '", kind, "' training checkpoint (kind = '", meta.count("kind") ? meta.at("kind") : "", "')");
  std::vector<std::pair<std::string, Tensor>> all;
  for (const auto& name : ck.names()) all.emplace_back(name, ck.get(name));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  RS_CHECK(meta.count("xxh3") && meta.at("xxh3") == models::tensors_xxh3(all), FormatError, "train",
           path.string(), ": content hash mismatch (corrupt checkpoint)");
  nn::StateDict weights;
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : all) {
    if (name.rfind("model.", 0) == 0) weights[name.substr(6)] = t;
    else if (name.rfind("optim.", 0) == 0) state[name.substr(6)] = t;
  }
  m.load_state_dict(weights);  // strict, copied into the trainable slots
  // The moments are copied too: the checkpoint's mapping may be replaced by the next save.
  for (auto& [name, t] : state) t = t.clone();
  opt.load_state(state);
  RS_CHECK(meta.count("step"), FormatError, "train", path.string(), ": no step in the metadata");
  if (meta.count("seed") && meta.at("seed") != std::to_string(seed))
    std::fprintf(stderr, "warning: resuming a run of seed %s with seed %llu: the data order changes\n",
                 meta.at("seed").c_str(), (unsigned long long)seed);
  return std::stoll(meta.at("step"));
}

void append_csv(const fs::path& path, const std::string& header, const std::string& row) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const bool fresh = !fs::exists(path);
  std::ofstream f(path, std::ios::app);
  RS_CHECK(f.good(), IOError, "train", "cannot write ", path.string());
  if (fresh) f << header << "\n";
  f << row << "\n";
}

void print_progress(int64_t step, int64_t total, double elapsed, int64_t steps_this_run, const std::string& text) {
  const double per_step = elapsed / double(std::max<int64_t>(steps_this_run, 1));
  const double eta = per_step * double(std::max<int64_t>(total - step, 0));
  const double frac = total > 0 ? double(step) / double(total) : 1.0;
  constexpr int kWidth = 24;
  std::string bar(size_t(std::clamp(int(frac * kWidth), 0, kWidth)), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r[%s] %lld/%lld %s %.2f steps/s ETA %02d:%02d:%02d   ", bar.c_str(), (long long)step,
               (long long)total, text.c_str(), 1.0 / std::max(per_step, 1e-9), int(eta / 3600), int(eta / 60) % 60,
               int(eta) % 60);
  std::fflush(stderr);
}

bool all_finite(const Tensor& t) {
  const auto v = t.to(DType::f64).contiguous().to_vector<double>();
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

void copy_file_atomic(const fs::path& src, const fs::path& dst) {
  std::ifstream in(src, std::ios::binary);
  RS_CHECK(in.good(), IOError, "train", "cannot read ", src.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  write_file_atomic(dst, ss.str(), "copy");
}

}  // namespace rscapret::train
