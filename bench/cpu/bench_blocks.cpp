// Forward and backward of one transformer block, built from our nn modules, with memory.
//   ViT-B block: T 197, C 768, 12 heads, LayerNorm + quick_gelu MLP 3072 (pre-LN, as CLIP).
//   LLaMA-style block: T 256, C 1024, 16 heads, RMSNorm + rope + causal + SwiGLU 2816.
// Counters: fwd_ms (recording the graph), bwd_ms, bwd/fwd, kept_MB (what the graph keeps after
// the forward: the activations the backward needs) and bwd_peak_MB (the most held above the
// pre-forward level during the backward, gradients included).
//   ./build/bench/cpu/bench_blocks --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <chrono>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/mlp.h"
#include "nn/norm.h"
#include "tensor/host_allocator.h"

namespace {

using namespace rscapret;
using Clock = std::chrono::steady_clock;

struct Block {
  std::shared_ptr<nn::Module> norm1, norm2;
  std::shared_ptr<nn::Attention> attn;
  std::function<Tensor(const Tensor&)> forward;
  std::vector<Tensor> params;
};

Block vit_block() {
  Block b;
  auto ln1 = std::make_shared<nn::LayerNorm>(768), ln2 = std::make_shared<nn::LayerNorm>(768);
  nn::AttentionConfig cfg;
  cfg.hidden_size = 768;
  cfg.num_heads = 12;
  cfg.out_name = "out_proj";
  auto attn = std::make_shared<nn::Attention>(cfg);
  auto mlp = std::make_shared<nn::MLP>(768, 3072, nn::Activation::quick_gelu);
  b.forward = [=](const Tensor& x) {
    const Tensor h = ops::add(x, attn->forward(ln1->forward(x)));
    return ops::add(h, mlp->forward(ln2->forward(h)));
  };
  for (auto* m : std::initializer_list<nn::Module*>{ln1.get(), ln2.get(), attn.get(), mlp.get()})
    for (const Tensor& p : m->parameters()) b.params.push_back(p);
  return b;
}

Block llama_block() {
  Block b;
  auto n1 = std::make_shared<nn::RMSNorm>(1024, 1e-5), n2 = std::make_shared<nn::RMSNorm>(1024, 1e-5);
  nn::AttentionConfig cfg;
  cfg.hidden_size = 1024;
  cfg.num_heads = 16;
  cfg.bias = false;
  cfg.rope = true;
  auto attn = std::make_shared<nn::Attention>(cfg);
  auto mlp = std::make_shared<nn::SwiGLU>(1024, 2816);
  b.forward = [=](const Tensor& x) {
    nn::AttentionArgs args;
    args.causal = true;
    const Tensor h = ops::add(x, attn->forward(n1->forward(x), args));
    return ops::add(h, mlp->forward(n2->forward(h)));
  };
  for (auto* m : std::initializer_list<nn::Module*>{n1.get(), n2.get(), attn.get(), mlp.get()})
    for (const Tensor& p : m->parameters()) b.params.push_back(p);
  return b;
}

void run_block(benchmark::State& st, Block (*make)(), int64_t T, int64_t C) {
  Block b = make();
  Generator g(1);
  Tensor x = g.normal({1, T, C});
  x.set_requires_grad(true);
  const Tensor cot = g.normal({1, T, C});
  double fwd = 0, bwd = 0, kept = 0, peak = 0;
  for (auto _ : st) {
    for (Tensor& p : b.params) p.set_grad(Tensor());
    x.set_grad(Tensor());
    const size_t base = host_allocator::usage().live_bytes;
    const auto t0 = Clock::now();
    Tensor y = b.forward(x);
    const auto t1 = Clock::now();
    const size_t after_forward = host_allocator::usage().live_bytes;
    host_allocator::reset_peak();
    autograd::backward(y, cot);
    const auto t2 = Clock::now();
    const double f = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double w = std::chrono::duration<double, std::milli>(t2 - t1).count();
    st.SetIterationTime((f + w) / 1e3);
    fwd += f;
    bwd += w;
    kept = double(after_forward - base) / 1e6;
    peak = double(host_allocator::usage().peak_bytes - base) / 1e6;
  }
  const double n = double(st.iterations());
  st.counters["fwd_ms"] = fwd / n;
  st.counters["bwd_ms"] = bwd / n;
  st.counters["bwd/fwd"] = bwd / fwd;
  st.counters["kept_MB"] = kept;
  st.counters["bwd_peak_MB"] = peak;
}

void BM_VitBBlock(benchmark::State& st) { run_block(st, vit_block, 197, 768); }
void BM_LlamaBlock(benchmark::State& st) { run_block(st, llama_block, 256, 1024); }
BENCHMARK(BM_VitBBlock)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LlamaBlock)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
