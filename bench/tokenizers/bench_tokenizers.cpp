// Tokens per second of both tokenizers on all UCM captions (10,500 sentences), and of Debian's
// libsentencepiece on the same text for LLaMA. The shared folder comes from RSCAPRET_SHARED or
// the build's RSCAPRET_DEFAULT_SHARED.
//   ./build/bench/tokenizers/bench_tokenizers
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/llama_tokenizer.h"

#ifdef RSCAPRET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace {

std::filesystem::path shared(const std::string& rel) {
  const char* env = std::getenv("RSCAPRET_SHARED");
  return std::filesystem::path(env ? env : RSCAPRET_DEFAULT_SHARED) / rel;
}

const std::vector<std::string>& captions() {
  static const std::vector<std::string> caps = [] {
    std::vector<std::string> v;
    std::ifstream in(shared("data/ucm/dataset_ucm.json"));
    if (!in) return v;
    const auto j = nlohmann::json::parse(in);
    for (const auto& img : j["images"])
      for (const auto& s : img["sentences"]) v.push_back(s["raw"].get<std::string>());
    return v;
  }();
  return caps;
}

bool ready(benchmark::State& state, const std::string& rel) {
  if (captions().empty() || !std::filesystem::exists(shared(rel))) {
    state.SkipWithError(("needs " + shared(rel).string() + " and UCM captions").c_str());
    return false;
  }
  return true;
}

const char* kLlama = "fixtures/tokenizers/llama/tokenizer.model";
const char* kClip = "fixtures/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz";

void BM_LlamaEncode_Ours(benchmark::State& state) {
  if (!ready(state, kLlama)) return;
  const auto tok = rscapret::tokenizers::LlamaTokenizer::load(shared(kLlama));
  int64_t tokens = 0;
  for (auto _ : state) {
    for (const auto& c : captions()) {
      const auto ids = tok.encode(c);
      tokens += static_cast<int64_t>(ids.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["captions"] = static_cast<double>(captions().size());
}
BENCHMARK(BM_LlamaEncode_Ours)->Unit(benchmark::kMillisecond);

#ifdef RSCAPRET_HAVE_SENTENCEPIECE
void BM_LlamaEncode_SentencePiece(benchmark::State& state) {
  if (!ready(state, kLlama)) return;
  sentencepiece::SentencePieceProcessor sp;
  if (!sp.Load(shared(kLlama).string()).ok()) { state.SkipWithError("sentencepiece failed to load"); return; }
  // Same ids as ours on every caption, or the comparison means nothing.
  const auto tok = rscapret::tokenizers::LlamaTokenizer::load(shared(kLlama));
  size_t mismatches = 0;
  for (const auto& c : captions()) {
    std::vector<int> ids;
    sp.Encode(c, &ids);
    if (std::vector<int32_t>(ids.begin(), ids.end()) != tok.encode(c)) ++mismatches;
  }
  int64_t tokens = 0;
  for (auto _ : state) {
    for (const auto& c : captions()) {
      std::vector<int> ids;
      sp.Encode(c, &ids);
      tokens += static_cast<int64_t>(ids.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["id_mismatches"] = static_cast<double>(mismatches);
}
BENCHMARK(BM_LlamaEncode_SentencePiece)->Unit(benchmark::kMillisecond);
#endif

void BM_LlamaDecode_Ours(benchmark::State& state) {
  if (!ready(state, kLlama)) return;
  const auto tok = rscapret::tokenizers::LlamaTokenizer::load(shared(kLlama));
  std::vector<std::vector<int32_t>> all;
  for (const auto& c : captions()) all.push_back(tok.encode(c));
  int64_t tokens = 0;
  for (auto _ : state) {
    for (const auto& ids : all) {
      benchmark::DoNotOptimize(tok.decode(ids));
      tokens += static_cast<int64_t>(ids.size());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LlamaDecode_Ours)->Unit(benchmark::kMillisecond);

// Cold: the per-word cache is cleared before every pass; warm: it persists (the normal case).
void clip_encode(benchmark::State& state, bool cold) {
  if (!ready(state, kClip)) return;
  const auto tok = rscapret::tokenizers::ClipTokenizer::load(shared(kClip));
  int64_t tokens = 0;
  for (auto _ : state) {
    if (cold) tok.clear_cache();
    for (const auto& c : captions()) {
      const auto ids = tok.encode(c);
      tokens += static_cast<int64_t>(ids.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}
void BM_ClipEncode_ColdCache(benchmark::State& state) { clip_encode(state, true); }
void BM_ClipEncode_WarmCache(benchmark::State& state) { clip_encode(state, false); }
BENCHMARK(BM_ClipEncode_ColdCache)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ClipEncode_WarmCache)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
