// `rscapret pack --model DIR --out ASSETS --data JSON:ROOT [--split test] [--samples N]`: turns a
// trained RS-CapRet (a `train bridge` folder and the backbones it names) into the self-contained
// embedded default of assets/:
//   ASSETS/model/bridge.json            backbones named relative to it
//   ASSETS/model/bridge.safetensors     the trainable tensors only (no optimizer state)
//   ASSETS/model/{clip,llama}/          config.json, tokenizer files, model.safetensors in bf16
//                                       (--dtype; the bridge keeps its compute dtype, so backbones
//                                       saved in bf16 before the bridge was trained are unchanged)
//   ASSETS/samples/                     sample images (one per scene type, round robin) + samples.json
//                                       with three queries written by images outside the gallery
//   ASSETS/MANIFEST.json                xxh3 of every file
// The packed model is reloaded and its bridge hash compared with the source before the manifest
// is written.
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "app/commands.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/manifest.h"
#include "tensor/atomic_file.h"
#include "tensor/safetensors.h"
#include "train/bridge/dataset_batches.h"

namespace rscapret::app {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Copies a Hugging Face backbone folder: config.json and tokenizer files as they are, the weights
// with every floating tensor stored as `dtype`.
void pack_backbone(const fs::path& from, const fs::path& to, DType dtype) {
  fs::create_directories(to);
  for (const char* name : {"config.json", "tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt"})
    if (fs::exists(from / name)) fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
  const SafetensorsCheckpoint ck(from);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& n : ck.names()) {
    const Tensor t = ck.get(n);
    const bool floating = t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::f16 ||
                          t.dtype() == DType::bf16;
    out.emplace_back(n, floating ? t.to(dtype) : t);
  }
  save_safetensors(to / "model.safetensors", out, {{"format", "pt"}});
}

json read_json(const fs::path& p) {
  std::ifstream f(p);
  RS_CHECK(f.good(), IOError, "pack", "cannot read ", p.string());
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw FormatError(cat("[pack] ", p.string(), " is not valid JSON: ", e.what()));
  }
}

struct Item {
  std::string file, scene;
  std::vector<std::string> refs;
};

}  // namespace

void add_pack_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("pack", "pack a trained RS-CapRet with sample images into an assets folder");
  struct Opts {
    std::string model, out, data, split = "test", dtype = "bf16";
    int64_t samples = 12;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--out", o->out, "assets folder to (re)write")->required();
  cmd->add_option("--data", o->data, "Karpathy JSON:IMAGE_ROOT the sample images come from")->required();
  cmd->add_option("--split", o->split, "split of the samples (default test)");
  cmd->add_option("--samples", o->samples, "gallery size (default 12)");
  cmd->add_option("--dtype", o->dtype, "storage dtype of the backbones (default bf16)");
  cmd->callback([o] {
    const auto colon = o->data.rfind(':');
    RS_CHECK(colon != std::string::npos, ValueError, "pack", "--data must be JSON:IMAGE_ROOT, got ", o->data);
    const fs::path json_path = o->data.substr(0, colon), image_root = o->data.substr(colon + 1);
    RS_CHECK(o->samples >= 3, ValueError, "pack", "--samples must be >= 3");
    const models::RsCapRetBundle src = models::load_rscapret_dir(o->model);
    const std::string hash = models::module_xxh3(*src.model);

    const fs::path out = o->out, mdir = out / "model";
    fs::remove_all(out);
    fs::create_directories(mdir);
    const DType dt = dtype_from_name(o->dtype);
    pack_backbone(src.spec.clip_dir, mdir / "clip", dt);
    pack_backbone(src.spec.llama_dir, mdir / "llama", dt);
    if (!src.spec.tokenizer.empty())  // a tokenizer outside the LLaMA folder goes in beside it
      fs::copy_file(src.spec.tokenizer, mdir / "llama" / src.spec.tokenizer.filename(),
                    fs::copy_options::overwrite_existing);
    models::RsCapRetSpec spec = src.spec;
    spec.clip_dir = mdir / "clip";
    spec.llama_dir = mdir / "llama";
    spec.tokenizer = src.spec.tokenizer.empty() ? fs::path() : mdir / "llama" / src.spec.tokenizer.filename();
    // The compute dtype stays the one the bridge was trained with (bf16 storage read as f32 is exact
    // when the backbones were saved in bf16 to begin with, as scripts/pretrain_default.sh does).
    models::write_rscapret_spec(mdir, spec);
    models::save_bridge_weights(mdir / "bridge.safetensors", *src.model);
    const models::RsCapRetBundle packed = models::load_rscapret_dir(mdir);
    RS_CHECK(models::module_xxh3(*packed.model) == hash, ValueError, "pack", "the packed bridge differs from ",
             o->model);

    // Samples: round robin over scene types (in order of first appearance) for a varied gallery.
    const json ds = read_json(json_path);
    RS_CHECK(ds.contains("images") && ds["images"].is_array(), FormatError, "pack", json_path.string(),
             " has no \"images\" list");
    std::vector<std::string> scene_order;
    std::map<std::string, std::vector<Item>> by_scene;
    for (const auto& im : ds["images"]) {
      if (im.value("split", "") != o->split) continue;
      Item it{im.at("filename").get<std::string>(), im.value("scene", "all"), {}};
      for (const auto& s : im.value("sentences", json::array())) it.refs.push_back(s.value("raw", ""));
      if (it.refs.empty()) continue;
      try {  // a sample the demo cannot read is no sample
        train::load_clip_image(image_root / it.file, int(src.model->clip().config().vision.image_size));
      } catch (const Error& e) {
        std::fprintf(stderr, "pack: skipping %s: %s\n", it.file.c_str(), e.what());
        continue;
      }
      if (!by_scene.count(it.scene)) scene_order.push_back(it.scene);
      by_scene[it.scene].push_back(it);
    }
    RS_CHECK(!scene_order.empty(), ValueError, "pack", "no images in split '", o->split, "' of ", json_path.string());
    std::vector<Item> gallery;
    std::map<std::string, size_t> used;  // per scene: items taken
    for (size_t round = 0; int64_t(gallery.size()) < o->samples; ++round) {
      bool any = false;
      for (const auto& sc : scene_order) {
        if (int64_t(gallery.size()) >= o->samples) break;
        if (round < by_scene[sc].size()) {
          gallery.push_back(by_scene[sc][round]);
          used[sc] = round + 1;
          any = true;
        }
      }
      if (!any) break;
    }
    fs::create_directories(out / "samples");
    json images = json::array();
    for (const auto& it : gallery) {
      const fs::path name = fs::path(it.file).filename();
      fs::copy_file(image_root / it.file, out / "samples" / name, fs::copy_options::overwrite_existing);
      images.push_back({{"file", name.string()}, {"scene", it.scene == "all" ? "" : it.scene}, {"reference", it.refs[0]}});
    }
    // Queries: three scenes spread over the gallery, each written by an image outside the gallery
    // when the split has one (so the query is not one of the gallery's own references).
    json queries = json::array();
    for (size_t q = 0; q < 3; ++q) {
      const Item& g = gallery[(q * gallery.size()) / 3];
      const auto& pool = by_scene[g.scene];
      const size_t u = used[g.scene];
      const std::string text = u < pool.size() ? pool[u].refs[0] : g.refs.back();
      queries.push_back({{"text", text}, {"scene", g.scene == "all" ? "" : g.scene}});
    }
    const json samples{{"images", images},
                       {"queries", queries},
                       {"chat", {{"image", 0}, {"questions", {"what is in this image?", "show me a similar image ."}}}},
                       {"source", {{"split", o->split}, {"model_xxh3", hash}}}};
    write_file_atomic(out / "samples" / "samples.json", samples.dump(2) + "\n", "pack");
    models::write_manifest(out);
    std::uintmax_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(out))
      if (e.is_regular_file()) bytes += e.file_size();
    std::printf("packed %s -> %s: %zu samples, %.2f MB, bridge %s\n", o->model.c_str(), o->out.c_str(),
                gallery.size(), double(bytes) / 1e6, hash.c_str());
  });
}

}  // namespace rscapret::app
