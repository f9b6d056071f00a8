// Deterministic mode and bit-exact resume: a training step (forward, backward, clipping, AdamW
// with a schedule) run twice from the same start gives the same parameter bits, and a run saved
// and resumed midway ends exactly where an uninterrupted run ends.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <filesystem>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/linear.h"
#include "nn/losses.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"
#include "tensor/safetensors.h"

namespace rscapret::nn {
namespace {

struct Net : Module {
  Net() : Module("Net") {
    Generator g(11);
    fc1 = register_module("fc1", std::make_shared<Linear>(16, 32, true, Init{DType::f32, &g}));
    fc2 = register_module("fc2", std::make_shared<Linear>(32, 8, true, Init{DType::f32, &g}));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(ops::silu(fc1->forward(x))); }
  std::shared_ptr<Linear> fc1, fc2;
};

struct TrainRun {
  Net net;
  AdamW opt;
  Schedule schedule;
  TrainRun() : opt({ParamGroup{net.named_parameters(), AdamWOptions{3e-3, 0.9, 0.95, 1e-8, 0.01}}}) {
    schedule.kind = Schedule::Kind::cosine;
    schedule.warmup_steps = 2;
    schedule.total_steps = 6;
  }
  void step(int64_t i) {
    Generator data(1000 + uint64_t(i));  // batch i is a function of i only
    const Tensor x = data.normal({64, 16});
    const Tensor y = data.randint({64}, 8);
    autograd::backward(ops::cross_entropy(net.forward(x), y));
    clip_grad_norm(net.parameters(), 1.0);
    opt.step(schedule.factor(opt.steps_taken()));
    opt.zero_grad();
  }
  uint64_t hash() const {
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (const auto& [name, p] : net.named_parameters())
      XXH3_64bits_update(st, p.raw_data(), size_t(p.numel()) * p.element_size());
    const uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
  }
};

TEST(TrainingStep, TwoRunsGiveBitIdenticalParameters) {
  TrainRun a, b;
  EXPECT_EQ(a.hash(), b.hash());
  for (int64_t i = 0; i < 3; ++i) a.step(i), b.step(i);
  EXPECT_EQ(a.hash(), b.hash());
  TrainRun c;
  c.step(0);
  EXPECT_NE(c.hash(), a.hash());  // the hash does see training
}

TEST(TrainingStep, ResumeFromCheckpointContinuesBitForBit) {
  TrainRun straight;
  for (int64_t i = 0; i < 6; ++i) straight.step(i);

  const auto dir = std::filesystem::temp_directory_path();
  const auto weights = dir / "rscapret_resume_weights.safetensors", state = dir / "rscapret_resume_adamw.safetensors";
  {
    TrainRun first;
    for (int64_t i = 0; i < 2; ++i) first.step(i);
    save_safetensors(weights, first.net.named_parameters());
    first.opt.save(state.string());
  }
  TrainRun resumed;
  resumed.net.load_state_dict(load_safetensors(weights));
  resumed.opt.load(state.string());
  for (int64_t i = 2; i < 6; ++i) resumed.step(i);
  EXPECT_EQ(resumed.hash(), straight.hash());
  std::filesystem::remove(weights);
  std::filesystem::remove(state);
}

}  // namespace
}  // namespace rscapret::nn
