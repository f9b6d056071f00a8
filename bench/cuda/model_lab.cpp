// Whole models on the GPU: CLIP ViT-L/14 (random weights, 224 px) forward at batch 64 and 1, with
// bf16 weights and with f32 weights, in images per second, beside PyTorch's figures on an H100
// (bench/RESULTS.md: eager bf16 batch 64 2161 images/s, batch 1 11.4 ms, f32 batch 64 258).
// Also checks that the GPU forward matches the CPU forward on one image before timing.
//   model_lab [--quick]        (--quick: bf16 weights only)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "models/clip/clip.h"
#include "tensor/device_backend.h"
#include "tensor/rng.h"

using namespace rscapret;

namespace {

std::shared_ptr<models::ClipVisionTransformer> vit_l14() {
  models::ClipVisionConfig c;
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 16;
  c.patch_size = 14;
  c.image_size = 224;
  Generator g(1);
  auto m = std::make_shared<models::ClipVisionTransformer>(c, nn::Init{DType::f32, &g});
  m->eval();
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds per forward (median of `reps` after one warm-up), synchronised on the device's stream.
double time_forward(const models::ClipVisionTransformer& m, const Tensor& pixels, int reps) {
  autograd::NoGradGuard no_grad;
  m.forward(pixels);
  cuda_runtime::synchronize(0);
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor out = m.forward(pixels).pooler_output;
    cuda_runtime::synchronize(0);
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(s);
}

double max_rel(const Tensor& got, const Tensor& want) {
  const auto g = got.to(Device::cpu()).to_vector<double>(), w = want.to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    num = std::max(num, std::abs(g[i] - w[i]));
    den = std::max(den, std::abs(w[i]));
  }
  return den > 0 ? num / den : num;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (!cuda_runtime::available()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  std::printf("| model | weights | batch | ms / forward | images/s | PyTorch eager (H100) |\n|---|---|---|---|---|---|\n");
  Generator g(2);
  const Tensor one = g.normal({1, 3, 224, 224});
  const Tensor batch64 = g.normal({64, 3, 224, 224});
  for (DType wt : {DType::bf16, DType::f32}) {
    if (quick && wt == DType::f32) continue;
    auto cpu = vit_l14();
    if (wt != DType::f32) cpu->to(wt);
    autograd::NoGradGuard no_grad;
    const Tensor want = cpu->forward(one).pooler_output;  // CPU reference for one image
    auto gpu = vit_l14();
    if (wt != DType::f32) gpu->to(wt);
    gpu->to(Device::cuda(0));
    const double err = max_rel(gpu->forward(one.to(Device::cuda(0))).pooler_output, want);
    // bf16 weights: the GPU rounds activations to bf16 before each GEMM (autocast style), the CPU
    // does not: expect ~1e-2 after 24 layers; f32: summation order only.
    const double tol = wt == DType::f32 ? 1e-3 : 5e-2;
    std::printf("<!-- %s weights: GPU vs CPU pooled output, max rel err %.2e (tol %.0e) %s -->\n", std::string(dtype_name(wt)).c_str(),
                err, tol, err <= tol ? "ok" : "MISMATCH");
    if (!(err <= tol)) return 1;
    // bf16 weights run twice: attention in f32 (the default), then under bf16 autocast (the
    // tensor-core flash kernel), which is what PyTorch's bf16 SDPA does.
    for (bool autocast : {false, true}) {
      if (autocast && wt != DType::bf16) continue;
      ops::CudaAutocastBf16Guard guard(autocast);
      for (int64_t b : {int64_t(64), int64_t(1)}) {
        const Tensor px = (b == 64 ? batch64 : one).to(Device::cuda(0));
        const double s = time_forward(*gpu, px, b == 64 ? 5 : 10);
        const char* ref = wt == DType::bf16 ? (b == 64 ? "2161 images/s" : "11.4 ms") : (b == 64 ? "258 images/s" : "-");
        const std::string w = std::string(dtype_name(wt)) + (autocast ? " + bf16 attention" : "");
        std::printf("| CLIP ViT-L/14 | %s | %lld | %.2f | %.0f | %s |\n", w.c_str(), static_cast<long long>(b), s * 1e3,
                    double(b) / s, ref);
      }
    }
    const auto st = cuda_runtime::memory_stats(0);
    std::printf("<!-- peak device memory held by rscapret: %.2f GiB -->\n", double(st.peak_allocated) / (1 << 30));
  }
  return 0;
}
