// The bridge trainer on the tiny backbones: deterministic batches, overfitting a handful of
// (random image, caption) pairs, and bit-exact resume from a checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "tensor/safetensors.h"
#include "tests/rscapret/rscapret_test_util.h"
#include "train/bridge/trainer.h"

namespace rscapret::train {
namespace {

using models::RsCapRetBundle;

class BridgeTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    RSCAPRET_REQUIRE_TINY();
    tmp_ = testing::temp_dir("train");
  }
  void TearDown() override {
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_);
  }
  RsCapRetBundle load(uint64_t seed = 3, double concat_prob = 0.5, int64_t k = 1) {
    models::RsCapRetSpec spec = testing::tiny_spec(tmp_);
    spec.options.concat_captions_prob = concat_prob;
    spec.options.num_visual_tokens = k;
    Generator gen(seed);
    nn::Init init;
    init.gen = &gen;
    return models::load_rscapret(spec, init);
  }
  InMemoryPairs pairs(int64_t n) {
    InMemoryPairs p;
    p.pixels = testing::random_pixels(n, 21);
    p.captions.assign(testing::tiny_captions().begin(), testing::tiny_captions().begin() + n);
    return p;
  }
  std::filesystem::path tmp_;
};

TEST_F(BridgeTrain, ShuffledBatchesAreAPureFunctionOfStepAndCoverEachEpoch) {
  const BridgeBatchFn f = shuffled_batches(pairs(6), 3, 2, 5);
  std::multiset<std::string> epoch0;
  for (int64_t m = 0; m < 2; ++m)
    for (const auto& c : f(0, m).captions) epoch0.insert(c);
  EXPECT_EQ(epoch0, std::multiset<std::string>(testing::tiny_captions().begin(), testing::tiny_captions().end()));
  EXPECT_EQ(f(3, 1).captions, f(3, 1).captions);
  EXPECT_EQ(f(3, 1).pixels.to_vector<float>(), f(3, 1).pixels.to_vector<float>());
}

// A handful of pairs: the caption loss falls and every caption retrieves its own image.
TEST_F(BridgeTrain, OverfitsAHandfulOfPairs) {
  RsCapRetBundle b = load(3, /*concat_prob=*/0.0, /*k=*/4);
  {
    // llama_tiny is random with N(0, 0.02) weights: its logits span about +-1, so no input can make
    // it confident (the caption loss cannot fall below ~4.5 nats). Sharpen its frozen head so that
    // a memorised caption is expressible; the backbone stays frozen.
    const double sharpen = 30.0;
    Tensor& w = b.model->llm().lm_head->weight;
    w = ops::mul(w, sharpen).contiguous();
  }
  BridgeTrainOptions o;
  o.steps = 300;
  o.warmup_steps = 10;
  o.adamw.lr = 1e-2;  // tiny model, 4 pairs: a large step converges in a few hundred steps
  o.progress = false;
  o.bleu_images = 4;
  o.out_dir = tmp_ / "run";
  BridgeTrainer tr(b, o);
  const InMemoryPairs data = pairs(4);
  const BridgeBatchFn f = shuffled_batches(data, 4, 1, 1);
  const StepStats first = tr.train_step(f);
  ValidationSet val;
  val.pixels = data.pixels;
  for (const auto& c : data.captions) val.references.push_back({c});
  const auto v = tr.fit(f, &val);
  ASSERT_TRUE(v.has_value());
  const std::string saved_hash = models::module_xxh3(*b.model);
  // The last logged losses (a fresh no-update evaluation would equal them within noise).
  const StepStats last = tr.train_step(f);
  std::printf("caption loss %.4f -> %.4f, contrastive %.4f -> %.4f, t2i R@1 %.2f, BLEU-4 %.3f, e.g. '%s'\n",
              first.caption, last.caption, first.contrastive, last.contrastive, v->t2i_r1, v->bleu4,
              v->captions.empty() ? "" : v->captions[0].c_str());
  // A random frozen decoder can only be steered through its K soft tokens, so the caption is not
  // memorised word for word (measured: 14.0 -> 6.6 nats); half is a clear, robust drop.
  EXPECT_LT(last.caption, 0.6 * first.caption);
  EXPECT_DOUBLE_EQ(v->t2i_r1, 1.0);
  EXPECT_DOUBLE_EQ(v->i2t_r1, 1.0);
  EXPECT_TRUE(v->bleu4 >= 0.0 && v->bleu4 <= 1.0);  // computed; not meaningful with a random decoder
  EXPECT_EQ(v->bleu_images, 4);
  // The run folder: the CSV log has a header and one line per step; the model folder loads.
  std::ifstream csv(o.out_dir / "log.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 1 + o.steps - 1);
  const RsCapRetBundle again = models::load_rscapret_dir(o.out_dir);
  EXPECT_EQ(models::module_xxh3(*again.model), saved_hash);
}

// 6 steps straight == 3 steps, save, a fresh process-like reload, 3 more steps: bit for bit
// (weights and optimizer state), with gradient accumulation and random caption concatenation.
TEST_F(BridgeTrain, ResumeIsBitExact) {
  const InMemoryPairs data = pairs(6);
  BridgeTrainOptions o;
  o.steps = 6;
  o.grad_accum = 2;
  o.warmup_steps = 2;
  o.progress = false;
  const BridgeBatchFn f = shuffled_batches(data, 2, o.grad_accum, 9);

  RsCapRetBundle a = load(3);
  BridgeTrainer ta(a, o);
  ta.fit(f);

  RsCapRetBundle b = load(3);
  BridgeTrainOptions half = o;
  half.steps = 3;
  BridgeTrainer tb(b, half);
  tb.fit(f);
  const auto ckpt = tmp_ / "half.safetensors";
  tb.save(ckpt);

  RsCapRetBundle c = load(99);  // different initial draw: everything must come from the file
  BridgeTrainer tc(c, o);
  tc.resume(ckpt);
  EXPECT_EQ(tc.step(), 3);
  tc.fit(f);

  EXPECT_EQ(models::module_xxh3(*c.model), models::module_xxh3(*a.model));
  const auto state_a = ta.optimizer().state(), state_c = tc.optimizer().state();
  const std::vector<std::pair<std::string, Tensor>> sa(state_a.begin(), state_a.end()), sc(state_c.begin(), state_c.end());
  EXPECT_EQ(models::tensors_xxh3(sc), models::tensors_xxh3(sa));
  EXPECT_NE(models::module_xxh3(*b.model), models::module_xxh3(*a.model)) << "the second half must change weights";
}

TEST_F(BridgeTrain, CorruptCheckpointIsRejected) {
  RsCapRetBundle b = load();
  BridgeTrainOptions o;
  o.progress = false;
  BridgeTrainer tr(b, o);
  const auto ckpt = tmp_ / "c.safetensors";
  tr.save(ckpt);
  // Flip one byte in the data section (the last byte of the file).
  std::fstream f(ckpt, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-1, std::ios::end);
  char ch;
  f.read(&ch, 1);
  ch ^= 0x5A;
  f.seekp(-1, std::ios::end);
  f.write(&ch, 1);
  f.close();
  EXPECT_THROW(tr.resume(ckpt), FormatError);
}

}  // namespace
}  // namespace rscapret::train
