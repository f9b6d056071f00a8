// `train lm`: a tiny LLaMA memorises a few sentences, runs are deterministic from the seed,
// resume continues bit for bit, a NaN never reaches the weights, bad inputs are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "nn/losses.h"
#include "tests/pretrain/pretrain_test_util.h"
#include "train/lm/lm_trainer.h"
#include "train/lm/pretrain_common.h"

namespace rscapret {
namespace {
namespace fs = std::filesystem;
using train::LmTrainer;
using train::LmTrainOptions;

struct LmFixture {
  fs::path dir;
  std::shared_ptr<tokenizers::LlamaTokenizer> tok;
  train::TokenSeqs seqs;
  models::LlamaConfig cfg;
};

LmFixture lm_fixture(const std::string& name) {
  LmFixture f;
  f.dir = testing::temp_dir(name);
  f.tok = std::make_shared<tokenizers::LlamaTokenizer>(
      tokenizers::LlamaTokenizer::load(testing::write_tiny_tokenizer(f.dir)));
  f.seqs = train::tokenize_captions_lm(*f.tok, testing::tiny_captions(), 32);
  train::LmModelOptions m;
  m.hidden = 32;
  m.layers = 2;
  m.heads = 2;
  f.cfg = train::make_llama_config(m, *f.tok);
  return f;
}

std::unique_ptr<models::LlamaForCausalLM> fresh_model(const models::LlamaConfig& cfg, uint64_t seed) {
  Generator gen(seed);
  nn::Init init;
  init.gen = &gen;
  auto m = std::make_unique<models::LlamaForCausalLM>(cfg, init);
  train::hf_init_llama(*m, gen);
  return m;
}

LmTrainOptions quick_options(int64_t steps, uint64_t seed = 0) {
  LmTrainOptions o;
  o.steps = steps;
  o.batch = 4;
  o.adamw.lr = 3e-3;
  o.warmup_steps = 5;
  o.seed = seed;
  o.progress = false;
  return o;
}

TEST(TrainLm, ConfigAndInit) {
  const LmFixture f = lm_fixture("lm_cfg");
  EXPECT_EQ(f.cfg.vocab_size, 256);
  EXPECT_EQ(f.cfg.bos_token_id, 1);
  EXPECT_EQ(f.cfg.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(f.cfg.intermediate_size, 96);  // 8/3 * 32 rounded up to 32
  const auto m = fresh_model(f.cfg, 0);
  // HF init: matrices N(0, 0.02), norms 1.
  const auto w = m->model->layers->operator[](0).mlp->gate_proj->weight.to_vector<float>();
  double ss = 0;
  for (float x : w) ss += double(x) * x;
  EXPECT_NEAR(std::sqrt(ss / double(w.size())), 0.02, 0.002);
  for (float x : m->model->norm->weight.to_vector<float>()) EXPECT_EQ(x, 1.0f);
  // "<s> ... </s>" and padding masked out.
  ASSERT_FALSE(f.seqs.empty());
  EXPECT_EQ(f.seqs[0].front(), 1);
  EXPECT_EQ(f.seqs[0].back(), 2);
  const train::LmBatch b = train::make_lm_batch(f.seqs, {0, 1}, 2);
  const auto labels = b.labels.to_vector<int64_t>();
  const int64_t T = b.labels.shape()[1];
  const size_t shorter = f.seqs[0].size() < f.seqs[1].size() ? 0 : 1;
  EXPECT_EQ(labels[shorter * size_t(T) + size_t(T) - 1], nn::kIgnoreIndex);
  EXPECT_EQ(b.targets, int64_t(f.seqs[0].size() + f.seqs[1].size()) - 2);
}

TEST(TrainLm, MemorisesSentences) {
  const LmFixture f = lm_fixture("lm_mem");
  auto m = fresh_model(f.cfg, 0);
  LmTrainer t(*m, f.seqs, quick_options(250));
  const double before = t.validate(f.seqs).loss;
  t.fit();
  const double after = t.validate(f.seqs).loss;
  EXPECT_GT(before, 4.0);  // ~ln 256 at init
  // The first word after <s> stays a guess among 6 (ln 6 over ~15 targets), the rest is memorised.
  EXPECT_LT(after, 0.3) << "before " << before;
  // Greedy continuation of "<s> many" reproduces the memorised sentence.
  const train::TokenSeqs prompt = {{f.seqs[0][0], f.seqs[0][1]}};
  const auto s = train::lm_greedy_samples(*m, *f.tok, prompt, 20);
  EXPECT_EQ(s.at(0), testing::tiny_captions()[0]);
}

// Training rows: a caption, up to per_row - 1 other captions of the same image, then <s>.
TEST(TrainLm, RowsPackCaptionsOfOneImageAndEndWithBos) {
  const LmFixture f = lm_fixture("lm_rows");
  const train::CaptionDocs docs = {{0, 1, 2}, {3}, {4, 5}};
  const std::vector<int64_t> doc_of = {0, 0, 0, 1, 2, 2};
  auto cat = [&](std::initializer_list<int64_t> ids, bool bos) {
    std::vector<int32_t> r;
    for (int64_t i : ids) r.insert(r.end(), f.seqs[size_t(i)].begin(), f.seqs[size_t(i)].end());
    if (bos) r.push_back(1);
    return r;
  };
  // One per row: the caption alone, with or without the final <s>.
  EXPECT_EQ(train::training_rows(f.seqs, docs, doc_of, {1}, 1, true, 1, 0).at(0), cat({1}, true));
  EXPECT_EQ(train::training_rows(f.seqs, docs, doc_of, {1}, 1, false, 1, 0).at(0), cat({1}, false));
  // Two per row: the partner is another caption of the same image; an image with one caption
  // gives a row of one; the partners vary with the salt and cover the image's other captions.
  std::set<std::vector<int32_t>> seen;
  for (uint64_t salt = 0; salt < 32; ++salt) {
    const auto rows = train::training_rows(f.seqs, docs, doc_of, {1, 3, 4}, 2, true, 1, salt);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_TRUE(rows[0] == cat({1, 0}, true) || rows[0] == cat({1, 2}, true));
    seen.insert(rows[0]);
    EXPECT_EQ(rows[1], cat({3}, true));
    EXPECT_EQ(rows[2], cat({4, 5}, true));
  }
  EXPECT_EQ(seen.size(), 2u);
  // Three per row of a three-caption image: all of them, each once.
  const auto r3 = train::training_rows(f.seqs, docs, doc_of, {2}, 3, false, 1, 5).at(0);
  EXPECT_TRUE(r3 == cat({2, 0, 1}, false) || r3 == cat({2, 1, 0}, false));
  // Labels: the inner and the final <s> are targets.
  const train::TokenSeqs rows = train::training_rows(f.seqs, docs, doc_of, {4}, 2, true, 1, 0);
  const train::LmBatch b = train::make_lm_batch(rows, {0}, 2);
  const auto labels = b.labels.to_vector<int64_t>();
  EXPECT_EQ(labels.at(f.seqs[4].size()), 1) << "the second caption's <s>";
  EXPECT_EQ(labels.back(), 1) << "the final <s>";
  EXPECT_EQ(b.targets, int64_t(rows[0].size()) - 1);
}

TEST(TrainLm, BosIsATargetAfterEos) {
  const LmFixture f = lm_fixture("lm_bos");
  // So trained, the model predicts <s> after </s>; without the final <s> it never sees <s> as a
  // target and gives it almost no probability.
  auto p_bos_after_eos = [&](bool append_bos) {
    auto m = fresh_model(f.cfg, 0);
    LmTrainOptions o = quick_options(150);
    o.append_bos = append_bos;
    o.captions_per_row = 1;
    LmTrainer t(*m, f.seqs, o);
    t.fit();
    autograd::NoGradGuard no_grad;
    m->eval();
    const auto& s = f.seqs[0];  // "<s> ... </s>"
    models::LlamaInput in;
    in.input_ids = Tensor::from_vector(std::vector<int64_t>(s.begin(), s.end()), {1, int64_t(s.size())});
    const auto logits = m->forward(in).logits.to_vector<float>();  // [1, T, V]
    const size_t V = size_t(f.cfg.vocab_size), last = (s.size() - 1) * V;
    double z = 0;
    for (size_t v = 0; v < V; ++v) z += std::exp(double(logits[last + v]));
    return std::exp(double(logits[last + 1])) / z;
  };
  EXPECT_GT(p_bos_after_eos(true), 0.9);
  EXPECT_LT(p_bos_after_eos(false), 0.01);
}

TEST(TrainLm, DeterministicFromSeed) {
  const LmFixture f = lm_fixture("lm_det");
  auto hash_after = [&](uint64_t seed) {
    auto m = fresh_model(f.cfg, seed);
    LmTrainer t(*m, f.seqs, quick_options(8, seed));
    t.fit();
    return models::module_xxh3(*m);
  };
  const std::string a = hash_after(1);
  EXPECT_EQ(a, hash_after(1));
  EXPECT_NE(a, hash_after(2));
}

TEST(TrainLm, ResumeIsBitExact) {
  const LmFixture f = lm_fixture("lm_resume");
  auto ma = fresh_model(f.cfg, 4);
  LmTrainer ta(*ma, f.seqs, quick_options(12, 4));
  ta.fit();

  LmTrainOptions half = quick_options(12, 4);
  auto mb = fresh_model(f.cfg, 4);
  {
    LmTrainer tb(*mb, f.seqs, half);
    for (int i = 0; i < 6; ++i) tb.train_step();
    tb.save_checkpoint(f.dir / "ck.safetensors");
  }
  auto mc = fresh_model(f.cfg, 99);  // different weights: the checkpoint must replace them all
  LmTrainer tc(*mc, f.seqs, half);
  tc.resume(f.dir / "ck.safetensors");
  EXPECT_EQ(tc.step(), 6);
  tc.fit();
  EXPECT_EQ(models::module_xxh3(*mc), models::module_xxh3(*ma));
}

TEST(TrainLm, WritesALoadableLlamaFolder) {
  const LmFixture f = lm_fixture("lm_out");
  auto m = fresh_model(f.cfg, 0);
  LmTrainOptions o = quick_options(4);
  o.out_dir = f.dir / "out";
  LmTrainer t(*m, f.seqs, o);
  const auto v = t.fit(&f.seqs);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(v->perplexity, std::exp(v->loss), 1e-9);
  EXPECT_TRUE(fs::exists(o.out_dir / "log.csv"));
  EXPECT_TRUE(fs::exists(o.out_dir / "checkpoint.safetensors"));
  const auto loaded = models::LlamaForCausalLM::from_pretrained(o.out_dir);
  EXPECT_EQ(models::module_xxh3(*loaded), models::module_xxh3(*m));
}

TEST(TrainLm, NonFiniteLossNeverUpdates) {
  const LmFixture f = lm_fixture("lm_nan");
  auto m = fresh_model(f.cfg, 0);
  LmTrainOptions o = quick_options(10);
  o.max_bad_steps = 3;
  LmTrainer t(*m, f.seqs, o);
  Tensor emb = m->model->embed_tokens->weight;
  emb.copy_from(Tensor::full(emb.shape(), std::nan("")));
  const std::string before = models::module_xxh3(*m);
  EXPECT_TRUE(t.train_step().skipped);
  EXPECT_TRUE(t.train_step().skipped);
  EXPECT_EQ(models::module_xxh3(*m), before);
  try {
    t.train_step();
    FAIL() << "expected an error after 3 bad steps";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
  }
}

TEST(TrainLm, Errors) {
  const LmFixture f = lm_fixture("lm_err");
  train::LmModelOptions bad;
  bad.hidden = 30;
  bad.heads = 4;
  EXPECT_THROW(train::make_llama_config(bad, *f.tok), ValueError);
  bad = {};
  bad.heads = 4;
  bad.kv_heads = 3;
  EXPECT_THROW(train::make_llama_config(bad, *f.tok), ValueError);
  EXPECT_THROW(train::tokenize_captions_lm(*f.tok, {"a"}, 1), ValueError);
  auto m = fresh_model(f.cfg, 0);
  EXPECT_THROW(LmTrainer(*m, {}, quick_options(1)), ValueError);
  LmTrainOptions o = quick_options(1);
  o.batch = 0;
  EXPECT_THROW(LmTrainer(*m, f.seqs, o), ValueError);

  LmTrainer t(*m, f.seqs, quick_options(1));
  EXPECT_THROW(t.resume(f.dir / "missing.safetensors"), IOError);
}

}  // namespace
}  // namespace rscapret
