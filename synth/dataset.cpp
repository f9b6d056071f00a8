#include "synth/dataset.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <xxhash.h>

#include "tensor/error.h"

namespace rscapret::synth {

std::array<double, 3> parse_split(const std::string& text) {
  std::array<double, 3> out{};
  std::stringstream ss(text);
  std::string item;
  int k = 0;
  while (std::getline(ss, item, ',')) {
    RS_CHECK(k < 3, ValueError, "synth", "--split needs three fractions train,val,test, got '", text, "'");
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    RS_CHECK(used > 0 && used == item.size() && std::isfinite(v) && v >= 0, ValueError, "synth",
             "--split: '", item, "' is not a non-negative number (in '", text, "')");
    out[k++] = v;
  }
  RS_CHECK(k == 3, ValueError, "synth", "--split needs three fractions train,val,test, got '", text, "'");
  const double sum = out[0] + out[1] + out[2];
  RS_CHECK(std::abs(sum - 1.0) < 1e-6, ValueError, "synth", "--split fractions must sum to 1, got ", sum,
           " ('", text, "')");
  return out;
}

void validate(const SynthOptions& o) {
  RS_CHECK(!o.out.empty(), ValueError, "synth", "--out DIR is required");
  RS_CHECK(o.count >= 1 && o.count <= 10'000'000, ValueError, "synth", "--count must be in 1..10000000, got ",
           o.count);
  RS_CHECK(o.size >= 64 && o.size <= 256, ValueError, "synth", "--size must be in 64..256, got ", o.size);
  RS_CHECK(o.threads >= 0, ValueError, "synth", "--threads must be >= 0, got ", o.threads);
  for (double f : o.split) RS_CHECK(f >= 0, ValueError, "synth", "split fractions must be >= 0");
  RS_CHECK(std::abs(o.split[0] + o.split[1] + o.split[2] - 1.0) < 1e-6, ValueError, "synth",
           "split fractions must sum to 1");
}

namespace {

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Runs fn(i) for i in [0, n) on `threads` threads; rethrows the first exception.
template <typename Fn>
void parallel_for(int64_t n, int threads, Fn fn) {
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto worker = [&] {
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  const int t = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(n, 1)));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

std::vector<std::string> tokens_of(const std::string& raw) {
  std::vector<std::string> out;
  std::istringstream is(raw);
  std::string w;
  while (is >> w)
    if (w != ".") out.push_back(w);
  return out;
}

double round3(float v) { return std::round(static_cast<double>(v) * 1000.0) / 1000.0; }

}  // namespace

std::vector<Sample> generate_batch(uint64_t seed, uint64_t first, int64_t count, int size, int threads) {
  std::vector<Sample> out(static_cast<size_t>(count));
  parallel_for(count, resolve_threads(threads),
               [&](int64_t i) { out[i] = generate_sample(seed, first + static_cast<uint64_t>(i), size); });
  return out;
}

uint64_t hash_samples(const std::vector<Sample>& samples) {
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  for (const auto& s : samples) {
    XXH64_update(st, s.rgb.data(), s.rgb.size());
    const int type = static_cast<int>(s.type);
    XXH64_update(st, &type, sizeof type);
    for (const auto& c : s.captions) XXH64_update(st, c.data(), c.size() + 1);  // with the '\0'
  }
  const uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  return h;
}

std::vector<std::string> assign_splits(int64_t count, const std::array<double, 3>& split) {
  // Contiguous ranges of image ids: scene types cycle with the id, so every range holds each type
  // in proportion (within one image) once it is at least kNumSceneTypes long.
  const int64_t n_train = std::llround(split[0] * count);
  const int64_t n_trainval = std::max<int64_t>(n_train, std::llround((split[0] + split[1]) * count));
  std::vector<std::string> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[i] = i < n_train ? "train" : (i < n_trainval ? "val" : "test");
  return out;
}

std::string image_filename(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06lld.png", static_cast<long long>(index));
  return buf;
}

nlohmann::json image_entry(const Sample& s, int64_t index, const std::string& split) {
  nlohmann::json sentences = nlohmann::json::array(), sentids = nlohmann::json::array();
  for (size_t k = 0; k < s.captions.size(); ++k) {
    const int64_t sid = index * 5 + static_cast<int64_t>(k);
    sentids.push_back(sid);
    sentences.push_back({{"tokens", tokens_of(s.captions[k])}, {"raw", s.captions[k]}, {"imgid", index},
                         {"sentid", sid}});
  }
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : s.objects)
    objects.push_back({{"kind", o.kind}, {"color", o.color}, {"size", o.size}, {"count", o.count},
                       {"x", round3(o.x)}, {"y", round3(o.y)}});
  return {{"sentids", sentids}, {"imgid", index}, {"sentences", sentences}, {"split", split},
          {"filename", image_filename(index)}, {"scene", scene_name(s.type)}, {"objects", objects}};
}

SynthReport write_dataset(const SynthOptions& o) {
  validate(o);
  namespace fs = std::filesystem;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path dir(o.out), images = dir / "images";
  std::error_code ec;
  fs::create_directories(images, ec);
  RS_CHECK(!ec && fs::is_directory(images), IOError, "synth", "cannot create directory ", images.string(),
           ec ? ": " + ec.message() : "");
  const auto splits = assign_splits(o.count, o.split);
  std::vector<nlohmann::json> entries(static_cast<size_t>(o.count));
  parallel_for(o.count, resolve_threads(o.threads), [&](int64_t i) {
    const Sample s = generate_sample(o.seed, static_cast<uint64_t>(i), o.size);
    write_png((images / image_filename(i)).string(), s.rgb, s.size);
    entries[i] = image_entry(s, i, splits[i]);
  });
  nlohmann::json scene_types = nlohmann::json::array();
  for (int k = 0; k < kNumSceneTypes; ++k) scene_types.push_back(scene_name(static_cast<SceneType>(k)));
  nlohmann::json root = {
      {"dataset", "synth"},
      {"synth", {{"seed", o.seed}, {"size", o.size}, {"count", o.count}, {"version", 1},
                 {"scene_types", scene_types}}},
      {"images", std::move(entries)}};
  const fs::path json_path = dir / "dataset_synth.json";
  {
    std::ofstream f(json_path);
    RS_CHECK(f.good(), IOError, "synth", "cannot write ", json_path.string());
    f << root.dump() << "\n";
    RS_CHECK(f.good(), IOError, "synth", "error while writing ", json_path.string());
  }
  SynthReport r;
  r.images = o.count;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& s : splits) ++r.per_split[s == "train" ? 0 : s == "val" ? 1 : 2];
  return r;
}

}  // namespace rscapret::synth
