// One RS-CapRet training step at full size on the CPU (issue: must fit in 24 GiB): a ViT-L/14 CLIP
// vision tower and a LLaMA-2-7B-shaped decoder, both random and frozen in bf16 (the decoder mmapped
// from the 13.5 GB file of bench/models/random_llama7b), batch 1, a 24-token caption, K = 1 visual
// token, all three losses, backward into the trainable bridge, AdamW step. Reports the step time
// (forward / backward split) and the peak RSS (which includes the page cache of the mapped weights
// that the step touched, i.e. all of them).
// Run with f32 products and with bf16 products (MatmulPrecision::bf16, AVX-512 BF16; skipped on
// CPUs without it), and with the decoder's Linears in q8_0 (nn::quantize_linears_q8, f32 products;
// its peak RSS still counts the mapped bf16 pages that quantization read).
//   ./build/bench/rscapret/bench_full_step    (RSCAPRET_BENCH_LAYERS=N for a shorter decoder)
#include <benchmark/benchmark.h>

#include <chrono>

#include "autograd/autograd.h"
#include "bench/models/random_llama7b.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed16.h"
#include "models/rscapret/rscapret.h"
#include "nn/linear.h"
#include "nn/optim/adamw.h"

namespace {

using namespace rscapret;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void BM_FullSizeBridgeStep(benchmark::State& st, kernels::MatmulPrecision precision, bool q8) {
  if (precision == kernels::MatmulPrecision::bf16 && !kernels::cpu_has_bf16_dot()) {
    st.SkipWithError("no AVX-512 BF16 on this CPU");
    return;
  }
  const kernels::MatmulPrecisionGuard guard(precision);
  const auto dir = bench::model_dir();
  bench::write_llama7b(dir);
  auto llm = models::LlamaForCausalLM::from_pretrained(dir);  // frozen, bf16, mmapped
  models::ClipConfig cc;  // ViT-L/14 at 224, vision tower only (CLIPVisionModel): pooled width 1024
  cc.has_text = cc.has_text_projection = cc.has_logit_scale = cc.has_visual_projection = false;
  cc.vision.hidden_size = 1024;
  cc.vision.intermediate_size = 4096;
  cc.vision.num_hidden_layers = 24;
  cc.vision.num_attention_heads = 16;
  cc.vision.patch_size = 14;
  nn::Init frozen;
  frozen.dtype = DType::bf16;
  Generator g(1);
  frozen.gen = &g;
  auto clip = std::make_shared<models::ClipModel>(cc, frozen);
  clip->freeze();
  models::RsCapRetOptions opt;  // FROMAGe defaults: K 1, Q 256, L 24
  nn::Init train_init;
  train_init.gen = &g;
  models::RsCapRet model(clip, llm, opt, train_init);
  if (q8) nn::quantize_linears_q8(*llm);  // after the bridge read the head's rows for [RET]
  nn::ParamGroup group;
  for (const auto& [n, p] : model.named_parameters())
    if (p.requires_grad()) group.params.emplace_back(n, p);
  nn::AdamW adamw({group});

  const int64_t B = 1;
  const Tensor pixels = g.normal({B, 3, 224, 224});
  std::vector<std::vector<int64_t>> words(static_cast<size_t>(B));
  for (auto& w : words)
    for (int i = 0; i < 22; ++i) w.push_back(100 + 37 * i);
  const models::CaptionTokens t = models::make_caption_tokens(words, 1, opt.max_len, model.ret_id(), opt.pad_id);

  double fwd = 0, bwd = 0, total = 0, loss = 0;
  for (auto _ : st) {
    const auto t0 = Clock::now();
    const Tensor pooled = model.encode_images(pixels);  // frozen CLIP, no graph
    const models::RsCapRetLosses l = model.losses(pooled, t, /*concat=*/false);
    fwd = seconds_since(t0);
    const auto t1 = Clock::now();
    autograd::backward(l.total);
    bwd = seconds_since(t1);
    adamw.step();
    adamw.zero_grad();
    model.renormalize_ret_embedding();
    total = seconds_since(t0);
    loss = l.total.item();
    st.SetIterationTime(total);
  }
  st.counters["layers"] = double(bench::layers());
  st.counters["forward_s"] = fwd;
  st.counters["backward_s"] = bwd;
  st.counters["step_s"] = total;
  st.counters["loss"] = loss;
  st.counters["peak_rss_GB"] = bench::peak_rss_gb();
}

BENCHMARK_CAPTURE(BM_FullSizeBridgeStep, f32, kernels::MatmulPrecision::f32, false)
    ->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK_CAPTURE(BM_FullSizeBridgeStep, bf16_products, kernels::MatmulPrecision::bf16, false)
    ->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK_CAPTURE(BM_FullSizeBridgeStep, q8_0, kernels::MatmulPrecision::f32, true)
    ->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
