#include "models/rscapret/bundle.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "tensor/safetensors.h"

namespace rscapret::models {
namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path find_llama_tokenizer(const fs::path& llama_dir) {
  for (const char* name : {"tokenizer.model", "tokenizer.json"})
    if (fs::exists(llama_dir / name)) return llama_dir / name;
  throw IOError(cat("[rscapret] no tokenizer.model or tokenizer.json in ", llama_dir.string()));
}

namespace {

void convert_backbone(nn::Module& m, const std::string& dtype) {
  if (dtype == "stored") return;
  m.to(dtype_from_name(dtype));
  m.freeze();  // to() keeps requires_grad; frozen stays frozen, stated for clarity
}

json options_to_json(const RsCapRetOptions& o) {
  return json{{"num_visual_tokens", o.num_visual_tokens},     {"retrieval_dim", o.retrieval_dim},
              {"max_len", o.max_len},                         {"pad_id", o.pad_id},
              {"caption_loss_weight", o.caption_loss_weight}, {"ret_lm_loss_weight", o.ret_lm_loss_weight},
              {"contrastive_loss_weight", o.contrastive_loss_weight},
              {"concat_captions_prob", o.concat_captions_prob}};
}

RsCapRetOptions options_from_json(const json& j) {
  RsCapRetOptions o;
  o.num_visual_tokens = j.value("num_visual_tokens", o.num_visual_tokens);
  o.retrieval_dim = j.value("retrieval_dim", o.retrieval_dim);
  o.max_len = j.value("max_len", o.max_len);
  o.pad_id = j.value("pad_id", o.pad_id);
  o.caption_loss_weight = j.value("caption_loss_weight", o.caption_loss_weight);
  o.ret_lm_loss_weight = j.value("ret_lm_loss_weight", o.ret_lm_loss_weight);
  o.contrastive_loss_weight = j.value("contrastive_loss_weight", o.contrastive_loss_weight);
  o.concat_captions_prob = j.value("concat_captions_prob", o.concat_captions_prob);
  return o;
}

}  // namespace

RsCapRetBundle load_rscapret(const RsCapRetSpec& spec, const nn::Init& init) {
  RsCapRetBundle b;
  b.spec = spec;
  auto clip = ClipModel::from_pretrained(spec.clip_dir);
  auto llm = LlamaForCausalLM::from_pretrained(spec.llama_dir);
  convert_backbone(*clip, spec.backbone_dtype);
  convert_backbone(*llm, spec.backbone_dtype);
  const fs::path tok_path = spec.tokenizer.empty() ? find_llama_tokenizer(spec.llama_dir) : spec.tokenizer;
  b.tokenizer = std::make_shared<tokenizers::LlamaTokenizer>(tokenizers::LlamaTokenizer::load(tok_path));
  const int64_t V = llm->config().vocab_size;
  RS_CHECK(b.tokenizer->vocab_size() == V, ValueError, "rscapret", "tokenizer ", tok_path.string(), " has ",
           b.tokenizer->vocab_size(), " pieces but ", spec.llama_dir.string(), " has vocab_size ", V,
           " ([RET] must become id ", V, ")");
  const int32_t ret = b.tokenizer->add_special_token("[RET]");
  RS_ASSERT(ret == V, "[RET] got id ", ret, ", expected ", V);
  b.model = std::make_shared<RsCapRet>(clip, llm, spec.options, init);
  return b;
}

void write_rscapret_spec(const fs::path& dir, const RsCapRetSpec& spec) {
  fs::create_directories(dir);
  // Paths inside the folder are written relative to it, so a self-contained model folder (the
  // embedded default in assets/) can be moved; others stay absolute.
  const fs::path base = fs::weakly_canonical(fs::absolute(dir));
  auto portable = [&](const fs::path& p) -> std::string {
    if (p.empty()) return {};
    const fs::path a = fs::weakly_canonical(fs::absolute(p));
    const fs::path rel = a.lexically_relative(base);
    return !rel.empty() && *rel.begin() != ".." ? rel.generic_string() : a.string();
  };
  json j{{"clip", portable(spec.clip_dir)},
         {"llama", portable(spec.llama_dir)},
         {"tokenizer", portable(spec.tokenizer)},
         {"backbone_dtype", spec.backbone_dtype},
         {"options", options_to_json(spec.options)}};
  write_file_atomic(dir / "bridge.json", j.dump(2) + "\n", "rscapret");
}

RsCapRetSpec read_rscapret_spec(const fs::path& dir) {
  const fs::path p = dir / "bridge.json";
  std::ifstream f(p);
  RS_CHECK(f.good(), IOError, "rscapret", "cannot read ", p.string(), " (is ", dir.string(),
           " a model folder written by `rscapret train bridge`?)");
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw FormatError(cat("[rscapret] ", p.string(), ": ", e.what()));
  }
  auto path_of = [&](const char* key) {
    RS_CHECK(j.contains(key) && j[key].is_string(), FormatError, "rscapret", p.string(), ": no \"", key, "\" path");
    fs::path v = j[key].get<std::string>();
    return v.empty() || v.is_absolute() ? v : dir / v;
  };
  RS_CHECK(j.is_object(), FormatError, "rscapret", p.string(), ": expected a JSON object");
  RsCapRetSpec s;
  s.clip_dir = path_of("clip");
  s.llama_dir = path_of("llama");
  s.tokenizer = j.contains("tokenizer") ? path_of("tokenizer") : fs::path();
  try {
    s.backbone_dtype = j.value("backbone_dtype", s.backbone_dtype);
    if (j.contains("options")) s.options = options_from_json(j["options"]);
  } catch (const json::exception& e) {  // a value of the wrong type
    throw FormatError(cat("[rscapret] ", p.string(), ": ", e.what()));
  }
  return s;
}

RsCapRetBundle load_rscapret_dir(const fs::path& dir) {
  RsCapRetBundle b = load_rscapret(read_rscapret_spec(dir));
  load_bridge_weights(dir / "bridge.safetensors", *b.model);
  return b;
}

std::string tensors_xxh3(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const auto& [name, t] : tensors) {
    XXH3_64bits_update(st, name.data(), name.size() + 1);
    const std::string_view dt = dtype_name(t.dtype());
    XXH3_64bits_update(st, dt.data(), dt.size());
    for (int64_t d : t.shape()) XXH3_64bits_update(st, &d, sizeof d);
    const Tensor c = t.to(Device::cpu()).contiguous();
    XXH3_64bits_update(st, c.raw_data(), size_t(c.numel()) * c.element_size());
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string module_xxh3(const nn::Module& m, bool trainable_only) {
  const nn::NamedTensors s = m.named_state(trainable_only);
  return tensors_xxh3({s.begin(), s.end()});
}

void save_bridge_weights(const fs::path& path, const RsCapRet& model,
                         const std::vector<std::pair<std::string, Tensor>>& extra,
                         std::map<std::string, std::string> metadata) {
  std::vector<std::pair<std::string, Tensor>> all;
  for (const auto& [name, t] : model.named_state()) all.emplace_back("model." + name, t);
  all.insert(all.end(), extra.begin(), extra.end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  metadata["xxh3"] = tensors_xxh3(all);
  metadata["format"] = "rscapret-bridge-1";
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  save_safetensors(path, all, metadata);
}

std::map<std::string, Tensor> load_bridge_weights(const fs::path& path, RsCapRet& model,
                                                  std::map<std::string, std::string>* metadata) {
  const SafetensorsFile file(path);
  std::vector<std::pair<std::string, Tensor>> all;
  for (const std::string& n : file.names()) all.emplace_back(n, file.get(n));  // names() is sorted
  const auto it = file.metadata().find("xxh3");
  RS_CHECK(it != file.metadata().end(), FormatError, "rscapret", path.string(), ": no xxh3 in the metadata");
  const std::string h = tensors_xxh3(all);
  RS_CHECK(h == it->second, FormatError, "rscapret", path.string(), ": content hash ", h,
           " differs from the recorded ", it->second, " (corrupt checkpoint)");
  nn::StateDict state;
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : all) {
    if (n.rfind("model.", 0) == 0) state[n.substr(6)] = t;
    out[n] = t;
  }
  model.load_state_dict(state);  // strict: copies into the slots (the optimizer's handles stay valid)
  if (metadata) *metadata = file.metadata();
  return out;
}

}  // namespace rscapret::models
