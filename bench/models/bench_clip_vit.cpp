// CLIP ViT-L/14 at 224 px with random weights (f32, and bf16 weights): seconds per image at batch
// 1 and 8, and the share of the time spent in GEMM (target: everything else <= 25%).
// `bf16_products`: bf16 weights under MatmulPrecision::bf16 (AVX-512 BF16 dot products).
//   ./build/bench/models/bench_clip_vit
#include <benchmark/benchmark.h>

#include <chrono>

#include "autograd/autograd.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed16.h"
#include "models/clip/clip.h"
#include "tensor/rng.h"

namespace {

using namespace rscapret;

std::shared_ptr<models::ClipVisionTransformer> vit_l14(DType dtype) {
  models::ClipVisionConfig c;
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 16;
  c.patch_size = 14;
  c.image_size = 224;
  Generator g(1);
  auto m = std::make_shared<models::ClipVisionTransformer>(c, nn::Init{DType::f32, &g});
  if (dtype != DType::f32) m->to(dtype);
  m->eval();
  return m;
}

void BM_ClipVitL14(benchmark::State& st, DType dtype, kernels::MatmulPrecision precision) {
  const int64_t batch = st.range(0);
  if (precision == kernels::MatmulPrecision::bf16 && !kernels::cpu_has_bf16_dot()) {
    st.SkipWithError("no AVX-512 BF16 on this CPU");
    return;
  }
  const kernels::MatmulPrecisionGuard guard(precision);
  static std::map<DType, std::shared_ptr<models::ClipVisionTransformer>> models;
  if (!models.count(dtype)) models[dtype] = vit_l14(dtype);
  const auto& model = models[dtype];
  Generator g(2);
  const Tensor pixels = g.normal({batch, 3, 224, 224});
  autograd::NoGradGuard no_grad;
  model->forward(pixels);  // warm-up
  double total_s = 0, gemm_s = 0;
  for (auto _ : st) {
    kernels::reset_gemm_nanoseconds();
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(model->forward(pixels).pooler_output.raw_data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_s += s;
    gemm_s += double(kernels::gemm_nanoseconds()) / 1e9;
    st.SetIterationTime(s);
  }
  st.counters["s_per_image"] = total_s / double(st.iterations()) / double(batch);
  st.counters["matmul_share"] = gemm_s / total_s;
  st.counters["GFLOPS"] = 162.0 * double(batch) * double(st.iterations()) / total_s;  // ~162 GFLOP per image
}

using kernels::MatmulPrecision;
BENCHMARK_CAPTURE(BM_ClipVitL14, f32, DType::f32, MatmulPrecision::f32)->Arg(1)->Arg(8)->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK_CAPTURE(BM_ClipVitL14, bf16_weights, DType::bf16, MatmulPrecision::f32)->Arg(1)->Arg(8)->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK_CAPTURE(BM_ClipVitL14, bf16_products, DType::bf16, MatmulPrecision::bf16)->Arg(1)->Arg(8)->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
