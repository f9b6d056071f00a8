// A LLaMA-2-7B-shaped decoder with random bf16 weights, mmapped from a 13.5 GB safetensors file the
// benchmark writes once (RSCAPRET_BENCH_DIR, default /tmp/rscapret_llama7b): prefill of 128 tokens,
// decode tokens/s at batch 1, peak RSS, and two memory-bandwidth bounds measured in the same run:
// weight bytes per token over the read bandwidth of a 2 GB sum in anonymous memory, and over the
// read bandwidth of the mapped weights themselves (the bytes decode reads, in 4 KB page-cache pages,
// which this machine reads more slowly than anonymous memory in some runs: bench_gemv_mmap).
// The prefill runs twice more after the decode, f32 products and then bf16 products
// (MatmulPrecision::bf16: AVX-512 BF16 dot products), so that their ratio comes from one run.
// BM_Llama7bQ8 repeats it all with the decoder's Linear weights quantized to q8_0 after loading
// (nn::quantize_linears_q8; the quantization's own time is a counter): its bounds count the q8_0
// bytes decode reads (codes and scales), and its paired reads read those bytes; it then decodes
// again with int8 activations (MatmulPrecision::int8, AVX-512 VNNI). BM_Llama7bDecodeRows/R times a
// decode step for R rows at once (batched captioning), at the same bandwidth as one row.
//   ./build/bench/models/bench_llama7b            (RSCAPRET_BENCH_LAYERS=N for a shorter model)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/quant_q8.h"
#include "models/llama/llama.h"
#include "nn/linear.h"
#include "tensor/dtype.h"
#include "bench/common/read_words.h"
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

// The weights decode reads (embed_tokens aside: decode reads one row of it), as 64-bit words: the
// mapped parameters, and the codes and scales of q8_0 layers (their weight slots are empty).
struct WeightSpans {
  std::vector<std::pair<const uint64_t*, int64_t>> spans;
  double bytes = 0;
  void add(const Tensor& t) {
    const int64_t n = t.numel() * int64_t(t.element_size()) / 8;
    spans.emplace_back(static_cast<const uint64_t*>(t.raw_data()), n);
    bytes += double(n) * 8;
  }
};

WeightSpans weight_spans(models::LlamaForCausalLM& model) {
  WeightSpans w;
  for (const auto& [name, p] : model.named_parameters())
    if (p.defined() && name != "model.embed_tokens.weight") w.add(p);
  for (const auto& [name, m] : model.named_modules())
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->is_quantized()) {
      w.add(lin->q8_weight().codes);
      w.add(lin->q8_weight().scales);
    }
  return w;
}

// One read of every mapped weight byte, summed in parallel; returns GB/s.
double mapped_read_pass(const WeightSpans& w) {
  uint64_t total = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [ptr, n] : w.spans) total += parallel_word_sum(ptr, n);
  benchmark::DoNotOptimize(total);
  return w.bytes / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

void run_llama7b(benchmark::State& st, bool q8) {
  const fs::path dir = model_dir();
  write_llama7b(dir);
  const double bw = read_bandwidth_gbs();
  auto model = models::LlamaForCausalLM::from_pretrained(dir);
  if (q8) {
    model->freeze();
    const auto t0 = std::chrono::steady_clock::now();
    nn::quantize_linears_q8(*model);
    st.counters["quantize_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const WeightSpans spans = weight_spans(*model);
  const double weight_bytes = spans.bytes;
  mapped_read_pass(spans);  // brings the whole file into the page cache
  autograd::NoGradGuard no_grad;
  const int64_t prompt = 128, new_tokens = 12;
  // This machine's bandwidth moves by tens of percent within seconds (shared hosts), so each decode
  // token is paired with a read of the mapped weights just before it: ratio = token's bytes/s over
  // that read's bytes/s; the median over the tokens is reported.
  std::vector<double> ratios, mapped_bws;
  Generator g(3);
  const Tensor ids = g.randint({1, prompt}, 32000);
  double prefill_s = 0, decode_tps = 0;
  for (auto _ : st) {
    models::LlamaDecoder dec(*model);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor logits = dec.step(ids);  // [1, V]
    const auto t1 = std::chrono::steady_clock::now();
    double decode_s = 0;
    for (int64_t i = 0; i < new_tokens; ++i) {
      mapped_bws.push_back(mapped_read_pass(spans));
      const auto ta = std::chrono::steady_clock::now();
      logits = dec.step(ops::argmax(logits, -1).view({1, 1}));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - ta).count();
      decode_s += s;
      ratios.push_back(weight_bytes / s / 1e9 / mapped_bws.back());
    }
    prefill_s = std::chrono::duration<double>(t1 - t0).count();
    decode_tps = double(new_tokens) / decode_s;
    st.SetIterationTime(prefill_s + decode_s);
  }
  // Prefill again, f32 then bf16 products (decode rows keep the 16-bit GEMV either way).
  auto prefill_seconds = [&](kernels::MatmulPrecision p) {
    const kernels::MatmulPrecisionGuard guard(p);
    models::LlamaDecoder dec(*model);
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(dec.step(ids).raw_data());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  st.counters["prefill128_f32_again_s"] = prefill_seconds(kernels::MatmulPrecision::f32);
  if (q8 && kernels::cpu_has_vnni()) {
    // Decode again with int8 activations (MatmulPrecision::int8: VNNI dot products), each token
    // paired with a read of the q8_0 weights as above.
    const kernels::MatmulPrecisionGuard guard(kernels::MatmulPrecision::int8);
    models::LlamaDecoder dec(*model);
    Tensor logits = dec.step(ids);
    std::vector<double> int8_ratios;
    double decode_s = 0;
    for (int64_t i = 0; i < new_tokens; ++i) {
      const double read_bw = mapped_read_pass(spans);
      const auto ta = std::chrono::steady_clock::now();
      logits = dec.step(ops::argmax(logits, -1).view({1, 1}));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - ta).count();
      decode_s += s;
      int8_ratios.push_back(weight_bytes / s / 1e9 / read_bw);
    }
    st.counters["decode_int8_tok_s"] = double(new_tokens) / decode_s;
    st.counters["decode_int8/bound_paired"] = median(int8_ratios);
  }
  if (kernels::cpu_has_bf16_dot()) st.counters["prefill128_bf16_products_s"] = prefill_seconds(kernels::MatmulPrecision::bf16);
  const double bound = bw * 1e9 / weight_bytes;
  st.counters["layers"] = double(layers());
  st.counters["prefill128_s"] = prefill_s;
  st.counters["decode_tok_s"] = decode_tps;
  st.counters["read_GBs"] = bw;
  st.counters["bound_tok_s"] = bound;
  st.counters["decode/bound"] = decode_tps / bound;
  st.counters["mapped_read_GBs"] = median(mapped_bws);
  st.counters["decode/bound_paired"] = median(ratios);
  st.counters["paired_min"] = *std::min_element(ratios.begin(), ratios.end());
  st.counters["paired_max"] = *std::max_element(ratios.begin(), ratios.end());
  st.counters["peak_rss_GB"] = peak_rss_gb();
  st.counters["weight_GB"] = weight_bytes / 1e9;
}

// One decode step for R rows at once (batched captioning: R images decoded together), bf16 weights
// (second argument 0), q8_0 weights with f32 activations (1) or with int8 activations (2: AVX-512
// VNNI, MatmulPrecision::int8; skipped without VNNI; above 8 rows this is the f32 path again). Each step is paired with a read of the mapped weights just before it, so rows
// compare at the same bandwidth: rows_x_bound = R x (weight bytes / step time) / that read's rate,
// the throughput in units of the one-row bound (1 row: its fraction of the bound).
void BM_Llama7bDecodeRows(benchmark::State& st) {
  const int64_t R = st.range(0);
  if (st.range(1) == 2 && !kernels::cpu_has_vnni()) {
    st.SkipWithError("no AVX-512 VNNI");
    return;
  }
  const fs::path dir = model_dir();
  write_llama7b(dir);
  auto model = models::LlamaForCausalLM::from_pretrained(dir);
  if (st.range(1) >= 1) {
    model->freeze();
    nn::quantize_linears_q8(*model);
  }
  const kernels::MatmulPrecisionGuard precision(st.range(1) == 2 ? kernels::MatmulPrecision::int8
                                                                  : kernels::MatmulPrecision::f32);
  const WeightSpans spans = weight_spans(*model);
  mapped_read_pass(spans);
  autograd::NoGradGuard no_grad;
  Generator g(5);
  const Tensor ids = g.randint({R, 8}, 32000);  // a short prompt per row
  std::vector<double> step_s, rows_x_bound;
  for (auto _ : st) {
    models::LlamaDecoder dec(*model);
    Tensor logits = dec.step(ids);  // [R, V]
    double total = 0;
    for (int i = 0; i < 6; ++i) {
      const double read_bw = mapped_read_pass(spans);
      const auto t0 = std::chrono::steady_clock::now();
      logits = dec.step(ops::argmax(logits, -1).view({R, 1}));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      total += s;
      step_s.push_back(s);
      rows_x_bound.push_back(double(R) * spans.bytes / s / 1e9 / read_bw);
    }
    st.SetIterationTime(total);
  }
  st.counters["rows"] = double(R);
  st.counters["step_s"] = median(step_s);
  st.counters["tok_s"] = double(R) / median(step_s);
  st.counters["rows_x_bound"] = median(rows_x_bound);
}

void BM_Llama7bBf16(benchmark::State& st) { run_llama7b(st, false); }
void BM_Llama7bQ8(benchmark::State& st) { run_llama7b(st, true); }

BENCHMARK(BM_Llama7bBf16)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Llama7bQ8)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Llama7bDecodeRows)
    ->ArgsProduct({{1, 2, 4, 8, 16}, {0, 1, 2}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
