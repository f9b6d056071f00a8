// Decoding on the GPU: the attention op reads a KV cache's keys and values in place (the first Tk
// rows of buffers with room for more), and a LLaMA decoder's greedy tokens and logits through the
// cache equal the CPU's and a full forward's.
#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "models/generate/generate.h"
#include "models/llama/llama.h"
#include "nn/kv_cache.h"
#include "tensor/rng.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/models/model_test_util.h"

namespace rscapret::testing {
namespace {

// Keys and values as a cache holds them ([B, Hkv, capacity, D] narrowed to Tk rows) give the bits
// of the same keys and values made contiguous, for the cases decode meets: one query after a
// cache, grouped heads, a batch, causal or not.
TEST(CudaDecode, AttentionReadsTheCacheInPlace) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(31);
  const Device gpu = Device::cuda(0);
  struct Case {
    int64_t B, H, Hkv, Tq, Tk, cap, D;
    bool causal;
  };
  for (const Case c : {Case{1, 4, 4, 1, 7, 16, 64, true}, Case{2, 8, 2, 1, 33, 64, 128, true},
                       Case{3, 2, 1, 3, 20, 32, 32, false}}) {
    SCOPED_TRACE("B " + std::to_string(c.B) + " H " + std::to_string(c.H) + " Hkv " + std::to_string(c.Hkv) +
                 " Tq " + std::to_string(c.Tq) + " Tk " + std::to_string(c.Tk) + " cap " + std::to_string(c.cap));
    const Tensor q = g.normal({c.B, c.H, c.Tq, c.D}).to(gpu);
    const Tensor kbuf = g.normal({c.B, c.Hkv, c.cap, c.D}).to(gpu), vbuf = g.normal({c.B, c.Hkv, c.cap, c.D}).to(gpu);
    const Tensor k = ops::narrow(kbuf, 2, 0, c.Tk), v = ops::narrow(vbuf, 2, 0, c.Tk);  // the cache's views
    ASSERT_FALSE(k.is_contiguous());
    ops::AttentionOptions opt;
    opt.causal = c.causal;
    const Tensor in_place = ops::attention(q, k, v, opt).to(Device::cpu());
    const Tensor copied = ops::attention(q, k.contiguous(), v.contiguous(), opt).to(Device::cpu());
    EXPECT_TRUE(close_rel("in place vs contiguous", in_place, copied, 0.0));
    const Tensor cpu = ops::attention(q.to(Device::cpu()), k.to(Device::cpu()), v.to(Device::cpu()), opt);
    EXPECT_TRUE(close_rel("GPU vs CPU", in_place, cpu, 1e-5));
  }
}

// Rope of q and k and the cache write in one launch (LayerKVCache::append_rotated, ops::rope_append)
// give the bits of rope, transpose and append: the rotated q and every cached key and value, over a
// prefill of several tokens then single-token steps (which grow the buffers), per-row positions
// (left padding), grouped heads, both layouts and a partial rotary_dim. Added in the twelfth
// session without a GPU.
TEST(CudaDecode, RopeAppendHasTheBitsOfRopeAndAppend) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(37);
  const Device gpu = Device::cuda(0);
  struct Case {
    int64_t B, H, Hkv, D, rotary;
    ops::RopeLayout layout;
    bool per_row_positions;
  };
  for (const Case c : {Case{1, 4, 4, 64, 64, ops::RopeLayout::half_split, false},
                       Case{2, 8, 2, 128, 128, ops::RopeLayout::interleaved, true},
                       Case{3, 2, 1, 32, 16, ops::RopeLayout::half_split, true}}) {
    SCOPED_TRACE("B " + std::to_string(c.B) + " H " + std::to_string(c.H) + " Hkv " + std::to_string(c.Hkv) + " D " +
                 std::to_string(c.D) + " rotary " + std::to_string(c.rotary));
    nn::LayerKVCache fused, composed;
    int64_t past = 0;
    for (int64_t T : {int64_t(5), int64_t(1), int64_t(1), int64_t(12), int64_t(1)}) {
      // q, k, v as slices of one projection output [B, T, (H + 2 Hkv) D], as decode makes them.
      const Tensor qkv = g.normal({c.B, T, (c.H + 2 * c.Hkv) * c.D}).to(gpu);
      const Tensor q = ops::reshape(ops::narrow(qkv, 2, 0, c.H * c.D), {c.B, T, c.H, c.D});
      const Tensor k = ops::reshape(ops::narrow(qkv, 2, c.H * c.D, c.Hkv * c.D), {c.B, T, c.Hkv, c.D});
      const Tensor v = ops::reshape(ops::narrow(qkv, 2, (c.H + c.Hkv) * c.D, c.Hkv * c.D), {c.B, T, c.Hkv, c.D});
      std::vector<int64_t> p;
      for (int64_t b = 0; b < (c.per_row_positions ? c.B : 1); ++b)
        for (int64_t t = 0; t < T; ++t) p.push_back(past + t + 3 * b);
      const Tensor pos = c.per_row_positions ? Tensor::from_vector(p, {c.B, T}) : Tensor::from_vector(p, {T});
      nn::LayerKVCache::Rotated r;
      ASSERT_TRUE(fused.append_rotated(q, k, v, pos, 10000.0, c.layout, c.rotary, &r)) << "the fused path must apply";
      const Tensor q_ref = ops::rope(q, pos, 10000.0, c.layout, c.rotary);
      const auto [keys, values] =
          composed.append(ops::transpose(ops::rope(k, pos, 10000.0, c.layout, c.rotary), 1, 2), ops::transpose(v, 1, 2));
      EXPECT_TRUE(close_rel("q", r.q.to(Device::cpu()), q_ref.to(Device::cpu()), 0.0));
      EXPECT_TRUE(close_rel("keys", r.keys.to(Device::cpu()), keys.to(Device::cpu()), 0.0));
      EXPECT_TRUE(close_rel("values", r.values.to(Device::cpu()), values.to(Device::cpu()), 0.0));
      EXPECT_EQ(fused.length(), composed.length());
      past += T;
    }
  }
  // Switched off, the fused path declines and leaves the cache as it was.
  const bool was = ops::cuda_fused_rope_append();  // RSCAPRET_DISABLE may have set it off for the run
  ops::set_cuda_fused_rope_append(false);
  nn::LayerKVCache cache;
  const Tensor x = g.normal({1, 1, 2, 64}).to(gpu);
  nn::LayerKVCache::Rotated r;
  EXPECT_FALSE(cache.append_rotated(x, x, x, Tensor::from_vector(std::vector<int64_t>{0}, {1}), 10000.0,
                                    ops::RopeLayout::half_split, 64, &r));
  EXPECT_EQ(cache.length(), 0);
  ops::set_cuda_fused_rope_append(was);
}

// RMSNorm with a bf16 weight on the device (a bf16 model at inference) reads it in place: the bits
// of the same weight cast to f32 first.
TEST(CudaDecode, RmsNormReadsABf16WeightInPlace) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(33);
  const Device gpu = Device::cuda(0);
  for (const int64_t C : {int64_t(64), int64_t(4096), int64_t(5000)}) {
    SCOPED_TRACE("C " + std::to_string(C));
    const Tensor x = g.normal({3, C}).to(gpu);
    const Tensor w16 = g.normal({C}).to(DType::bf16).to(gpu);
    const Tensor in_place = ops::rms_norm(x, w16, 1e-6).to(Device::cpu());
    const Tensor cast_first = ops::rms_norm(x, w16.to(DType::f32), 1e-6).to(Device::cpu());
    EXPECT_TRUE(close_rel("bf16 weight in place vs cast first", in_place, cast_first, 0.0));
  }
}

// q, k and v of an attention layer in one launch at decode: the bits of three separate linears.
TEST(CudaDecode, DecodeLinearsEqualSeparateLinears) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(34);
  const Device gpu = Device::cuda(0);
  for (const int64_t rows : {int64_t(1), int64_t(3), int64_t(8)}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const Tensor x = g.normal({1, rows, 136}).to(gpu);
    const std::vector<Tensor> w = {g.normal({64, 136}, 0.0, 0.2).to(DType::bf16).to(gpu),
                                   g.normal({7, 136}, 0.0, 0.2).to(DType::bf16).to(gpu),
                                   g.normal({33, 136}, 0.0, 0.2).to(DType::bf16).to(gpu)};
    const Tensor all = ops::decode_linears(x, w);
    ASSERT_TRUE(all.defined());
    ASSERT_EQ(all.shape(), (Shape{1, rows, 104}));
    int64_t at = 0;
    for (const Tensor& wi : w) {
      const int64_t n = wi.shape()[0];
      EXPECT_TRUE(close_rel("segment of " + std::to_string(n), ops::narrow(all, 2, at, n).contiguous().to(Device::cpu()),
                            ops::linear(x, wi).to(Device::cpu()), 0.0));
      at += n;
    }
  }
  // Where the one-kernel path does not apply, the result is undefined (the caller runs linear).
  EXPECT_FALSE(ops::decode_linears(g.normal({9, 136}).to(gpu), {g.normal({8, 136}).to(DType::bf16).to(gpu)}).defined())
      << "9 rows";
  EXPECT_FALSE(ops::decode_linears(g.normal({1, 136}).to(gpu), {g.normal({8, 136}).to(gpu)}).defined())
      << "f32 weights";
}

// A 2-layer LLaMA with bf16 weights (so the decode kernels run), frozen, made from `seed` (the
// same seed gives the same weights) and moved to `dev`. hidden: 64, or wider with 128-wide heads
// (past 1024 the decode kernels apply the RMSNorms as they load).
std::shared_ptr<models::LlamaForCausalLM> tiny_llama(uint64_t seed, Device dev, int64_t hidden = 64) {
  models::LlamaConfig c;
  c.vocab_size = 64;
  c.hidden_size = hidden;
  c.intermediate_size = hidden == 64 ? 136 : hidden + 264;
  c.num_hidden_layers = 2;
  c.num_attention_heads = hidden == 64 ? 4 : hidden / 128;
  c.num_key_value_heads = c.num_attention_heads / 2;
  c.head_dim = hidden == 64 ? 16 : 128;
  Generator g(seed);
  auto m = std::make_shared<models::LlamaForCausalLM>(c, nn::Init{DType::f32, &g});
  m->freeze();
  m->eval();
  m->to(DType::bf16);
  if (dev.is_cuda()) m->to(dev);
  return m;
}

// A tiny LLaMA (bf16 weights, so the decode kernels run: the f32-activation GEMV, the gated MLP,
// the cache read in place) decodes greedily on the GPU: the tokens equal the CPU's, and the last
// step's logits equal a full forward of the whole sequence on the GPU.
TEST(CudaDecode, GreedyTokensAndLogitsMatch) {
  RS_REQUIRE_CUDA();
  auto cpu = tiny_llama(32, Device::cpu()), gpu = tiny_llama(32, Device::cuda(0));
  const models::LlamaConfig& c = gpu->config();
  const Tensor prompt = Tensor::from_vector(std::vector<int64_t>{1, 5, 9, 13}, {1, 4});
  models::GenerateOptions opt;
  opt.max_new_tokens = 20;  // the cache grows past its first capacity (16)
  models::LlamaDecoder dec_cpu(*cpu), dec_gpu(*gpu);
  const models::GenerateResult want = models::generate(dec_cpu, prompt, opt);
  const models::GenerateResult got = models::generate(dec_gpu, prompt, opt);
  // bf16 weights on both; the GPU rounds activations to bf16 before each product (autocast
  // style), so a near-tie could flip a token: with these seeds none does.
  EXPECT_EQ(got.tokens, want.tokens);

  // The last decode step's logits against one forward of prompt + generated tokens.
  autograd::NoGradGuard no_grad;
  std::vector<int64_t> seq = {1, 5, 9, 13};
  seq.insert(seq.end(), got.tokens.at(0).begin(), got.tokens.at(0).end());
  seq.pop_back();  // the last token was produced by the last step, not fed to it
  models::LlamaDecoder dec(*gpu);
  Tensor last;
  last = dec.step(Tensor::from_vector(std::vector<int64_t>(seq.begin(), seq.begin() + 4), {1, 4}));
  for (size_t i = 4; i < seq.size(); ++i) last = dec.step(Tensor::from_vector(std::vector<int64_t>{seq[i]}, {1, 1}));
  models::LlamaInput in;
  in.input_ids = Tensor::from_vector(seq, {1, int64_t(seq.size())});
  const Tensor full = gpu->forward(in).logits;  // [1, T, V]
  const Tensor full_last = ops::narrow(full, 1, int64_t(seq.size()) - 1, 1).reshape({1, c.vocab_size});
  // Prefill rows go through the tiled GEMMs, decode rows through the GEMV: same bf16 products,
  // different summation order.
  EXPECT_TRUE(close_rel("decode step vs full forward", last.to(Device::cpu()), full_last.to(Device::cpu()), 1e-4));
}

// Batched decoding on the GPU: three prompts of different lengths (left padding, so the attention
// takes a key mask) decode together through the fused paths with several rows (q, k, v of three
// rows in one kernel, the cache read in place); the tokens equal the CPU's.
TEST(CudaDecode, BatchedGreedyTokensMatchTheCpu) {
  RS_REQUIRE_CUDA();
  auto cpu = tiny_llama(35, Device::cpu()), gpu = tiny_llama(35, Device::cuda(0));
  const std::vector<std::vector<int64_t>> prompts = {{1, 5, 9, 13, 17}, {1, 7}, {1, 3, 11}};
  models::GenerateOptions opt;
  opt.max_new_tokens = 12;
  const models::GenerateResult want = models::generate_batch(*cpu, prompts, opt);
  const models::GenerateResult got = models::generate_batch(*gpu, prompts, opt);
  EXPECT_EQ(got.tokens, want.tokens);
}

// The logits (on the CPU) of a 3-token prompt step, then of `steps` one-token steps with fixed
// tokens, through a KV cache: what the decode paths' on/off tests compare.
std::vector<Tensor> decode_step_logits(const models::LlamaForCausalLM& m, int64_t steps) {
  models::LlamaDecoder dec(m);
  std::vector<Tensor> out = {dec.step(Tensor::from_vector(std::vector<int64_t>{1, 5, 9}, {1, 3})).to(Device::cpu())};
  for (int64_t t = 0; t < steps; ++t)
    out.push_back(dec.step(Tensor::from_vector(std::vector<int64_t>{(7 * t + 2) % 64}, {1, 1})).to(Device::cpu()));
  return out;
}

// Programmatic dependent launches (kernels::cuda::set_cuda_dependent_launch) change when kernels
// start, never what they compute: a chain where each kernel reads its predecessor's output at
// decode width (RMSNorm -> GEMV with the residual in its epilogue, 24 times, so a kernel reading
// before its wait would see a stale or unwritten buffer), and a tiny LLaMA's decode logits, have
// the same bits with them on and off. On a Hopper card the launches must really be dependent ones.
// Added in the thirteenth session without a GPU.
TEST(CudaDecode, DependentLaunchesKeepTheBits) {
  RS_REQUIRE_CUDA();
  namespace kc = kernels::cuda;
  autograd::NoGradGuard no_grad;
  Generator g(38);
  const Device gpu = Device::cuda(0);
  const int64_t C = 4096;
  const Tensor x0 = g.normal({1, 1, C}).to(gpu);
  const Tensor norm_w = g.normal({C}, 1.0, 0.1).to(DType::bf16).to(gpu);
  const Tensor w = g.normal({C, C}, 0.0, 0.5 / 64.0).to(DType::bf16).to(gpu);
  auto chain = [&] {
    Tensor x = x0;
    for (int i = 0; i < 24; ++i) x = ops::linear_add(ops::rms_norm(x, norm_w, 1e-5), w, Tensor(), x);  // [1, 1, C]
    return x.to(Device::cpu());
  };
  auto decode_logits = [&] { return decode_step_logits(*tiny_llama(39, gpu), 12); };
  const bool was = kc::cuda_dependent_launch();  // RSCAPRET_DISABLE may have set it off for the run
  kc::set_cuda_dependent_launch(true);
  if (kc::cuda_device_is_sm90(0)) {
    EXPECT_TRUE(kc::cuda_dependent_launch_active(0)) << "cc 9.0 takes them";
  }
  const Tensor chain_on = chain();
  const std::vector<Tensor> logits_on = decode_logits();
  kc::set_cuda_dependent_launch(false);
  EXPECT_FALSE(kc::cuda_dependent_launch_active(0));
  const Tensor chain_off = chain();
  const std::vector<Tensor> logits_off = decode_logits();
  kc::set_cuda_dependent_launch(was);
  EXPECT_TRUE(close_rel("norm -> GEMV chain", chain_on, chain_off, 0.0));
  ASSERT_EQ(logits_on.size(), logits_off.size());
  for (size_t i = 0; i < logits_on.size(); ++i)
    EXPECT_TRUE(close_rel("decode step " + std::to_string(i), logits_on[i], logits_off[i], 0.0));
}

// The RMSNorm applied by the q|k|v and gate/up kernels as they load x (ops::InputRmsNorm, taken at
// decode for widths past 1024): the bits of rms_norm's output fed to the same kernels, for f32 and
// bf16 norm weights, 1 to 8 rows and rows of very different scales; below that width, or switched
// off, decode_linears declines and gated_linear composes. A LLaMA whose width takes it decodes the
// same logits with it on and off. Added in the sixteenth session without a GPU.
TEST(CudaDecode, NormInGemvHasTheBitsOfTheComposedOps) {
  RS_REQUIRE_CUDA();
  namespace kc = kernels::cuda;
  autograd::NoGradGuard no_grad;
  Generator g(41);
  const Device gpu = Device::cuda(0);
  const bool was = kc::cuda_norm_in_gemv();  // RSCAPRET_DISABLE may have set it off for the run
  kc::set_cuda_norm_in_gemv(true);
  for (const int64_t C : {int64_t(1032), int64_t(4096)})
    for (const int64_t rows : {int64_t(1), int64_t(3), int64_t(8)})
      for (const DType ndt : {DType::bf16, DType::f32}) {
        SCOPED_TRACE("C " + std::to_string(C) + ", rows " + std::to_string(rows) + ", " + std::string(dtype_name(ndt)));
        Tensor x = g.normal({1, rows, C});
        float* px = x.data<float>();  // rows scaled by 0.1, 1 and 10 in turn
        for (int64_t i = 0; i < rows * C; ++i) px[i] *= float(std::pow(10.0, double((i / C) % 3) - 1.0));
        x = x.to(gpu);
        const ops::InputRmsNorm norm{g.normal({C}, 1.0, 0.1).to(ndt).to(gpu), 1e-5};
        const std::vector<Tensor> w = {g.normal({128, C}, 0.0, 0.05).to(DType::bf16).to(gpu),
                                       g.normal({64, C}, 0.0, 0.05).to(DType::bf16).to(gpu),
                                       g.normal({64, C}, 0.0, 0.05).to(DType::bf16).to(gpu)};
        const Tensor xn = ops::rms_norm(x, norm.weight, norm.eps);
        const int64_t launches = kc::gemv_rms_norm_launches();
        const Tensor fused = ops::decode_linears(x, w, &norm), composed = ops::decode_linears(xn, w);
        ASSERT_TRUE(fused.defined() && composed.defined());
        EXPECT_TRUE(close_rel("q|k|v", fused.to(Device::cpu()), composed.to(Device::cpu()), 0.0));
        EXPECT_TRUE(close_rel("gate/up", ops::gated_linear(x, w[1], w[2], ops::Activation::silu, &norm).to(Device::cpu()),
                              ops::gated_linear(xn, w[1], w[2], ops::Activation::silu).to(Device::cpu()), 0.0));
        EXPECT_EQ(kc::gemv_rms_norm_launches(), launches + 2) << "q|k|v and gate/up each applied the norm";
      }
  // rstd alone, bit for bit (through the products a one-ulp change mostly hides behind the bf16
  // rounding of A): the GEMVs' reduction against rms_norm's own rstd output, rows of scales 1e-3
  // to 1e3.
  for (const int64_t C : {int64_t(1032), int64_t(4096), int64_t(5000)}) {
    const int64_t rows = 70;
    Tensor x = g.normal({rows, C});
    float* px = x.data<float>();
    for (int64_t i = 0; i < rows * C; ++i) px[i] *= float(std::pow(10.0, double((i / C) % 7) - 3.0));
    x = x.to(gpu);
    const Tensor w = Tensor::full({C}, 1.0).to(gpu), y = Tensor::empty({rows, C}, DType::f32, gpu);
    const Tensor want = Tensor::empty({rows}, DType::f32, gpu), got = Tensor::empty({rows}, DType::f32, gpu);
    kc::rms_norm(x.data<float>(), w.data<float>(), y.data<float>(), want.data<float>(), rows, C, 1e-5f, 0);
    kc::rms_norm_rstd_as_gemv(x.data<float>(), got.data<float>(), rows, C, 1e-5f, 0);
    EXPECT_TRUE(close_rel("rstd at " + std::to_string(C), got.to(Device::cpu()), want.to(Device::cpu()), 0.0));
  }
  // Declines: a width the norm kernel gives to a warp, and the switch off.
  EXPECT_TRUE(kc::gemv_takes_rms_norm(1032));
  EXPECT_FALSE(kc::gemv_takes_rms_norm(1024));
  const Tensor x = g.normal({1, 1, 1024}).to(gpu);
  const ops::InputRmsNorm narrow{g.normal({1024}).to(DType::bf16).to(gpu), 1e-5};
  const std::vector<Tensor> w = {g.normal({16, 1024}).to(DType::bf16).to(gpu)};
  EXPECT_FALSE(ops::decode_linears(x, w, &narrow).defined());
  EXPECT_TRUE(close_rel("gate/up composed at 1024",
                        ops::gated_linear(x, w[0], w[0], ops::Activation::silu, &narrow).to(Device::cpu()),
                        ops::gated_linear(ops::rms_norm(x, narrow.weight, 1e-5), w[0], w[0], ops::Activation::silu)
                            .to(Device::cpu()),
                        0.0));
  auto decode_logits = [&] { return decode_step_logits(*tiny_llama(42, gpu, 1280), 6); };
  int64_t launches = kc::gemv_rms_norm_launches();
  const std::vector<Tensor> logits_on = decode_logits();
  EXPECT_EQ(kc::gemv_rms_norm_launches() - launches, 7 * 2 * 2) << "both norms of both layers at each of the 7 steps";
  kc::set_cuda_norm_in_gemv(false);
  EXPECT_FALSE(kc::gemv_takes_rms_norm(4096));
  const Tensor x4k = g.normal({1, 1, 4096}).to(gpu);
  const ops::InputRmsNorm wide{g.normal({4096}).to(DType::bf16).to(gpu), 1e-5};
  EXPECT_FALSE(ops::decode_linears(x4k, {g.normal({16, 4096}).to(DType::bf16).to(gpu)}, &wide).defined()) << "off";
  launches = kc::gemv_rms_norm_launches();
  const std::vector<Tensor> logits_off = decode_logits();
  EXPECT_EQ(kc::gemv_rms_norm_launches(), launches) << "switched off";
  kc::set_cuda_norm_in_gemv(was);
  ASSERT_EQ(logits_on.size(), logits_off.size());
  for (size_t i = 0; i < logits_on.size(); ++i)
    EXPECT_TRUE(close_rel("decode step " + std::to_string(i), logits_on[i], logits_off[i], 0.0));
}

}  // namespace
}  // namespace rscapret::testing
