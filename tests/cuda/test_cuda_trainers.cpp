// The pretraining stages on the GPU (`train lm --device cuda`, `train clip --device cuda`): the same
// steps from the same initial weights on both devices give the same losses, gradient norms and
// weights, within f32 summation-order differences. The models are f32, so the GPU's GEMMs are
// exact f32 (no bf16 rounding, no TF32).
#include "tests/cuda/cuda_test_util.h"
#include "tests/models/model_test_util.h"
#include "tests/pretrain/pretrain_test_util.h"
#include "train/clip/clip_trainer.h"
#include "train/lm/lm_trainer.h"

namespace rscapret::testing {
namespace {

// Adam divides by sqrt(v) + eps: with the default 1e-8 a gradient element near zero (rounding
// noise, different on each device) becomes a full lr-sized step in a random direction. 1e-3 keeps
// the comparison about the gradients (a CPU run against its own reference kernels measured the
// weights 1.2e-4 apart with 1e-8 and 1e-7 apart with 1e-3).
constexpr double kAdamEps = 1e-3;

struct Run {
  std::vector<double> losses, grad_norms;
  nn::StateDict weights;  // host copies after the steps
};

nn::StateDict host_state(const nn::Module& m) {
  nn::StateDict out;
  for (const auto& [name, t] : m.state_dict()) out[name] = t.to(Device::cpu());
  return out;
}

// Three training steps of `trainer`, then `model`'s weights on the host.
template <typename Trainer>
Run three_steps(Trainer& trainer, const nn::Module& model) {
  Run r;
  for (int i = 0; i < 3; ++i) {
    const auto s = trainer.train_step();
    r.losses.push_back(s.loss);
    r.grad_norms.push_back(s.grad_norm);
  }
  r.weights = host_state(model);
  return r;
}

void expect_runs_match(const Run& cpu, const Run& gpu, double loss_tol, double weight_tol) {
  ASSERT_EQ(cpu.losses.size(), gpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], loss_tol * std::abs(cpu.losses[i])) << "step " << i;
    // The device sums squares in f32, the host in double.
    EXPECT_NEAR(gpu.grad_norms[i], cpu.grad_norms[i], 1e-4 * cpu.grad_norms[i]) << "step " << i;
  }
  ASSERT_EQ(cpu.weights.size(), gpu.weights.size());
  for (const auto& [name, w] : cpu.weights) {
    // The key bias's exact gradient is zero (softmax ignores a shift shared by every key), so
    // these weights hold only rounding noise, different on each device: an absolute bound.
    const bool zero_gradient = name.size() >= 11 && name.compare(name.size() - 11, 11, "k_proj.bias") == 0;
    if (zero_gradient) EXPECT_TRUE(close_abs(name, gpu.weights.at(name), w, 1e-6)) << name;
    else EXPECT_TRUE(close_rel(name, gpu.weights.at(name), w, weight_tol)) << name;
  }
}

Run lm_steps(Device device) {
  const auto dir = temp_dir(std::string("cuda_train_lm_") + (device.is_cuda() ? "gpu" : "cpu"));
  const auto tok = tokenizers::LlamaTokenizer::load(write_tiny_tokenizer(dir));
  train::LmModelOptions mo;
  mo.hidden = 32;
  mo.layers = 2;
  mo.heads = 2;
  Generator gen(5);
  nn::Init init;
  init.gen = &gen;
  models::LlamaForCausalLM model(train::make_llama_config(mo, tok), init);
  train::hf_init_llama(model, gen);
  model.to(device);
  train::LmTrainOptions o;
  o.steps = 3;
  o.batch = 4;
  o.adamw.lr = 3e-3;
  o.adamw.eps = kAdamEps;
  o.warmup_steps = 1;
  o.progress = false;
  train::LmTrainer trainer(model, train::tokenize_captions_lm(tok, tiny_captions(), 32), o);
  return three_steps(trainer, model);
}

Run clip_steps(Device device) {
  const auto dir = temp_dir(std::string("cuda_train_clip_") + (device.is_cuda() ? "gpu" : "cpu"));
  const auto tok = tokenizers::ClipTokenizer::load(write_tiny_clip_tokenizer(dir));
  Generator gen(6);
  nn::Init init;
  init.gen = &gen;
  models::ClipModel model(train::make_clip_config(tiny_clip_options(), tok), init);
  train::hf_init_clip(model, gen);
  model.to(device);
  train::ClipTrainOptions o;
  o.steps = 3;
  o.batch = 4;
  o.adamw.lr = 2e-3;
  o.adamw.eps = kAdamEps;
  o.warmup_steps = 1;
  o.progress = false;
  train::ClipTrainer trainer(model, tok, synth_pairs(6, 16), o);  // host images: moved per batch
  return three_steps(trainer, model);
}

// After three AdamW steps of 2-3e-3 (Adam moves every element by about lr a step), f32 gradients
// that differ by 1e-6 relative move the weights far less than 1e-4 of their size; a wrong gradient
// or update moves them by about lr and fails.
TEST(CudaTrainers, LmStepsMatchTheCpu) {
  RS_REQUIRE_CUDA();
  expect_runs_match(lm_steps(Device::cpu()), lm_steps(Device::cuda(0)), 1e-5, 1e-4);
}

TEST(CudaTrainers, ClipStepsMatchTheCpu) {
  RS_REQUIRE_CUDA();
  expect_runs_match(clip_steps(Device::cpu()), clip_steps(Device::cuda(0)), 1e-5, 1e-4);
}

}  // namespace
}  // namespace rscapret::testing
