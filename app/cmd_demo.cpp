// `rscapret demo [--assets DIR] [--html FILE]`: the README's main command. On the embedded default
// model (assets/, made by scripts/pretrain_default.sh and checked against assets/MANIFEST.json) it
// captions the sample images, runs the sample text->image queries over the sample gallery, holds a
// two-turn chat about one image, prints everything and writes a self-contained demo.html.
//
// assets/samples/samples.json:
//   {"images":  [{"file": "x.png", "scene": "harbor", "reference": "..."}, ...],
//    "queries": [{"text": "...", "scene": "harbor"}, ...],   (scene: what the query describes)
//    "chat":    {"image": 0, "questions": ["...", "..."]}}
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "app/demo_html.h"
#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/chat.h"
#include "models/rscapret/retrieval.h"
#include "models/rscapret/manifest.h"
#include "tensor/atomic_file.h"
#include "train/bridge/dataset_batches.h"
#include "train/data/clip_preprocess.h"

#ifndef RSCAPRET_ASSETS_DIR
#define RSCAPRET_ASSETS_DIR "assets"
#endif

namespace rscapret::app {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// $RSCAPRET_ASSETS; else an installed copy beside the program (<prefix>/bin/rscapret ->
// <prefix>/share/rscapret/assets, put there by `cmake --install`); else the source tree's assets/.
fs::path default_assets() {
  if (const char* e = std::getenv("RSCAPRET_ASSETS"); e && *e) return e;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "rscapret" / "assets";
    if (fs::is_regular_file(installed / "MANIFEST.json", ec)) return installed;
  }
  return RSCAPRET_ASSETS_DIR;
}

json read_json(const fs::path& p) {
  std::ifstream f(p);
  RS_CHECK(f.good(), IOError, "demo", "cannot read ", p.string());
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw FormatError(cat("[demo] ", p.string(), " is not valid JSON: ", e.what()));
  }
}

std::vector<std::pair<size_t, double>> as_pairs(const std::vector<models::RetrievalHit>& hits) {
  std::vector<std::pair<size_t, double>> out;
  for (const auto& h : hits) out.emplace_back(size_t(h.index), h.score);
  return out;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "caption, retrieve and chat with the embedded default model");
  struct Opts {
    std::string assets = default_assets().string();
    std::string html = "demo.html";
    int64_t top_k = 3, max_new_tokens = 24;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--assets", o->assets, "assets folder (default: $RSCAPRET_ASSETS, else the installed share/rscapret/assets, else the repository's assets/)");
  cmd->add_option("--html", o->html, "page to write (default demo.html)");
  cmd->add_option("-k", o->top_k, "results per query (default 3)");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "caption and answer length (default 24)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    const auto t0 = std::chrono::steady_clock::now();
    autograd::NoGradGuard no_grad;
    const Device device = parse_device_option(o->device);
    check_quantize_option(o->quantize, device);
    const fs::path root = o->assets;
    RS_CHECK(fs::exists(root / models::kManifestName), IOError, "demo", "no embedded model in ", root.string(),
             " (", models::kManifestName, " missing): build it with scripts/pretrain_default.sh");
    const models::ManifestCheck check = models::verify_manifest(root);
    RS_CHECK(check.ok(), FormatError, "demo", "the assets do not match ", (root / models::kManifestName).string(),
             ":\n", check.describe());

    const models::RsCapRetBundle b = load_model_option(root / "model", device, o->quantize);
    const int size = int(b.model->clip().config().vision.image_size);
    const json samples = read_json(root / "samples" / "samples.json");
    RS_CHECK(samples.contains("images") && samples["images"].is_array() && !samples["images"].empty(), FormatError,
             "demo", "samples.json has no \"images\"");

    DemoReport rep;
    rep.model_hash = models::module_xxh3(*b.model);
    std::vector<Tensor> px;
    for (const auto& im : samples["images"]) {
      DemoImage g;
      g.path = root / "samples" / im.at("file").get<std::string>();
      g.scene = im.value("scene", "");
      g.reference = im.value("reference", "");
      px.push_back(train::load_clip_image(g.path, size));  // [3, S, S]
      rep.gallery.push_back(g);
    }
    const Tensor pooled = b.model->encode_images(data::stack_images(px));  // [N, Cv]
    const size_t N = rep.gallery.size();

    // 1. Captions (greedy, cut at the first period).
    models::GenerateOptions g;
    g.max_new_tokens = o->max_new_tokens;
    g.stop_tokens = {b.tokenizer->eos_id()};
    const auto caps = b.model->caption(pooled, *b.tokenizer, g);
    std::printf("== Model: %s\n\n", (root / "model").string().c_str());
    std::printf("== Captions (%zu sample images)\n", N);
    for (size_t i = 0; i < N; ++i) {
      rep.gallery[i].caption = caps.at(i);
      std::printf("  %-14s %-20s %s\n", rep.gallery[i].path.filename().string().c_str(),
                  rep.gallery[i].scene.empty() ? "" : ("[" + rep.gallery[i].scene + "]").c_str(), caps[i].c_str());
    }

    // 2. Text -> image retrieval over the gallery (an in-memory index of the samples).
    auto index = std::make_shared<models::ImageIndex>();
    index->embeddings = models::embed_pooled(*b.model, pooled);  // [N, Q]
    index->dim = b.model->options().retrieval_dim;
    for (const auto& g : rep.gallery) index->paths.push_back(g.path.filename().string());
    index->model_xxh3 = rep.model_hash;
    std::printf("\n== Text -> image retrieval (top %lld of %zu)\n", (long long)o->top_k, N);
    for (const auto& q : samples.value("queries", json::array())) {
      DemoQuery dq;
      dq.text = q.at("text").get<std::string>();
      dq.target_scene = q.value("scene", "");
      dq.ranked = as_pairs(index->search(models::embed_texts(b, {dq.text}), o->top_k));
      std::printf("  \"%s\"\n", dq.text.c_str());
      for (size_t r = 0; r < dq.ranked.size(); ++r) {
        const DemoImage& hit = rep.gallery[dq.ranked[r].first];
        std::printf("    %zu. %.3f  %-14s %s\n", r + 1, dq.ranked[r].second, hit.path.filename().string().c_str(),
                    hit.scene.c_str());
      }
      rep.queries.push_back(std::move(dq));
    }

    // 3. A two-turn chat about one image (FROMAGe's Q:/A: format); the last turn asks for images,
    // so the answer starts with [RET] and returns the gallery's nearest images.
    const json chat = samples.value("chat", json::object());
    rep.chat_image = chat.value("image", size_t(0));
    RS_CHECK(rep.chat_image < N, ValueError, "demo", "chat image ", rep.chat_image, " is not in the gallery");
    std::vector<std::string> questions = chat.value("questions", std::vector<std::string>{});
    if (questions.empty()) questions = {"what is in this image?", "show me a similar image ."};
    models::ChatOptions co;
    co.max_new_tokens = o->max_new_tokens;
    co.top_k_images = o->top_k;
    models::RsCapRetChat session(b, co);
    session.set_index(index);
    session.add_pooled(pooled.narrow(0, int64_t(rep.chat_image), 1));
    std::printf("\n== Chat about %s\n", rep.gallery[rep.chat_image].path.filename().string().c_str());
    for (size_t t = 0; t < questions.size(); ++t) {
      const bool ask_for_images = t + 1 == questions.size() && questions.size() > 1;
      const models::ChatReply reply = session.ask(questions[t], ask_for_images);
      DemoChatTurn turn{questions[t], reply.text, {}};
      std::printf("  Q: %s\n  A: %s\n", questions[t].c_str(), reply.text.c_str());
      for (const auto& h : reply.retrieved) {
        turn.retrieved.emplace_back(size_t(h.index), h.score);
        std::printf("     [RET] %.3f  %-14s %s\n", h.score, h.path.c_str(), rep.gallery[size_t(h.index)].scene.c_str());
      }
      rep.chat.push_back(std::move(turn));
    }

    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string page = render_demo_html(rep);
    write_file_atomic(o->html, page, "demo");
    std::printf("\nwrote %s (%.1f s)\n", o->html.c_str(), rep.seconds);
  });
}

}  // namespace rscapret::app
