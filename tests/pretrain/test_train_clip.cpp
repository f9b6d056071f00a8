// `train clip`: a tiny CLIP learns to match a few synthetic scenes with their captions, runs are
// deterministic (augmentation included), resume is bit-exact, the temperature is capped, and bad
// inputs (tokenizer mismatch, unreadable images) are reported instead of crashing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "models/rscapret/bundle.h"
#include "synth/dataset.h"
#include "tests/pretrain/pretrain_test_util.h"
#include "train/clip/clip_trainer.h"

namespace rscapret {
namespace {
namespace fs = std::filesystem;
using train::ClipTrainer;
using train::ClipTrainOptions;

struct ClipFixture {
  fs::path dir;
  std::shared_ptr<tokenizers::ClipTokenizer> tok;
  models::ClipConfig cfg;
  train::ImageCaptionSet pairs;
};

ClipFixture clip_fixture(const std::string& name, int images = 4) {
  ClipFixture f;
  f.dir = testing::temp_dir(name);
  f.tok = std::make_shared<tokenizers::ClipTokenizer>(
      tokenizers::ClipTokenizer::load(testing::write_tiny_clip_tokenizer(f.dir)));
  f.cfg = train::make_clip_config(testing::tiny_clip_options(), *f.tok);
  f.pairs = testing::synth_pairs(images, 16);
  return f;
}

std::unique_ptr<models::ClipModel> fresh_clip(const models::ClipConfig& cfg, uint64_t seed) {
  Generator gen(seed);
  nn::Init init;
  init.gen = &gen;
  auto m = std::make_unique<models::ClipModel>(cfg, init);
  train::hf_init_clip(*m, gen);
  return m;
}

ClipTrainOptions quick(int64_t steps, uint64_t seed = 0) {
  ClipTrainOptions o;
  o.steps = steps;
  o.batch = 4;
  o.adamw.lr = 2e-3;
  o.warmup_steps = 5;
  o.seed = seed;
  o.progress = false;
  return o;
}

TEST(TrainClip, ConfigTokensAndInit) {
  const ClipFixture f = clip_fixture("clip_cfg");
  EXPECT_EQ(f.cfg.text.vocab_size, f.tok->vocab_size());
  EXPECT_EQ(f.cfg.text.eos_token_id, f.tok->end_id());
  EXPECT_NEAR(f.cfg.logit_scale_init_value, std::log(1 / 0.07), 1e-12);
  const auto m = fresh_clip(f.cfg, 0);
  for (float b : m->vision_model->encoder->layers->operator[](0).self_attn->q_proj->bias.to_vector<float>())
    EXPECT_EQ(b, 0.0f);
  const train::ClipTextBatch t = train::tokenize_clip_batch(*f.tok, {"the trees", "a long river bank"}, 77);
  const auto ids = t.input_ids.to_vector<int64_t>();
  const auto mask = t.attention_mask.to_vector<int64_t>();
  const int64_t T = t.input_ids.shape()[1];
  EXPECT_EQ(ids[0], f.tok->start_id());
  EXPECT_EQ(ids[size_t(T) - 1], f.tok->end_id());  // row 0 is padded with <|endoftext|> ...
  EXPECT_EQ(mask[size_t(T) - 1], 0);                // ... that is masked
  EXPECT_EQ(mask[size_t(2 * T) - 1], 1);
  // Truncation keeps the end token.
  const train::ClipTextBatch cut = train::tokenize_clip_batch(*f.tok, {"a long river bank"}, 5);
  EXPECT_EQ(cut.input_ids.shape()[1], 5);
  EXPECT_EQ(cut.input_ids.to_vector<int64_t>().back(), f.tok->end_id());
}

TEST(TrainClip, Dihedral) {
  const int64_t S = 4;
  std::vector<float> src(3 * S * S), a(src.size()), b(src.size());
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(i);
  train::dihedral_into(src.data(), a.data(), S, 0);
  EXPECT_EQ(a, src);
  // Four quarter turns and two flips are the identity; a quarter turn is not.
  std::vector<float> cur = src;
  for (int i = 0; i < 4; ++i) {
    train::dihedral_into(cur.data(), a.data(), S, 1);
    if (i == 0) {
      EXPECT_NE(a, src);
    }
    cur.swap(a);  // a keeps its size; it is overwritten next turn
  }
  EXPECT_EQ(cur, src);
  train::dihedral_into(src.data(), a.data(), S, 4);
  train::dihedral_into(a.data(), b.data(), S, 4);
  EXPECT_EQ(b, src);
  EXPECT_EQ(a[0], src[S - 1]);  // a horizontal flip
  // All 8 transforms differ on an asymmetric image.
  std::set<std::vector<float>> seen;
  for (int k = 0; k < 8; ++k) {
    train::dihedral_into(src.data(), a.data(), S, k);
    seen.insert(a);
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(TrainClip, BatchRowsAvoidRepeatingACaption) {
  const std::vector<std::string> caps = {"a", "b", "c"};
  EXPECT_EQ(train::distinct_caption(caps, 1, {}), "b");
  EXPECT_EQ(train::distinct_caption(caps, 1, {"b"}), "c");
  EXPECT_EQ(train::distinct_caption(caps, 2, {"c", "x"}), "a");  // cyclic
  EXPECT_EQ(train::distinct_caption(caps, 2, {"a", "b", "c"}), "c");  // all taken: its own choice
  // In a batch of images that share captions, no string repeats while another is left.
  ClipFixture f = clip_fixture("clip_distinct", 4);
  for (auto& c : f.pairs.captions) c = {"same", "other " + c.at(0), "third " + c.at(0)};
  ClipTrainOptions o = quick(1);
  auto m = fresh_clip(f.cfg, 0);
  ClipTrainer t(*m, *f.tok, f.pairs, o);
  for (int64_t step = 0; step < 6; ++step) {
    const auto caps_of_batch = t.batch_for(step).captions;
    EXPECT_EQ(std::set<std::string>(caps_of_batch.begin(), caps_of_batch.end()).size(), caps_of_batch.size());
  }
}

TEST(TrainClip, LearnsFewPairs) {
  const ClipFixture f = clip_fixture("clip_learn");
  auto m = fresh_clip(f.cfg, 0);
  ClipTrainer t(*m, *f.tok, f.pairs, quick(60));
  const auto v0 = t.validate(f.pairs);
  t.fit();
  const auto v = t.validate(f.pairs);
  EXPECT_EQ(v.images, 4);
  EXPECT_EQ(v.t2i_r1, 1.0) << "before: " << v0.t2i_r1;
  EXPECT_EQ(v.i2t_r1, 1.0) << "before: " << v0.i2t_r1;
  EXPECT_LE(m->logit_scale.item(), std::log(100.0) + 1e-6);
}

TEST(TrainClip, DeterministicAndResumable) {
  const ClipFixture f = clip_fixture("clip_det", 6);
  ClipTrainOptions o = quick(8, 3);
  o.augment = true;
  auto run = [&](uint64_t seed) {
    ClipTrainOptions oo = o;
    oo.seed = seed;
    auto m = fresh_clip(f.cfg, seed);
    ClipTrainer t(*m, *f.tok, f.pairs, oo);
    t.fit();
    return models::module_xxh3(*m);
  };
  const std::string a = run(3);
  EXPECT_EQ(a, run(3));
  EXPECT_NE(a, run(4));
  // Batches are pure functions of the step; augmentation changes pixels but not captions.
  auto m = fresh_clip(f.cfg, 3);
  ClipTrainer t1(*m, *f.tok, f.pairs, o);
  const train::ClipBatch b1 = t1.batch_for(5), b2 = t1.batch_for(5);
  EXPECT_EQ(b1.captions, b2.captions);
  EXPECT_EQ(b1.pixels.to_vector<float>(), b2.pixels.to_vector<float>());
  // Resume: 4 steps, checkpoint, a new model and trainer, 4 more = 8 straight.
  {
    auto mb = fresh_clip(f.cfg, 3);
    ClipTrainer tb(*mb, *f.tok, f.pairs, o);
    for (int i = 0; i < 4; ++i) tb.train_step();
    tb.save_checkpoint(f.dir / "ck.safetensors");
  }
  auto mc = fresh_clip(f.cfg, 77);
  ClipTrainer tc(*mc, *f.tok, f.pairs, o);
  tc.resume(f.dir / "ck.safetensors");
  tc.fit();
  EXPECT_EQ(models::module_xxh3(*mc), a);
}

TEST(TrainClip, LogitScaleIsCapped) {
  const ClipFixture f = clip_fixture("clip_cap");
  auto m = fresh_clip(f.cfg, 0);
  ClipTrainer t(*m, *f.tok, f.pairs, quick(2));
  Tensor ls = m->logit_scale;
  ls.copy_from(Tensor::scalar(7.0));
  t.train_step();
  EXPECT_NEAR(m->logit_scale.item(), std::log(100.0), 1e-6);
}

TEST(TrainClip, TokenizerMustMatchTheTextTower) {
  const ClipFixture f = clip_fixture("clip_tokbad");
  models::ClipConfig c = f.cfg;
  c.text.eos_token_id = 5;
  EXPECT_THROW(train::check_clip_tokenizer(c, *f.tok), ValueError);
  c = f.cfg;
  c.text.vocab_size = 100;
  EXPECT_THROW(train::check_clip_tokenizer(c, *f.tok), ValueError);
  auto m = fresh_clip(f.cfg, 0);
  ClipTrainOptions o = quick(1);
  o.batch = 1;
  EXPECT_THROW(ClipTrainer(*m, *f.tok, f.pairs, o), ValueError);
  train::ImageCaptionSet wrong = testing::synth_pairs(2, 32);  // 32 px for a 16 px model
  EXPECT_THROW(ClipTrainer(*m, *f.tok, wrong, quick(1)), ShapeError);
}

TEST(TrainClip, UnreadableImagesAreSkipped) {
  const fs::path dir = testing::temp_dir("clip_corrupt");
  fs::create_directories(dir / "images");
  nlohmann::json images = nlohmann::json::array();
  for (int i = 0; i < 3; ++i) {
    const std::string name = synth::image_filename(i);
    if (i == 1) {
      std::ofstream(dir / "images" / name) << "not a png";
    } else {
      const synth::Sample s = synth::generate_sample(1, uint64_t(i), 64);
      synth::write_png((dir / "images" / name).string(), s.rgb, 64);
    }
    images.push_back({{"filename", name}, {"split", "train"}, {"imgid", i},
                      {"sentences", {{{"raw", "caption " + std::to_string(i)}}}}});
  }
  std::ofstream(dir / "data.json") << nlohmann::json{{"images", images}}.dump();
  const auto ds = data::CaptionDataset::load(data::CaptionSource{dir / "data.json", dir / "images", ""});
  const train::ImageCaptionSet set = train::load_image_captions(ds, 16, 0, 2, /*quiet=*/true);
  EXPECT_EQ(set.size(), 2);
  EXPECT_EQ(set.skipped, 1);
  EXPECT_EQ(set.captions[1][0], "caption 2");
  EXPECT_EQ(set.pixels.shape(), (Shape{2, 3, 16, 16}));
}

}  // namespace
}  // namespace rscapret
