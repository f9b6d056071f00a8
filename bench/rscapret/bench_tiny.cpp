// The embedded default model (assets/) on the CPU: bridge training steps/s and images/s, time per
// caption and per text->image query. Skips with a message when assets/ has not been built.
//   ./build/bench/rscapret/bench_tiny       (RSCAPRET_ASSETS=DIR for another assets folder)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"
#include "train/bridge/dataset_batches.h"
#include "train/bridge/trainer.h"
#include "train/data/clip_preprocess.h"

namespace {

using namespace rscapret;
namespace fs = std::filesystem;

fs::path assets() {
  const char* e = std::getenv("RSCAPRET_ASSETS");
  return e && *e ? fs::path(e) : fs::path(RSCAPRET_SOURCE_DIR) / "assets";
}

struct Tiny {
  models::RsCapRetBundle b;
  Tensor pixels;                      // [N, 3, S, S]
  std::vector<std::string> captions;  // N references
};

// Loaded once; null when the assets are missing.
Tiny* tiny() {
  static std::unique_ptr<Tiny> t = []() -> std::unique_ptr<Tiny> {
    if (!fs::exists(assets() / "model" / "bridge.json")) return nullptr;
    auto t = std::make_unique<Tiny>();
    t->b = models::load_rscapret_dir(assets() / "model");
    const int S = int(t->b.model->clip().config().vision.image_size);
    const auto j = nlohmann::json::parse(std::ifstream(assets() / "samples" / "samples.json"));
    std::vector<Tensor> px;
    for (const auto& im : j["images"]) {
      px.push_back(train::load_clip_image(assets() / "samples" / im["file"].get<std::string>(), S));
      t->captions.push_back(im["reference"].get<std::string>());
    }
    t->pixels = data::stack_images(px);
    return t;
  }();
  return t.get();
}

#define REQUIRE_ASSETS(st)                                                              \
  if (!tiny()) {                                                                        \
    st.SkipWithError(("no embedded model in " + assets().string() + ": build it with " \
                      "scripts/pretrain_default.sh").c_str());                          \
    return;                                                                             \
  }

// Batches of `batch` images drawn from the gallery (pixels and captions repeat; the work is the same).
void BM_TinyBridgeTrainStep(benchmark::State& st) {
  REQUIRE_ASSETS(st);
  Tiny& t = *tiny();
  const int64_t B = st.range(0), N = t.pixels.shape()[0];
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < B; ++i) rows.push_back(i % N);
  train::InMemoryPairs pairs;
  pairs.pixels = ops::index_select(t.pixels, 0, Tensor::from_vector(rows, {B}));
  for (int64_t r : rows) pairs.captions.push_back(t.captions[size_t(r)]);
  const auto batches = train::shuffled_batches(pairs, B, 1, 0, false);
  // A fresh copy of the bridge so the assets model stays as loaded.
  models::RsCapRetBundle b = models::load_rscapret_dir(assets() / "model");
  train::BridgeTrainOptions o;
  o.steps = 1 << 30;
  o.progress = false;
  train::BridgeTrainer trainer(b, o);
  for (auto _ : st) trainer.train_step(batches);
  st.counters["steps_per_s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["images_per_s"] = benchmark::Counter(double(st.iterations() * B), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TinyBridgeTrainStep)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// Greedy captions of `batch` images, CLIP encoding included.
void BM_TinyCaption(benchmark::State& st) {
  REQUIRE_ASSETS(st);
  Tiny& t = *tiny();
  autograd::NoGradGuard ng;
  const int64_t B = std::min<int64_t>(st.range(0), t.pixels.shape()[0]);
  const Tensor px = t.pixels.narrow(0, 0, B);
  models::GenerateOptions g;
  g.max_new_tokens = 24;
  g.stop_tokens = {t.b.tokenizer->eos_id()};
  for (auto _ : st) benchmark::DoNotOptimize(t.b.model->caption(t.b.model->encode_images(px), *t.b.tokenizer, g));
  st.counters["s_per_caption"] =
      benchmark::Counter(double(st.iterations() * B), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TinyCaption)->Arg(1)->Arg(12)->Unit(benchmark::kMillisecond)->UseRealTime();

// One text query: "BOS text [RET]" through the LLM, W_t, then ranking of the gallery.
void BM_TinyTextQuery(benchmark::State& st) {
  REQUIRE_ASSETS(st);
  Tiny& t = *tiny();
  autograd::NoGradGuard ng;
  models::ImageIndex index;
  index.embeddings = models::embed_pooled(*t.b.model, t.b.model->encode_images(t.pixels));
  index.dim = t.b.model->options().retrieval_dim;
  index.paths.assign(size_t(t.pixels.shape()[0]), "x");
  for (auto _ : st) benchmark::DoNotOptimize(index.search(models::embed_texts(t.b, {t.captions[0]}), 3));
}
BENCHMARK(BM_TinyTextQuery)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
