// RS-CapRet on CUDA: the bridge trained for a few steps on the GPU against the same steps on the
// CPU (all three losses, caption concatenation, gradient clipping, AdamW, the [RET] renormalisation),
// then captioning and retrieval embeddings from the trained bridge on both devices.
#include <filesystem>

#include "tests/cuda/cuda_test_util.h"
#include "tests/models/model_test_util.h"
#include "tests/rscapret/rscapret_test_util.h"
#include "train/bridge/trainer.h"

namespace rscapret::testing {
namespace {

struct BridgeRun {
  std::vector<double> losses;
  std::map<std::string, Tensor> params;  // host copies after training
  std::vector<std::string> captions;
  Tensor image_embeds;                   // host [B, Q]
};

BridgeRun run_bridge(Device device) {
  const auto tmp = temp_dir(std::string("cuda_bridge_") + (device.is_cuda() ? "gpu" : "cpu"));
  models::RsCapRetSpec spec = tiny_spec(tmp);
  spec.options.concat_captions_prob = 0.5;
  spec.options.num_visual_tokens = 2;
  Generator gen(3);
  nn::Init init;
  init.gen = &gen;
  models::RsCapRetBundle bundle = models::load_rscapret(spec, init);
  bundle.model->to(device);
  train::BridgeTrainOptions o;
  o.steps = 4;
  o.warmup_steps = 1;
  o.adamw.lr = 1e-3;
  o.progress = false;
  train::BridgeTrainer trainer(bundle, o);
  train::InMemoryPairs pairs;
  pairs.pixels = random_pixels(4, 21);
  pairs.captions.assign(tiny_captions().begin(), tiny_captions().begin() + 4);
  const train::BridgeBatchFn batches = train::shuffled_batches(pairs, 4, 1, 1);
  BridgeRun r;
  for (int s = 0; s < 4; ++s) r.losses.push_back(trainer.train_step(batches).loss);
  for (const auto& [name, p] : bundle.model->named_parameters())
    if (p.requires_grad()) r.params[name] = p.to(Device::cpu()).clone();
  const Tensor pooled = bundle.model->encode_images(pairs.pixels);
  EXPECT_EQ(pooled.device(), device);
  models::GenerateOptions g;
  g.max_new_tokens = 6;
  r.captions = bundle.model->caption(pooled, *bundle.tokenizer, g);
  r.image_embeds = bundle.model->image_embeddings(pooled).to(Device::cpu());
  std::filesystem::remove_all(tmp);
  return r;
}

TEST(CudaRsCapRet, BridgeTrainingAndInferenceMatchTheCpu) {
  RS_REQUIRE_CUDA();
  RSCAPRET_REQUIRE_TINY();
  const BridgeRun cpu = run_bridge(Device::cpu()), gpu = run_bridge(Device::cuda(0));
  // f32 on both sides, different summation orders: losses agree to a few 1e-7 relative per step;
  // 1e-5 leaves room for four steps of AdamW amplifying them.
  ASSERT_EQ(cpu.losses.size(), gpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 1e-5 * std::abs(cpu.losses[i])) << "step " << i;
  ASSERT_FALSE(cpu.params.empty());
  for (const auto& [name, p] : cpu.params) EXPECT_TRUE(close_rel(name, gpu.params.at(name), p, 1e-4)) << name;
  EXPECT_TRUE(close_rel("image_embeds", gpu.image_embeds, cpu.image_embeds, 1e-4));
  // Greedy decoding of the same model: the same tokens unless two logits tie within ~1e-6.
  EXPECT_EQ(gpu.captions, cpu.captions);
}

}  // namespace
}  // namespace rscapret::testing
