// A LLaMA-2-7B-shaped decoder with random bf16 weights, mmapped from a 13.5 GB safetensors file the
// benchmark writes once (RSCAPRET_BENCH_DIR, default /tmp/rscapret_llama7b): prefill of 128 tokens,
// decode tokens/s at batch 1, peak RSS, and the memory-bandwidth bound measured in the same run
// (weight bytes per token over the read bandwidth of a 2 GB sum).
//   ./build/bench/models/bench_llama7b            (RSCAPRET_BENCH_LAYERS=N for a shorter model)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/llama/llama.h"
#include "tensor/dtype.h"
#include "bench/models/random_llama7b.h"

namespace {

using namespace rscapret;
using namespace rscapret::bench;
namespace fs = std::filesystem;

// Read bandwidth: rows of a 2 GB f32 buffer summed in parallel (each row a contiguous read).
double read_bandwidth_gbs() {
  const Tensor x = Tensor::full({1 << 16, 8192}, 1.0);
  ops::sum(x, 1);  // touch
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(ops::sum(x, 1).raw_data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(x.numel()) * 4 / s / 1e9);
  }
  return best;
}

void BM_Llama7bBf16(benchmark::State& st) {
  const fs::path dir = model_dir();
  write_llama7b(dir);
  const double bw = read_bandwidth_gbs();
  auto model = models::LlamaForCausalLM::from_pretrained(dir);
  double weight_bytes = 0;
  for (const auto& [name, p] : model->named_parameters())
    if (name != "model.embed_tokens.weight") weight_bytes += double(p.numel()) * double(p.element_size());
  autograd::NoGradGuard no_grad;
  const int64_t prompt = 128, new_tokens = 8;
  Generator g(3);
  const Tensor ids = g.randint({1, prompt}, 32000);
  double prefill_s = 0, decode_tps = 0;
  for (auto _ : st) {
    models::LlamaDecoder dec(*model);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor logits = dec.step(ids);  // [1, V]
    const auto t1 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < new_tokens; ++i) logits = dec.step(ops::argmax(logits, -1).view({1, 1}));
    const auto t2 = std::chrono::steady_clock::now();
    prefill_s = std::chrono::duration<double>(t1 - t0).count();
    decode_tps = double(new_tokens) / std::chrono::duration<double>(t2 - t1).count();
    st.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
  }
  const double bound = bw * 1e9 / weight_bytes;
  st.counters["layers"] = double(layers());
  st.counters["prefill128_s"] = prefill_s;
  st.counters["decode_tok_s"] = decode_tps;
  st.counters["read_GBs"] = bw;
  st.counters["bound_tok_s"] = bound;
  st.counters["decode/bound"] = decode_tps / bound;
  st.counters["peak_rss_GB"] = peak_rss_gb();
}

BENCHMARK(BM_Llama7bBf16)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
