// Prompts of different lengths in one batch (left padding, per-row positions) give exactly what each
// prompt gives alone; and a GQA model equals the MHA model with its key/value heads repeated.
#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/checkpoint/forward_dump.h"
#include "models/llama/llama.h"
#include "tensor/safetensors.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

using namespace rscapret;
using namespace rscapret::models;

namespace {

LlamaConfig tiny_config(int64_t kv_heads) {
  LlamaConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  return c;
}

std::shared_ptr<LlamaForCausalLM> random_llama(int64_t kv_heads, uint64_t seed) {
  Generator g(seed);
  nn::Init init;
  init.gen = &g;
  auto m = std::make_shared<LlamaForCausalLM>(tiny_config(kv_heads), init);
  // Larger weights than the 0.02 init so that logits differ clearly between tokens.
  for (auto& [name, p] : m->named_parameters())
    if (p.dim() == 2) p.copy_from(g.normal(p.shape(), 0, 0.3));
  m->freeze();
  return m;
}

const std::vector<std::vector<int64_t>> kPrompts = {{1, 5, 9}, {1, 7, 3, 3, 12, 40, 2}, {1, 33, 8, 17, 6}};

TEST(BatchedPrompts, FirstLogitsEqualEachPromptAlone) {
  autograd::NoGradGuard ng;
  const auto m = random_llama(4, 1);
  std::vector<int64_t> ids, pads;
  const size_t T = 7;
  for (const auto& p : kPrompts) {
    pads.push_back(int64_t(T - p.size()));
    for (size_t i = 0; i < T - p.size(); ++i) ids.push_back(0);
    ids.insert(ids.end(), p.begin(), p.end());
  }
  LlamaDecoder batched(*m);
  batched.set_left_padding(pads);
  const Tensor lb = batched.step(Tensor::from_vector(ids, {3, int64_t(T)}));  // [3, V]
  for (size_t b = 0; b < kPrompts.size(); ++b) {
    LlamaDecoder alone(*m);
    const Tensor la = alone.step(Tensor::from_vector(kPrompts[b], {1, int64_t(kPrompts[b].size())}));  // [1, V]
    const auto x = lb.select(0, int64_t(b)).to_vector<float>(), y = la.select(0, 0).to_vector<float>();
    for (size_t v = 0; v < x.size(); ++v) ASSERT_NEAR(x[v], y[v], 1e-4 * (1 + std::abs(y[v]))) << "row " << b << " v " << v;
  }
}

TEST(BatchedPrompts, GreedyAndBeamEqualEachPromptAlone) {
  const auto m = random_llama(2, 2);  // GQA on the way
  for (const auto strategy : {DecodeStrategy::greedy, DecodeStrategy::beam}) {
    GenerateOptions opt;
    opt.strategy = strategy;
    opt.num_beams = 3;
    opt.max_new_tokens = 10;
    const GenerateResult batched = generate_batch(*m, kPrompts, opt);
    ASSERT_EQ(batched.tokens.size(), kPrompts.size());
    for (size_t b = 0; b < kPrompts.size(); ++b) {
      const GenerateResult alone = generate_batch(*m, {kPrompts[b]}, opt);
      EXPECT_EQ(batched.tokens[b], alone.tokens[0]) << "row " << b << (strategy == DecodeStrategy::beam ? " beam" : " greedy");
    }
  }
}

TEST(BatchedPrompts, BadInputIsRejected) {
  const auto m = random_llama(4, 3);
  EXPECT_THROW(generate_batch(*m, {}, {}), ValueError);
  EXPECT_THROW(generate_batch(*m, {{1, 2}, {}}, {}), ValueError);
  LlamaDecoder d(*m);
  d.step(Tensor::from_vector<int64_t>({1, 2}, {1, 2}));
  EXPECT_THROW(d.set_left_padding({1}), ValueError);  // after the first step
}

TEST(Gqa, EqualsMhaWithRepeatedKeyValueHeads) {
  autograd::NoGradGuard ng;
  const auto gqa = random_llama(2, 4);  // 4 query heads share 2 kv heads
  auto mha = std::make_shared<LlamaForCausalLM>(tiny_config(4), nn::Init{});
  auto src = gqa->state_dict();
  nn::StateDict dst;
  for (const auto& [name, t] : src) {
    const bool kv = name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos;
    if (!kv) {
      dst[name] = t;
      continue;
    }
    // [Hkv * D, C] -> [H * D, C]: head h of the MHA model is kv head h / 2.
    std::vector<Tensor> heads;
    for (int64_t h = 0; h < 4; ++h) heads.push_back(t.narrow(0, (h / 2) * 8, 8));
    dst[name] = ops::concat(heads, 0);
  }
  mha->load_state_dict(dst);
  const Tensor ids = Tensor::from_vector<int64_t>({1, 4, 9, 16, 25, 36}, {1, 6});
  LlamaInput in;
  in.input_ids = ids;
  const auto a = gqa->forward(in).logits.to_vector<float>(), b = mha->forward(in).logits.to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(b[i]))) << i;

  // The same GQA model as a bf16 Hugging Face folder through the parity tool (`rscapret forward`):
  // its logits are the MHA model's on the bf16-rounded weights.
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("rscapret_gqa_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, t] : src) tensors.emplace_back(name, t.to(DType::bf16));
  save_safetensors(dir / "model.safetensors", tensors);
  const LlamaConfig c = tiny_config(2);
  std::ofstream(dir / "config.json") << nlohmann::json{
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads}, {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings}, {"torch_dtype", "bfloat16"}}.dump();
  const auto out = run_forward(dir, {{"input_ids", ids}});
  fs::remove_all(dir);
  nn::StateDict rounded;
  for (const auto& [name, t] : dst) rounded[name] = t.to(DType::bf16).to(DType::f32);
  mha->load_state_dict(rounded);
  const auto want = mha->forward(in).logits.to_vector<float>(), got = out.at("logits").to_vector<float>();
  ASSERT_EQ(want.size(), got.size());
  // Same bf16 weights on both sides; bf16 is widened exactly, so only f32 summation order differs.
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
}

}  // namespace
