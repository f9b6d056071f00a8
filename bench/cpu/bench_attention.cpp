// The fused attention op's forward on the CPU at the model shapes (f32): ViT-L/14 (257 tokens, 16
// heads of 64), a LLaMA-7B prefill (128 tokens, 32 heads of 128, causal) and one decode row over a
// 512-token cache. Counter GFLOPS = 4 B H Tq Tk D per second (halved when causal, Tq = Tk).
//   ./build/bench/cpu/bench_attention --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "tensor/rng.h"

namespace {

using rscapret::Generator;
using rscapret::Tensor;

struct Shape { int64_t B, H, Tq, Tk, D; bool causal; const char* name; };
const Shape kShapes[] = {{1, 16, 257, 257, 64, false, "ViT-L/14 1 image"},
                         {8, 16, 257, 257, 64, false, "ViT-L/14 8 images"},
                         {1, 32, 128, 128, 128, true, "7B prefill 128"},
                         {1, 32, 1, 512, 128, true, "7B decode, 512 cached"}};

void BM_Attention(benchmark::State& st) {
  const Shape s = kShapes[st.range(0)];
  Generator g(1);
  const Tensor q = g.normal({s.B, s.H, s.Tq, s.D}), k = g.normal({s.B, s.H, s.Tk, s.D}), v = g.normal({s.B, s.H, s.Tk, s.D});
  rscapret::ops::AttentionOptions o;
  o.causal = s.causal;
  rscapret::autograd::NoGradGuard no_grad;
  for (auto _ : st) benchmark::DoNotOptimize(rscapret::ops::attention(q, k, v, o).raw_data());
  const double flops = 4.0 * double(s.B * s.H * s.Tq * s.Tk * s.D) * (s.causal && s.Tq == s.Tk ? 0.5 : 1.0);
  st.counters["GFLOPS"] = benchmark::Counter(flops * double(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
  st.SetLabel(s.name);
}

BENCHMARK(BM_Attention)->DenseRange(0, int(std::size(kShapes)) - 1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
