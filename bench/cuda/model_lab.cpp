// Whole models on the GPU: CLIP ViT-L/14 (random weights, 224 px) forward at batch 64 and 1, with
// bf16 weights and with f32 weights, in images per second, beside PyTorch's figures on an H100
// (bench/RESULTS.md: eager bf16 batch 64 2161 images/s, batch 1 11.4 ms, f32 batch 64 258).
// Also checks that the GPU forward matches the CPU forward on one image before timing.
// Then a LLaMA-2-7B-shaped decoder (bf16 weights, 32 layers, 13.5 GB) decoding greedily at batch 1:
// tokens per second against the HBM bound (weight bytes over a device copy's bandwidth measured in
// the same run) and HF generate's 12.1 tokens/s. Last, the RS-CapRet training step with that decoder
// frozen (batch 16, 48 tokens) against PyTorch's 87.7 ms.
//   model_lab [--quick]        (--quick: bf16 weights only)
//   model_lab --smoke          (the training step at tiny shapes on the CPU; no GPU needed)
//   model_lab --profile        (device time per kernel in each of the three, from the kernel profiler)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "models/clip/clip.h"
#include "models/generate/generate.h"
#include "models/llama/llama.h"
#include "models/rscapret/captions.h"
#include "models/rscapret/rscapret.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip.h"
#include "tensor/device_backend.h"
#include "tensor/feature_switch.h"
#include "tensor/kernel_profile.h"
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

// A LLaMA-shaped decoder (7B by default) with frozen bf16 weights made on `dev`: each tensor
// repeats one random host row (cheap to make; every byte is still distinct memory that a step
// must read).
std::shared_ptr<models::LlamaForCausalLM> llama_filled(const models::LlamaConfig& c, Device dev) {
  auto m = std::make_shared<models::LlamaForCausalLM>(c, nn::Init{DType::bf16, nullptr, /*deferred=*/true});
  m->freeze();
  Generator g(7);
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t Dq = c.num_attention_heads * c.head_dim, Dkv = c.num_key_value_heads * c.head_dim;
  std::vector<std::pair<std::string, Shape>> shapes = {
      {"model.embed_tokens.weight", {V, C}}, {"model.norm.weight", {C}}, {"lm_head.weight", {V, C}}};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    shapes.push_back({p + "self_attn.q_proj.weight", {Dq, C}});
    shapes.push_back({p + "self_attn.k_proj.weight", {Dkv, C}});
    shapes.push_back({p + "self_attn.v_proj.weight", {Dkv, C}});
    shapes.push_back({p + "self_attn.o_proj.weight", {C, Dq}});
    shapes.push_back({p + "mlp.gate_proj.weight", {F, C}});
    shapes.push_back({p + "mlp.up_proj.weight", {F, C}});
    shapes.push_back({p + "mlp.down_proj.weight", {C, F}});
    shapes.push_back({p + "input_layernorm.weight", {C}});
    shapes.push_back({p + "post_attention_layernorm.weight", {C}});
  }
  nn::StateDict state;
  for (const auto& [name, shape] : shapes) {
    const int64_t cols = shape.back();
    const bool norm = name.find("norm") != std::string::npos;
    const Tensor row = norm ? Tensor::full({1, cols}, 1.0) : g.normal({1, cols}, 0.0, 0.02);
    state[name] = row.to(dev).expand(shape.size() == 1 ? Shape{1, cols} : shape).contiguous().reshape(shape).to(DType::bf16);
  }
  nn::LoadOptions opt;
  opt.zero_copy = true;  // frozen slots adopt the device tensors
  m->load_state_dict(state, opt);
  m->to(dev);
  m->eval();
  return m;
}

// Device-to-device copy bandwidth (bytes read + written per second) of a 4 GiB buffer.
double copy_bandwidth() {
  const size_t n = size_t(4) << 30;
  void* a = cuda_runtime::allocate(n, 0);
  void* b = cuda_runtime::allocate(n, 0);
  std::vector<double> s;
  for (int i = 0; i < 6; ++i) {
    cuda_runtime::synchronize(0);
    const auto t0 = std::chrono::steady_clock::now();
    cuda_runtime::copy_device_to_device(b, a, n, 0);
    cuda_runtime::synchronize(0);
    if (i > 0) s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  cuda_runtime::release(a, 0);
  cuda_runtime::release(b, 0);
  return 2.0 * double(n) / median(s);
}

// Waits for the device's queued work (nothing to wait for on the CPU).
void sync(Device dev) {
  if (dev.is_cuda()) cuda_runtime::synchronize(dev.index);
}

// The 8-token prompt every decode measurement starts from ([1, 8], ids folded into the vocabulary).
Tensor decode_prompt(const models::LlamaConfig& c) {
  std::vector<int64_t> ids = {1, 450, 4996, 17354, 1701, 432, 17204, 975};
  for (int64_t& id : ids) id %= c.vocab_size;
  return Tensor::from_vector(ids, {1, 8});
}

// Greedy decode at batch 1: tokens per second from the time per token of two lengths (n + 2 and
// 2 new tokens), so the prefill and set-up cancel; the median of three.
// `last_tokens` (when given) receives the last run's tokens, for comparing two runs' output.
double decode_tokens_per_second(const models::LlamaForCausalLM& m, Device dev, int64_t n,
                                std::vector<int64_t>* last_tokens = nullptr) {
  const Tensor prompt = decode_prompt(m.config());
  models::GenerateOptions opt;  // greedy, no stop token
  auto run = [&](int64_t tokens) {
    models::LlamaDecoder dec(m);  // a fresh cache: every run decodes the same positions
    opt.max_new_tokens = tokens;
    sync(dev);
    const auto t0 = std::chrono::steady_clock::now();
    const models::GenerateResult r = models::generate(dec, prompt, opt);
    sync(dev);
    if (last_tokens) *last_tokens = r.tokens.at(0);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  run(4);  // warm-up
  std::vector<double> per;
  for (int i = 0; i < 3; ++i) per.push_back((run(n + 2) - run(2)) / double(n));
  return 1.0 / median(per);
}

// Failed checks and sections, reported in model_lab's exit status (every section still runs).
int g_failures = 0;

// Where a decode step's time goes: the host's time to issue one token's work, and the device's
// time to run it back to back. The step is issued while the stream is busy with ~20 ms of large
// copies, so its kernels queue up and then run without waiting for the host; events bracket them.
// If issuing takes longer than the busy time, something inside the step waits for the device,
// and the device figure is not pure (reported). Also counts device mallocs per token.
void decode_step_split(const models::LlamaForCausalLM& m, const char* label) {
  models::LlamaDecoder dec(m);
  dec.step(decode_prompt(m.config()));
  const Tensor next = Tensor::from_vector(std::vector<int64_t>{29871 % m.config().vocab_size}, {1, 1});
  for (int i = 0; i < 24; ++i) dec.step(next);  // warm: cache past its growth steps
  cuda_runtime::synchronize(0);
  const size_t n = size_t(1) << 30;
  void* a = cuda_runtime::allocate(n, 0);
  void* b = cuda_runtime::allocate(n, 0);
  auto stream = static_cast<cudaStream_t>(cuda_runtime::stream(0));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> host_ms, gpu_ms, busy_ms, mallocs;
  for (int r = 0; r < 5; ++r) {
    cuda_runtime::synchronize(0);
    const auto tb = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i) cuda_runtime::copy_device_to_device(b, a, n, 0);
    const int64_t before = cuda_runtime::memory_stats(0).device_mallocs;
    cudaEventRecord(e0, stream);
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor logits = dec.step(next);  // [1, V], on the device
    const auto t1 = std::chrono::steady_clock::now();
    cudaEventRecord(e1, stream);
    cudaEventSynchronize(e1);
    const auto te = std::chrono::steady_clock::now();
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    host_ms.push_back(1e3 * std::chrono::duration<double>(t1 - t0).count());
    gpu_ms.push_back(ms);
    busy_ms.push_back(1e3 * std::chrono::duration<double>(te - tb).count() - ms);
    mallocs.push_back(double(cuda_runtime::memory_stats(0).device_mallocs - before));
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cuda_runtime::release(a, 0);
  cuda_runtime::release(b, 0);
  const bool pure = median(host_ms) < 0.9 * median(busy_ms);
  std::printf("| one decode step%s: host time to issue it | %.2f ms |\n", label, median(host_ms));
  std::printf("| one decode step%s: device time, kernels back to back | %.2f ms%s |\n", label, median(gpu_ms),
              pure ? "" : " (NOT pure: issuing outlasted the busy stream, so the step waits on the device)");
  std::printf("| device mallocs per decode step%s | %.0f |\n", label, median(mallocs));
}

void decode_7b() {
  auto m = llama_filled(models::LlamaConfig{}, Device::cuda(0));
  int64_t weight_bytes = 0;
  for (const auto& [name, t] : m->named_parameters())
    if (name.find("embed_tokens") == std::string::npos) weight_bytes += t.numel() * int64_t(t.element_size());
  // Each switchable decode path's before/after: tokens/s with it off (the old path), then all on.
  // Each changes when or how bytes move, never which values: the greedy tokens must agree.
  struct SwitchedOff {
    const char* row;      // "greedy decode, <row>" in the table
    const char* check;    // the token agreement line
    const char* feature;  // its RSCAPRET_DISABLE name (null: always on)
    void (*set)(bool);
    double tok_s = 0;
    std::vector<int64_t> tokens;
  };
  std::vector<SwitchedOff> offs = {
      {"small host copies through the staging buffers", "ring vs staging buffers", nullptr,
       cuda_runtime::set_small_copy_ring, 0, {}},
      {"residual adds as separate kernels (not in o_proj / down_proj)", "residual adds fused vs separate",
       "fused_residual", ops::set_cuda_fused_residual, 0, {}},
      {"rope of q and k and the cache writes as separate kernels", "rope + cache write fused vs separate",
       "fused_rope_append", ops::set_cuda_fused_rope_append, 0, {}},
      {"plain launches (no programmatic dependent launch, no early weight prefetch)", "dependent vs plain launches",
       "dependent_launch", kernels::cuda::set_cuda_dependent_launch, 0, {}},
      {"RMSNorms as their own kernels (not in the q/k/v and gate/up loads)", "RMSNorm in the GEMV vs separate",
       "norm_in_gemv", kernels::cuda::set_cuda_norm_in_gemv, 0, {}},
  };
  // A path RSCAPRET_DISABLE leaves out (check.sh's probe found it failing) stays off: no row.
  std::erase_if(offs, [](const SwitchedOff& o) { return o.feature && !feature_enabled_by_env(o.feature); });
  for (SwitchedOff& o : offs) {
    o.set(false);
    o.tok_s = decode_tokens_per_second(*m, Device::cuda(0), 64, &o.tokens);
    o.set(true);
  }
  std::vector<int64_t> tokens;
  const double tok_s = decode_tokens_per_second(*m, Device::cuda(0), 64, &tokens);
  for (const SwitchedOff& o : offs) {
    const bool same = o.tokens == tokens && !tokens.empty();
    std::printf("<!-- decode tokens, %s: %s (%zu tokens) -->\n", o.check, same ? "same" : "MISMATCH", tokens.size());
    g_failures += !same;
  }
  const double bw = copy_bandwidth();
  const double bound = bw / double(weight_bytes);
  std::printf("\n| LLaMA-2-7B shape, bf16, batch 1 | value |\n|---|---|\n");
  std::printf("| weights read per token | %.2f GB |\n| device copy bandwidth (read + write), same run | %.2f TB/s |\n",
              double(weight_bytes) / 1e9, bw / 1e12);
  std::printf("| greedy decode | %.1f tokens/s (%.2f ms/token) |\n", tok_s, 1e3 / tok_s);
  for (const SwitchedOff& o : offs) std::printf("| greedy decode, %s | %.1f tokens/s |\n", o.row, o.tok_s);
  std::printf("| HBM bound | %.1f tokens/s |\n", bound);
  std::printf("| fraction of the bound | %.2f |\n| vs HF generate (12.1 tokens/s) | %.1fx |\n", tok_s / bound,
              tok_s / 12.1);
  decode_step_split(*m, "");
  if (feature_enabled_by_env("dependent_launch")) {
    kernels::cuda::set_cuda_dependent_launch(false);
    decode_step_split(*m, ", plain launches");
    kernels::cuda::set_cuda_dependent_launch(true);
  }
  m.reset();
  // The same 32 layers at a tiny width: the weights are read in microseconds, so its time per
  // token is the per-token cost of launches and host work alone (the floor that bytes do not set).
  models::LlamaConfig tiny;
  tiny.vocab_size = 256;
  tiny.hidden_size = 256;
  tiny.intermediate_size = 512;
  tiny.num_attention_heads = 2;
  tiny.num_key_value_heads = 2;
  tiny.head_dim = 128;
  const double tiny_tok_s = decode_tokens_per_second(*llama_filled(tiny, Device::cuda(0)), Device::cuda(0), 64);
  std::printf("| the same 32 layers at width 256 (launch and host cost per token) | %.1f tokens/s (%.2f ms/token) |\n",
              tiny_tok_s, 1e3 / tiny_tok_s);
}

// The RS-CapRet training step with a frozen LLaMA: pooled CLIP features [B, Cv] -> the bridge's
// losses -> backward through the frozen decoder into the bridge -> gradient clipping -> AdamW ->
// the [RET] renormalisation. That is BridgeTrainer::train_step without the frozen CLIP forward and
// the tokenizer (PyTorch's figure leaves the image tower out too); the pooled features and the
// caption ids are random. Times (ms) and losses of `steps` steps after `warmup` more.
struct BridgeSteps {
  std::vector<double> ms, losses;
  std::vector<profile::KernelStat> kernels;  // the timed steps' kernels, when profiled
};

BridgeSteps bridge_steps(const models::LlamaConfig& lc, int64_t Cv, Device dev, int64_t B,
                         const models::RsCapRetOptions& ro, int warmup, int steps, bool profile_steps = false) {
  models::ClipConfig cc;  // only its width matters here: the step starts from pooled features
  cc.has_text = cc.has_text_projection = cc.has_logit_scale = cc.has_visual_projection = false;
  cc.vision.hidden_size = cc.vision.intermediate_size = Cv;
  cc.vision.num_hidden_layers = 1;
  cc.vision.num_attention_heads = 1;
  cc.vision.image_size = 28;
  cc.vision.patch_size = 14;
  Generator g(11);
  nn::Init init{DType::f32, &g};
  auto clip = std::make_shared<models::ClipModel>(cc, init);
  models::RsCapRet model(clip, llama_filled(lc, dev), ro, init);
  model.to(dev);
  model.train(true);
  nn::ParamGroup group;  // FROMAGe's AdamW (the trainer's defaults)
  std::vector<Tensor> params;
  for (const auto& [name, t] : model.named_parameters())
    if (t.requires_grad()) {
      group.params.emplace_back(name, t);
      params.push_back(t);
    }
  nn::AdamW adamw({group});
  const Tensor pooled = g.normal({B, Cv}).to(dev);  // [B, Cv]
  std::vector<std::vector<int64_t>> words(static_cast<size_t>(B));
  const auto ids = g.uniform({B, ro.max_len - 2}, 3.0, double(lc.vocab_size), DType::f64).to_vector<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < ro.max_len - 2; ++j) words[size_t(b)].push_back(int64_t(ids[size_t(b * (ro.max_len - 2) + j)]));
  const models::CaptionTokens tok = models::make_caption_tokens(words, lc.bos_token_id, ro.max_len, model.ret_id(), ro.pad_id);
  BridgeSteps out;
  for (int i = 0; i < warmup + steps; ++i) {
    sync(dev);
    if (profile_steps && i == warmup) profile::start_kernel_profile();
    const auto t0 = std::chrono::steady_clock::now();
    adamw.zero_grad();
    const models::RsCapRetLosses l = model.losses(pooled, tok);
    autograd::backward(l.total);
    nn::clip_grad_norm(params, 1.0);
    adamw.step();
    model.renormalize_ret_embedding();
    const double loss = l.total.item();  // a host read: the step is done
    sync(dev);
    if (i < warmup) continue;
    out.ms.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    out.losses.push_back(loss);
  }
  if (profile_steps) out.kernels = profile::stop_kernel_profile();
  return out;
}

// The decode and the bridge step on the CPU at tiny shapes, through the same code as the 7B
// measurements: decoding must run, and the step's losses must be finite and fall over a few steps
// on a fixed batch. Run by ctest (model_lab --smoke).
int smoke() {
  models::LlamaConfig lc;
  lc.vocab_size = 96;
  lc.hidden_size = 32;
  lc.intermediate_size = 64;
  lc.num_hidden_layers = 2;
  lc.num_attention_heads = 4;
  lc.num_key_value_heads = 2;
  lc.head_dim = 8;
  const double tok_s = decode_tokens_per_second(*llama_filled(lc, Device::cpu()), Device::cpu(), 4);
  std::printf("smoke: decode %.0f tokens/s\n", tok_s);
  if (!(tok_s > 0)) return std::printf("FAILED: decode\n"), 1;
  for (bool all_losses : {false, true}) {
    models::RsCapRetOptions ro;
    ro.num_visual_tokens = all_losses ? 1 : 4;
    ro.max_len = all_losses ? 12 : 8;
    if (!all_losses) ro.ret_lm_loss_weight = ro.contrastive_loss_weight = 0.0;
    const BridgeSteps r = bridge_steps(lc, 24, Device::cpu(), 4, ro, 0, 6);
    std::printf("smoke (%s): losses", all_losses ? "all three losses" : "caption loss");
    for (double l : r.losses) std::printf(" %.4f", l);
    std::printf("\n");
    for (double l : r.losses)
      if (!std::isfinite(l)) return std::printf("FAILED: a non-finite loss\n"), 1;
    if (!(r.losses.back() < r.losses.front())) return std::printf("FAILED: the loss did not fall\n"), 1;
  }
  std::printf("smoke ok\n");
  return 0;
}

// The frozen-7B step at PyTorch's shape (batch 16 x 48 tokens: 4 visual + 44 caption tokens, the
// caption loss only: one forward and backward of the decoder), then the full RS-CapRet step (all
// three losses: the caption pass and the "BOS caption [RET]" pass, K = 1, L = 24).
void bridge_step_7b() {
  const int64_t Cv = 1024;  // ViT-L/14's pooled width
  std::printf("\n| frozen LLaMA-2-7B shape, bf16 weights, batch 16 | ms / step (median of 5) | peak device memory | PyTorch (H100) |\n|---|---|---|---|\n");
  struct Row {
    bool all_losses, bf16_attention;
    const char* name;
    bool wgmma_kn = true;  // the backward's dY W products (B [K,N]) on the wgmma kernel
  };
  std::vector<double> first_losses, kn_last_losses;
  for (const Row& row : {Row{false, false, "caption loss, 4 visual + 44 caption tokens (PyTorch's shape)"},
                         Row{false, true, "the same, bf16 attention (autocast)"},
                         Row{false, true, "the same, dY W products on mma.sync (B [K,N] wgmma off)", false},
                         Row{true, false, "RS-CapRet step, all three losses (K 1, L 24: two decoder passes)"}}) {
    kernels::cuda::set_gemm_wgmma_kn(row.wgmma_kn && feature_enabled_by_env("wgmma_kn"));
    models::RsCapRetOptions ro;
    ro.num_visual_tokens = row.all_losses ? 1 : 4;
    ro.max_len = row.all_losses ? 24 : 44;
    if (!row.all_losses) ro.ret_lm_loss_weight = ro.contrastive_loss_weight = 0.0;
    ops::CudaAutocastBf16Guard guard(row.bf16_attention);
    cuda_runtime::reset_peak(0);
    const BridgeSteps r = bridge_steps(models::LlamaConfig{}, Cv, Device::cuda(0), 16, ro, 2, 5);
    const auto st = cuda_runtime::memory_stats(0);
    std::printf("| %s | %.1f | %.1f GiB | %s |\n", row.name, median(r.ms), double(st.peak_allocated) / (1 << 30),
                row.all_losses ? "-" : "87.7 ms, 16 GiB");
    std::printf("<!-- losses:");
    for (double l : r.losses) std::printf(" %.4f", l);
    std::printf(" -->\n");
    for (double l : r.losses)
      if (!std::isfinite(l)) {
        std::printf("<!-- MISMATCH: a non-finite loss -->\n");
        ++g_failures;
        break;
      }
    // Rows 1 and 2 take the same first step from the same weights and batch, attention in f32
    // and in bf16: their first losses agree to bf16 rounding.
    if (!row.all_losses && row.wgmma_kn) first_losses.push_back(r.losses.empty() ? NAN : r.losses.front());
    // Rows 2 and 3 differ only in the kernel of the backward's products: after the same updates
    // their last losses agree to f32 summation order (carried through a few AdamW steps).
    if (!row.all_losses && row.bf16_attention) kn_last_losses.push_back(r.losses.empty() ? NAN : r.losses.back());
  }
  kernels::cuda::set_gemm_wgmma_kn(feature_enabled_by_env("wgmma_kn"));
  std::printf("<!-- B [K,N] wgmma variant self-check on device 0: %s -->\n",
              kernels::cuda::gemm_bf16_wgmma_kn_verified(0) ? "passed" : "FAILED or unavailable (the rows above match)");
  if (kn_last_losses.size() == 2) {
    const double rel = std::fabs(kn_last_losses[1] - kn_last_losses[0]) / std::fabs(kn_last_losses[0]);
    const bool ok = rel <= 1e-2;
    std::printf("<!-- last loss, dY W on wgmma vs mma.sync: %.5f vs %.5f (rel %.1e) %s -->\n", kn_last_losses[0],
                kn_last_losses[1], rel, ok ? "ok" : "MISMATCH");
    g_failures += !ok;
  }
  if (first_losses.size() == 2) {
    const double rel = std::fabs(first_losses[1] - first_losses[0]) / std::fabs(first_losses[0]);
    const bool ok = rel <= 1e-2;
    std::printf("<!-- first loss, f32 vs bf16 attention: %.5f vs %.5f (rel %.1e) %s -->\n", first_losses[0],
                first_losses[1], rel, ok ? "ok" : "MISMATCH");
    g_failures += !ok;
  }
}

// CLIP ViT-L/14 on the GPU (bf16 weights; f32 too unless quick): checked against the CPU on one
// image, then timed at batch 64 and 1, attention in f32 and bf16, and with the fused linear off.
void vit_l14_section(bool quick) {
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
    const Tensor got = gpu->forward(one.to(Device::cuda(0))).pooler_output;
    const double err = max_rel(got, want);
    if (wt == DType::bf16 && kernels::cpu_has_bf16_dot()) {
      // The CPU with bf16 products rounds each GEMM's activations to bf16 as the GPU does: the
      // distance to it shows how much of `err` is that rounding (information, not a check yet).
      const kernels::MatmulPrecisionGuard bf16_products(kernels::MatmulPrecision::bf16);
      std::printf("<!-- bf16 weights: GPU vs CPU with bf16 products, max rel err %.2e -->\n",
                  max_rel(got, cpu->forward(one).pooler_output));
    }
    // bf16 weights: the GPU rounds activations to bf16 before each GEMM (autocast style), the CPU
    // does not: expect ~1e-2 after 24 layers; f32: summation order only.
    const double tol = wt == DType::f32 ? 1e-3 : 5e-2;
    std::printf("<!-- %s weights: GPU vs CPU pooled output, max rel err %.2e (tol %.0e) %s -->\n", std::string(dtype_name(wt)).c_str(),
                err, tol, err <= tol ? "ok" : "MISMATCH");
    if (!(err <= tol) && wt == DType::bf16) {
      // The fused linear (bias and activation in the GEMM epilogue) is the newest path: check the
      // composed ops and time with them if they agree.
      ++g_failures;
      ops::set_cuda_fused_linear(false);
      const double err2 = max_rel(gpu->forward(one.to(Device::cuda(0))).pooler_output, want);
      std::printf("<!-- the same with the fused linear off: max rel err %.2e %s; timing with it off -->\n", err2,
                  err2 <= tol ? "ok" : "MISMATCH");
      if (!(err2 <= tol)) continue;
    } else if (!(err <= tol)) {
      ++g_failures;
      continue;
    }
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
    if (wt == DType::bf16) {
      // Before/after of each switchable ViT path: the bf16 handoff (GEMMs and attention writing
      // bf16 where their consumer rounds to bf16 anyway), the residual adds in the epilogues, the
      // single-read LayerNorm, and the fused linear (bias and activation in the epilogue).
      ops::CudaAutocastBf16Guard guard(true);
      struct SwitchedOff {
        const char* row;
        const char* feature;  // its RSCAPRET_DISABLE name (null: always on)
        void (*set)(bool);
      };
      for (const SwitchedOff& o :
           {SwitchedOff{"bf16 handoff off (f32 between every op)", "bf16_handoff", ops::set_cuda_bf16_handoff},
            SwitchedOff{"residual adds as separate kernels", "fused_residual", ops::set_cuda_fused_residual},
            SwitchedOff{"LayerNorm reading each row three times (scalar loads)", "norm_single_read",
                        kernels::cuda::set_cuda_norm_single_read},
            SwitchedOff{"bias and activation as separate kernels", nullptr, ops::set_cuda_fused_linear}}) {
        if (o.feature && !feature_enabled_by_env(o.feature)) continue;  // left out for this run: stays off
        o.set(false);
        const double s = time_forward(*gpu, batch64.to(Device::cuda(0)), 5);
        o.set(true);
        std::printf("| CLIP ViT-L/14 | bf16 + bf16 attention, %s | 64 | %.2f | %.0f | 2161 images/s |\n", o.row,
                    s * 1e3, 64.0 / s);
      }
    }
    ops::set_cuda_fused_linear(true);
    const auto st = cuda_runtime::memory_stats(0);
    std::printf("<!-- peak device memory held by rscapret: %.2f GiB -->\n", double(st.peak_allocated) / (1 << 30));
  }
}

// Runs one part of the lab; an exception is reported and counted, and the next part still runs
// (a kernel profile the failed part left running is stopped, so the next part can start its own).
template <typename Fn>
void section(const char* name, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::printf("\n<!-- MISMATCH: %s failed: %s -->\n", name, e.what());
    ++g_failures;
    try {
      if (profile::kernel_profile_running()) profile::stop_kernel_profile();
    } catch (const std::exception&) {
    }
  }
}

// Where the device time goes (--profile): the kernel profiler's table for one ViT-L/14 forward at
// batch 64 (bf16 weights, bf16 attention), 16 greedy 7B decode tokens after the prompt, and one
// frozen-7B training step, each after a warm-up. Device time only: the host's share is in the
// timed sections above.
void print_profile(const char* what, const std::vector<profile::KernelStat>& stats, int top) {
  std::printf("\n%s\n```\n%s```\n", what, profile::format_kernel_profile(stats, top).c_str());
}

void profile_section() {
  if (profile::kernel_profile_running()) {  // RSCAPRET_PROFILE_KERNELS profiles the whole run
    std::printf("\n<!-- MISMATCH: a kernel profile is already running (unset RSCAPRET_PROFILE_KERNELS for --profile) -->\n");
    ++g_failures;
    return;
  }
  section("kernel profile: ViT-L/14", [] {
    auto gpu = vit_l14();
    gpu->to(DType::bf16);
    gpu->to(Device::cuda(0));
    ops::CudaAutocastBf16Guard autocast(true);
    autograd::NoGradGuard no_grad;
    const Tensor px = Generator(2).normal({64, 3, 224, 224}).to(Device::cuda(0));
    gpu->forward(px);  // warm-up: the allocator's cache, the GEMM's tile choices
    cuda_runtime::synchronize(0);
    profile::start_kernel_profile();
    gpu->forward(px);
    print_profile("CLIP ViT-L/14, bf16 weights and attention, batch 64, one forward:", profile::stop_kernel_profile(), 30);
  });
  section("kernel profile: 7B decode", [] {
    auto m = llama_filled(models::LlamaConfig{}, Device::cuda(0));
    const Tensor prompt = decode_prompt(m->config());
    models::GenerateOptions opt;
    opt.max_new_tokens = 4;
    { models::LlamaDecoder warm(*m); models::generate(warm, prompt, opt); }
    sync(Device::cuda(0));
    // Two runs that differ by 16 tokens would need two profiles; one run of 17 tokens holds one
    // prefill (its rows are the large-M GEMMs) and 16 decode steps.
    opt.max_new_tokens = 17;
    models::LlamaDecoder dec(*m);
    profile::start_kernel_profile();
    models::generate(dec, prompt, opt);
    print_profile("LLaMA-2-7B shape, bf16, batch 1: an 8-token prompt and 17 greedy tokens (one prefill, 16 decode steps):",
                  profile::stop_kernel_profile(), 30);
  });
  section("kernel profile: frozen-7B step", [] {
    models::RsCapRetOptions ro;
    ro.num_visual_tokens = 4;
    ro.max_len = 44;
    ro.ret_lm_loss_weight = ro.contrastive_loss_weight = 0.0;
    ops::CudaAutocastBf16Guard autocast(true);
    const BridgeSteps r = bridge_steps(models::LlamaConfig{}, 1024, Device::cuda(0), 16, ro, 2, 1, /*profile_steps=*/true);
    print_profile("frozen LLaMA-2-7B shape, caption loss, batch 16 x 48 tokens, bf16 attention, one step:", r.kernels, 30);
  });
}

}  // namespace

int run_lab(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && std::strcmp(argv[1], "--smoke") == 0) return smoke();
  if (!cuda_runtime::available()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--profile") == 0) {
    profile_section();
    return g_failures ? 1 : 0;
  }
  section("CLIP ViT-L/14", [&] { vit_l14_section(quick); });
  section("7B decode", decode_7b);
  section("frozen-7B training step", bridge_step_7b);
  if (g_failures) std::printf("\nmodel_lab: %d check(s) or section(s) failed (MISMATCH or error above)\n", g_failures);
  return g_failures ? 1 : 0;
}

int main(int argc, char** argv) {
  try {
    return run_lab(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_lab: %s\n", e.what());
    return 1;
  }
}

