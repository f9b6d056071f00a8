// Whole models on CUDA: the Hugging Face parity dumps (fixtures/hf/*) through `rscapret forward`'s
// path with the model on the GPU, and a LLaMA training step (forward, backward, AdamW) on the GPU
// against the same step on the CPU.
#include <set>

#include "autograd/autograd.h"
#include "models/checkpoint/forward_dump.h"
#include "models/llama/llama.h"
#include "nn/optim/adamw.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"
#include "tests/common/shared_dir.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/models/model_test_util.h"

namespace rscapret::testing {
namespace {

const std::set<std::string> kInputs = {"pixel_values", "input_ids", "attention_mask", "inputs_embeds", "labels",
                                       "greedy_prompt"};

// The same bound as the CPU parity test (tests/models/test_forward.cpp): the reference is f64 on the
// f32 weights, ours f32 with different summation orders on the GPU; 1e-4 of each tensor's
// magnitude catches any layout or formula mistake (those show at 1e-2 and above).
void check_dump_on_cuda(const std::string& dir) {
  const auto expected = load_safetensors(shared_path(dir + "/expected.safetensors"));
  std::map<std::string, Tensor> inputs;
  for (const auto& [name, t] : expected)
    if (kInputs.count(name)) inputs[name] = t;
  models::ForwardOptions opt;
  opt.device = Device::cuda(0);
  const auto got = models::run_forward(shared_path(dir), inputs, opt);
  int compared = 0;
  for (const auto& [name, want] : expected) {
    if (kInputs.count(name)) continue;
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << "no output " << name;
    if (want.dtype() == DType::i64)
      EXPECT_EQ(it->second.to_vector<int64_t>(), want.to_vector<int64_t>()) << name;
    else
      EXPECT_TRUE(close_rel(name, it->second, want, 1e-4));
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(CudaModels, ClipTinyMatchesTransformers) {
  RS_REQUIRE_CUDA();
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/expected.safetensors");
  check_dump_on_cuda("fixtures/hf/clip_tiny");
}

TEST(CudaModels, LlamaTinyMatchesTransformers) {
  RS_REQUIRE_CUDA();
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/expected.safetensors");
  check_dump_on_cuda("fixtures/hf/llama_tiny");
}

struct StepResult {
  std::vector<double> losses;
  std::map<std::string, Tensor> params;  // on the host, after the steps
};

// Two AdamW steps of next-token loss on a fixed batch, with weight decay (every term of the update).
StepResult train_steps(Device device, const Tensor& ids) {
  auto m = models::LlamaForCausalLM::from_pretrained(shared_path("fixtures/hf/llama_tiny"));
  m->to(device);
  m->set_requires_grad(true);  // owns copies of the mapped weights
  nn::ParamGroup group{m->named_parameters(), {}};
  group.options.lr = 1e-3;
  group.options.weight_decay = 0.1;
  nn::AdamW opt({group});
  StepResult r;
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    models::LlamaInput x;
    x.input_ids = ids;
    const Tensor loss = models::causal_lm_loss(m->forward(x).logits, ids);
    r.losses.push_back(loss.item());
    autograd::backward(loss);
    opt.step();
  }
  for (const auto& [name, p] : m->named_parameters()) r.params[name] = p.to(Device::cpu()).clone();
  return r;
}

TEST(CudaModels, LlamaTrainingStepMatchesTheCpu) {
  RS_REQUIRE_CUDA();
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/config.json");
  Generator g(5);
  const Tensor ids = g.randint({2, 12}, 200);
  const StepResult cpu = train_steps(Device::cpu(), ids), gpu = train_steps(Device::cuda(0), ids);
  ASSERT_EQ(cpu.losses.size(), gpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i) EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 1e-5 * std::abs(cpu.losses[i]));
  ASSERT_EQ(cpu.params.size(), gpu.params.size());
  ASSERT_FALSE(cpu.params.empty());
  // The steps must have moved every parameter (else the comparison below proves nothing).
  auto initial = models::LlamaForCausalLM::from_pretrained(shared_path("fixtures/hf/llama_tiny"));
  for (const auto& [name, p] : initial->named_parameters())
    EXPECT_FALSE(close_rel(name + " (moved?)", cpu.params.at(name), p, 1e-4)) << name << " did not move";
  // After two updates of 1e-3 each (Adam's first steps move every element by about lr), f32
  // gradients that differ by 1e-6 relative move the parameters by far less than 1e-4 of their
  // size; a wrong gradient or update moves them by about 1e-3 and fails.
  for (const auto& [name, p] : cpu.params)
    EXPECT_TRUE(close_rel(name, gpu.params.at(name), p, 1e-4)) << name;
}

}  // namespace
}  // namespace rscapret::testing
