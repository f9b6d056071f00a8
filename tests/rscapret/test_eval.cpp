// `rscapret eval` and its library (train/eval/evaluate.h): the ranking core on hand-computed cases,
// then a full run on a tiny dataset with the fixture backbones (report keys, retrieval numbers
// recomputed independently, determinism, the skipped corrupt image, the CLI and its errors).
#include <gtest/gtest.h>

#include <fstream>

#include "eval/retrieval.h"
#include "models/rscapret/retrieval.h"
#include "tensor/rng.h"
#include "tests/rscapret/eval_test_util.h"
#include "train/bridge/dataset_batches.h"
#include "train/eval/evaluate.h"

namespace rscapret::testing {
namespace {
namespace fs = std::filesystem;

// 3 images, 4 captions (image 0 owns two). Similarities (rows: captions, columns: images):
//   t0 = (1, 0)     : 1    0    0.6    own i0 -> rank 0
//   t1 = (0, 1)     : 0    1    0.8    own i0 -> rank 2
//   t2 = (0.8, 0.6) : 0.8  0.6  0.96   own i1 -> rank 2
//   t3 = (0, 1)     : 0    1    0.8    own i2 -> rank 1
// i2t, column by column: i0 best caption t0 (1) -> rank 0; i1 own t2 (0.6) below t1, t3 (1) -> 2;
// i2 own t3 (0.8) below t2 (0.96) and tied with t1, which has the lower index -> 2.
TEST(RsCapRetEval, RankRetrievalHandComputed) {
  const std::vector<float> images = {1, 0, 0, 1, 0.6f, 0.8f};
  const std::vector<float> texts = {1, 0, 0, 1, 0.8f, 0.6f, 0, 1};
  const auto r = train::rank_retrieval(texts, images, 2, {0, 0, 1, 2});
  EXPECT_EQ(r.t2i, (std::vector<int64_t>{0, 2, 2, 1}));
  EXPECT_EQ(r.i2t, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_DOUBLE_EQ(r.scores.t2i.r1, 0.25);
  EXPECT_DOUBLE_EQ(r.scores.t2i.r5, 1.0);
  EXPECT_DOUBLE_EQ(r.scores.t2i.mr, (0.25 + 1 + 1) / 3);
  EXPECT_DOUBLE_EQ(r.scores.i2t.r1, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.scores.i2t.r10, 1.0);
}

// With R@10 to test: 12 images, caption i ranks its image at position i % 12.
TEST(RsCapRetEval, RankRetrievalRecallAtTen) {
  const int64_t I = 12, D = I;
  std::vector<float> images(size_t(I * D), 0.f), texts;
  for (int64_t i = 0; i < I; ++i) images[size_t(i * D + i)] = 1.f;  // one-hot images
  std::vector<int64_t> owner;
  for (int64_t t = 0; t < I; ++t) {
    // Query t: its own image scores 0.5, and t other images score higher (1 - 0.01 k).
    std::vector<float> q(size_t(D), 0.f);
    q[size_t(t)] = 0.5f;
    for (int64_t k = 0; k < t; ++k) q[size_t((t + 1 + k) % I)] = 1.f - 0.01f * float(k);
    texts.insert(texts.end(), q.begin(), q.end());
    owner.push_back(t);
  }
  const auto r = train::rank_retrieval(texts, images, D, owner);
  for (int64_t t = 0; t < I; ++t) EXPECT_EQ(r.t2i[size_t(t)], t);
  EXPECT_DOUBLE_EQ(r.scores.t2i.r1, 1.0 / 12);
  EXPECT_DOUBLE_EQ(r.scores.t2i.r5, 5.0 / 12);
  EXPECT_DOUBLE_EQ(r.scores.t2i.r10, 10.0 / 12);
}

// With a fixed number of captions per image it agrees with eval/retrieval.h.
TEST(RsCapRetEval, RankRetrievalAgreesWithEvalLibrary) {
  Generator g(3);
  const int64_t I = 9, cpi = 3, D = 5;
  auto unit_rows = [&](int64_t n) {
    std::vector<float> v = g.normal({n, D}, 0.0, 1.0, DType::f32).to_vector<float>();
    for (int64_t r = 0; r < n; ++r) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double(v[size_t(r * D + d)]) * v[size_t(r * D + d)];
      for (int64_t d = 0; d < D; ++d) v[size_t(r * D + d)] = float(v[size_t(r * D + d)] / std::sqrt(s));
    }
    return v;
  };
  const auto images = unit_rows(I), texts = unit_rows(I * cpi);
  std::vector<int64_t> owner;
  for (int64_t t = 0; t < I * cpi; ++t) owner.push_back(t / cpi);
  const auto mine = train::rank_retrieval(texts, images, D, owner).scores;
  const auto ref = eval::retrieval_from_embeddings(texts, images, size_t(D), size_t(cpi));
  EXPECT_NEAR(mine.t2i.r1, ref.t2i.r1, 1e-12);
  EXPECT_NEAR(mine.t2i.r5, ref.t2i.r5, 1e-12);
  EXPECT_NEAR(mine.i2t.r1, ref.i2t.r1, 1e-12);
  EXPECT_NEAR(mine.i2t.r5, ref.i2t.r5, 1e-12);
}

TEST(RsCapRetEval, RankRetrievalErrors) {
  EXPECT_THROW(train::rank_retrieval({1, 0}, {1, 0}, 2, {1}), IndexError);
  EXPECT_THROW(train::rank_retrieval({1, 0, 0}, {1, 0}, 2, {0}), ShapeError);
  EXPECT_THROW(train::rank_retrieval({1, 0}, {1, 0, 0, 1}, 2, {0}), ValueError);  // image 1 has no caption
}

TEST(RsCapRetEval, TinyDatasetReport) {
  RSCAPRET_REQUIRE_TINY();
  const fs::path tmp = temp_dir("eval_lib");
  const fs::path model_dir = make_tiny_model_dir(tmp / "model");
  const fs::path json = make_tiny_dataset(tmp, 5, /*broken_at=*/2);
  const models::RsCapRetBundle b = models::load_rscapret_dir(model_dir);
  const auto ds = data::CaptionDataset::load(data::CaptionSource{json, tmp / "images", ""}, {"test"});
  ASSERT_EQ(ds.size(), 5u);
  train::EvalOptions opt;
  opt.batch = 3;  // two batches, the corrupt image in the first
  opt.max_new_tokens = 6;
  opt.score.meteor = false;  // no METEOR data in a test tree
  const train::EvalReport r = train::evaluate_split(b, ds, "test", opt);
  ASSERT_EQ(r.images.size(), 4u);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].first.find("broken.png"), std::string::npos);
  EXPECT_EQ(r.num_queries, 8);
  EXPECT_EQ(r.dataset, "tiny");

  // Retrieval recomputed independently: one image and one caption at a time, ranked by hand.
  const int size = int(b.model->clip().config().vision.image_size);
  std::vector<std::vector<float>> img, txt;
  std::vector<int64_t> owner;
  for (size_t i = 0, k = 0; i < ds.size(); ++i) {
    if (i == 2) continue;  // the corrupt one
    const Tensor px = train::load_clip_image(ds[i].image_path, size).unsqueeze(0);
    img.push_back(models::embed_pooled(*b.model, b.model->encode_images(px)));
    for (const auto& c : ds[i].captions) {
      txt.push_back(models::embed_texts(b, {c}));
      owner.push_back(int64_t(k));
    }
    ++k;
  }
  auto dot = [](const std::vector<float>& a, const std::vector<float>& c) {
    double s = 0;
    for (size_t d = 0; d < a.size(); ++d) s += double(a[d]) * c[d];
    return s;
  };
  int t2i_hits1 = 0, t2i_hits5 = 0;
  for (size_t t = 0; t < txt.size(); ++t) {
    const double own = dot(txt[t], img[size_t(owner[t])]);
    int64_t rank = 0;
    for (size_t i = 0; i < img.size(); ++i) rank += dot(txt[t], img[i]) > own + 1e-6;
    // Independent float paths can differ by rounding; a near tie is checked loosely.
    EXPECT_LE(std::abs(rank + 1 - r.images[size_t(owner[t])].t2i_ranks[t % 2]), 1) << "query " << t;
    t2i_hits1 += rank < 1;
    t2i_hits5 += rank < 5;
  }
  EXPECT_NEAR(r.retrieval.t2i.r5, double(t2i_hits5) / double(txt.size()), 1e-12);
  EXPECT_NEAR(r.retrieval.t2i.r10, 1.0, 1e-12);  // 4 images: everything is in the top 10
  EXPECT_NEAR(r.retrieval.t2i.mr, (r.retrieval.t2i.r1 + r.retrieval.t2i.r5 + r.retrieval.t2i.r10) / 3, 1e-12);
  // The batched ranks equal a ranking of the independently computed embeddings.
  std::vector<float> tflat, iflat;
  for (const auto& v : txt) tflat.insert(tflat.end(), v.begin(), v.end());
  for (const auto& v : img) iflat.insert(iflat.end(), v.begin(), v.end());
  const auto indep = train::rank_retrieval(tflat, iflat, b.model->options().retrieval_dim, owner);
  EXPECT_NEAR(indep.scores.t2i.r1, r.retrieval.t2i.r1, 1e-12);
  EXPECT_NEAR(indep.scores.i2t.r1, r.retrieval.i2t.r1, 1e-12);

  // Captions equal the caption command's (batch of one).
  models::GenerateOptions g;
  g.max_new_tokens = 6;
  g.stop_tokens = {b.tokenizer->eos_id()};
  const Tensor px0 = train::load_clip_image(ds[0].image_path, size).unsqueeze(0);
  EXPECT_EQ(r.images[0].caption, b.model->caption(b.model->encode_images(px0), *b.tokenizer, g).at(0));

  const nlohmann::json j = train::eval_report_json(r);
  for (const char* k : {"dataset", "split", "model_xxh3", "num_images", "num_queries", "num_skipped", "skipped",
                        "decoding", "captioning", "retrieval", "notes", "images"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE"})
    EXPECT_TRUE(j["captioning"].contains(k)) << k;
  EXPECT_TRUE(j["captioning"]["METEOR"].is_null());
  EXPECT_TRUE(j["captioning"]["Bleu_4"].is_number());
  for (const char* dir : {"text_to_image", "image_to_text"})
    for (const char* k : {"R@1", "R@5", "R@10", "mR"}) EXPECT_TRUE(j["retrieval"][dir][k].is_number()) << dir << k;
  EXPECT_NEAR(j["retrieval"]["text_to_image"]["R@5"].get<double>(), 100 * r.retrieval.t2i.r5, 1e-9);
  for (const char* k : {"image", "imgid", "caption", "references", "scores", "t2i_ranks", "i2t_rank"})
    EXPECT_TRUE(j["images"][0].contains(k)) << k;

  const std::string tables = train::format_eval_tables(r);
  for (const char* s : {"Evaluation Dataset", "BLEU-1", "CIDEr", "SPICE", "Text-Image Retrieval", "Image-Text Retrieval",
                        "R@10", "mR", "RS-CapRet", "NA"})
    EXPECT_NE(tables.find(s), std::string::npos) << s << "\n" << tables;

  // Deterministic: a second run (another batch size) gives the same report.
  opt.batch = 2;
  opt.text_batch = 3;
  const nlohmann::json j2 = train::eval_report_json(train::evaluate_split(b, ds, "test", opt));
  EXPECT_EQ(j2["images"], j["images"]);
  EXPECT_EQ(j2["retrieval"], j["retrieval"]);
  EXPECT_EQ(j2["captioning"], j["captioning"]);
  fs::remove_all(tmp);
}

TEST(RsCapRetEval, Cli) {
  RSCAPRET_REQUIRE_TINY();
  if (!have_cli()) GTEST_SKIP() << "rscapret binary not built";
  const fs::path tmp = temp_dir("eval_cli");
  const std::string model = make_tiny_model_dir(tmp / "model").string();
  const fs::path json = make_tiny_dataset(tmp, 4, /*broken_at=*/1);
  const std::string data = json.string() + ":" + (tmp / "images").string();
  const std::string out1 = (tmp / "r1.json").string(), out2 = (tmp / "r2.json").string();
  const std::string args = "eval --model " + model + " --data " + data + " --max-new-tokens 5 --batch 2 --max-images 3";
  const auto [rc, out] = run_cli(args + " --json " + out1);
  ASSERT_EQ(rc, 0) << out;
  for (const char* s : {"BLEU-4", "ROUGE-L", "Text-Image Retrieval", "Image-Text Retrieval", "R@1", "mR", "tiny",
                        "skipping", "broken.png", "1 image(s) could not be read"})
    EXPECT_NE(out.find(s), std::string::npos) << s << "\n" << out;
  const auto j = nlohmann::json::parse(std::ifstream(out1));
  EXPECT_EQ(j["num_images"], 2);  // 3 looked at, the corrupt one skipped
  EXPECT_EQ(j["num_skipped"], 1);
  EXPECT_EQ(j["num_queries"], 4);
  EXPECT_EQ(j["images"].size(), 2u);
  EXPECT_TRUE(j["captioning"]["SPICE"].is_null());
  const auto [rc2, o2] = run_cli(args + " --json " + out2);
  ASSERT_EQ(rc2, 0) << o2;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(out2)), j) << "a second run gives the same report";
  const auto [rc_b, ob] = run_cli(args + " --beam 2");
  EXPECT_EQ(rc_b, 0) << ob;

  // Errors: missing model, malformed JSON, an empty split.
  const auto [rc_m, om] = run_cli("eval --model " + (tmp / "nope").string() + " --data " + data);
  EXPECT_EQ(rc_m, 1) << om;
  EXPECT_NE(om.find("bridge.json"), std::string::npos) << om;
  std::ofstream(tmp / "bad.json") << "{\"images\": [";
  const auto [rc_j, oj] = run_cli("eval --model " + model + " --data " + (tmp / "bad.json").string() + ":" +
                                  (tmp / "images").string());
  EXPECT_EQ(rc_j, 1) << oj;
  EXPECT_NE(oj.find("bad.json"), std::string::npos) << oj;
  const auto [rc_s, os] = run_cli("eval --model " + model + " --data " + data + " --split val");
  EXPECT_EQ(rc_s, 1) << os;
  EXPECT_NE(os.find("no images in split"), std::string::npos) << os;
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace rscapret::testing
