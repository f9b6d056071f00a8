// The pretraining commands end to end on a small synthetic dataset: `train clip` and `train lm`
// write Hugging Face folders that `load_rscapret` accepts as the bridge's frozen backbones;
// --resume continues; bad options are clear errors with a non-zero exit.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sys/wait.h>

#include "models/rscapret/bundle.h"
#include "synth/dataset.h"
#include "tests/common/run_cli.h"
#include "tests/pretrain/pretrain_test_util.h"

namespace rscapret {
namespace {
namespace fs = std::filesystem;

const auto run = testing::run_rscapret;

TEST(PretrainCli, ClipAndLmFoldersFeedTheBridge) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const fs::path tmp = testing::temp_dir("pretrain_cli");
  synth::SynthOptions so;
  so.out = (tmp / "syn").string();
  so.count = 20;
  so.size = 64;
  so.threads = 1;
  synth::write_dataset(so);
  const fs::path json = tmp / "syn" / "dataset_synth.json";
  const std::string data = json.string() + ":" + (tmp / "syn" / "images").string();
  const fs::path clip_tok = testing::write_tiny_clip_tokenizer(tmp);
  const fs::path llama_tok = testing::write_tiny_tokenizer(tmp);

  const std::string clip_args = "train clip --data " + data + " --tokenizer " + clip_tok.string() + " --out " +
                                (tmp / "clip").string() +
                                " --batch 4 --image-size 32 --patch 8 --vision-width 32 --vision-layers 1"
                                " --text-width 32 --text-layers 1 --heads 2 --projection-dim 16 --warmup 1 --quiet";
  auto [rc, out] = run(clip_args + " --steps 3 --device cpu");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("t2i_r1"), std::string::npos) << out;
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "checkpoint.safetensors",
                        "log.csv"})
    EXPECT_TRUE(fs::exists(tmp / "clip" / f)) << f;

  // Fine-tuning, the CLIP-Cap-4 step: --init the folder just written, two named datasets together.
  // Sizes come from the init's config, the tokenizer from its folder, and both towers move.
  std::tie(rc, out) = run("train clip --init " + (tmp / "clip").string() + " --data a=" + data + " --data b=" + data +
                          " --out " + (tmp / "clip_ft").string() +
                          " --batch 4 --steps 2 --warmup 1 --lr 1e-3 --val-split '' --quiet");
  ASSERT_EQ(rc, 0) << out;
  {
    const auto before = models::ClipModel::from_pretrained(tmp / "clip");
    const auto after = models::ClipModel::from_pretrained(tmp / "clip_ft");
    EXPECT_EQ(after->config().vision.image_size, 32);
    EXPECT_EQ(after->config().vision.hidden_size, 32);
    EXPECT_TRUE(fs::exists(tmp / "clip_ft" / "vocab.json"));
    const auto a = before->state_dict(), b = after->state_dict();
    ASSERT_EQ(a.size(), b.size());
    for (const char* name : {"vision_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.mlp.fc1.weight",
                             "visual_projection.weight", "text_projection.weight"}) {
      ASSERT_TRUE(a.count(name) && b.count(name)) << name;
      EXPECT_NE(a.at(name).to_vector<float>(), b.at(name).to_vector<float>()) << name << " did not move";
    }
  }

  const std::string lm_args = "train lm --data " + json.string() + " --tokenizer " + llama_tok.string() + " --out " +
                              (tmp / "lm").string() + " --batch 4 --hidden 32 --layers 1 --heads 2 --warmup 1 --quiet";
  std::tie(rc, out) = run(lm_args + " --steps 3 --samples 2 --device cpu");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("val_ppl"), std::string::npos) << out;
  EXPECT_NE(out.find("sample: "), std::string::npos) << out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "checkpoint.safetensors"})
    EXPECT_TRUE(fs::exists(tmp / "lm" / f)) << f;

  // Resume continues from the checkpoint's step.
  std::tie(rc, out) = run(lm_args + " --steps 5 --resume --samples 0");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("resumed at step 3"), std::string::npos) << out;
  EXPECT_NE(out.find("steps 2 in"), std::string::npos) << out;

  // Both folders are backbones of the bridge.
  models::RsCapRetSpec spec;
  spec.clip_dir = tmp / "clip";
  spec.llama_dir = tmp / "lm";
  spec.backbone_dtype = "f32";
  const models::RsCapRetBundle b = models::load_rscapret(spec);
  EXPECT_EQ(b.model->ret_id(), 256);
  EXPECT_EQ(models::find_llama_tokenizer(spec.llama_dir), tmp / "lm" / "tokenizer.json");
}

TEST(PretrainCli, Errors) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const fs::path tmp = testing::temp_dir("pretrain_cli_err");
  const fs::path llama_tok = testing::write_tiny_tokenizer(tmp);
  auto [rc, out] = run("train lm --data " + (tmp / "missing.json").string() + " --tokenizer " + llama_tok.string() +
                       " --out " + (tmp / "o").string());
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
  std::tie(rc, out) = run("train lm --data x.json --tokenizer " + (tmp / "nope.json").string() + " --out " +
                          (tmp / "o").string());
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("tokenizer not found"), std::string::npos) << out;
  std::tie(rc, out) = run("train clip --data a.json:b --out " + (tmp / "o").string());
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--tokenizer"), std::string::npos) << out;
  std::tie(rc, out) = run("train clip --data a.json:b --out o --init " + (tmp / "no_such_model").string());
  EXPECT_NE(rc, 0);
}

}  // namespace
}  // namespace rscapret
