// Checkpoints: the Hugging Face fixtures (written by the reference library), and sharded indexes.
#include <cmath>

#include "tests/common/shared_dir.h"
#include "tests/safetensors/st_test_util.h"

namespace rscapret::testing {
namespace {

// ---------------------------------------------------------------- shared fixtures

TEST(HFFixtures, LlamaTinyModelLoads) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  SafetensorsCheckpoint ck(shared_path("fixtures/hf/llama_tiny"));  // a folder works too
  EXPECT_EQ(ck.num_files(), 1u);
  EXPECT_EQ(ck.names().size(), 21u);  // embed, 2 layers x 9, final norm, lm_head
  EXPECT_EQ(ck.metadata().at("format"), "pt");
  const Tensor emb = ck.get("model.embed_tokens.weight");
  EXPECT_EQ(emb.dtype(), DType::f32);
  EXPECT_EQ(emb.shape(), (Shape{256, 64}));
  EXPECT_EQ(ck.get("model.layers.1.mlp.down_proj.weight").shape(), (Shape{64, 172}));
  EXPECT_EQ(ck.get("model.norm.weight").shape(), (Shape{64}));
  EXPECT_EQ(ck.file_of("lm_head.weight").filename(), "model.safetensors");
  for (float v : std::span(emb.data<float>(), size_t(emb.numel()))) ASSERT_TRUE(std::isfinite(v));
}

TEST(HFFixtures, ClipTinyModelLoads) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");
  SafetensorsFile f(shared_path("fixtures/hf/clip_tiny/model.safetensors"));
  EXPECT_EQ(f.names().size(), 78u);
  const Tensor scale = f.get("logit_scale");  // a 0-d tensor in the wild
  EXPECT_EQ(scale.dim(), 0);
  EXPECT_NEAR(*scale.data<float>(), std::log(1 / 0.07), 1e-4);  // CLIP's initial logit scale
  EXPECT_EQ(f.get("text_model.embeddings.token_embedding.weight").shape(), (Shape{300, 48}));
  EXPECT_TRUE(f.contains("vision_model.pre_layrnorm.weight"));  // HF's spelling
}

TEST(HFFixtures, ExpectedOutputsLoadWithMixedDTypes) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/expected.safetensors");
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/expected.safetensors");
  const auto llama = load_safetensors(shared_path("fixtures/hf/llama_tiny/expected.safetensors"));
  EXPECT_EQ(llama.at("input_ids").dtype(), DType::i64);
  EXPECT_EQ(llama.at("input_ids").shape(), (Shape{2, 12}));
  EXPECT_EQ(llama.at("logits").dtype(), DType::f64);
  EXPECT_EQ(llama.at("logits").shape(), (Shape{2, 12, 256}));
  EXPECT_EQ(llama.at("greedy_output").shape(), (Shape{1, 15}));
  for (int64_t id : std::span(llama.at("input_ids").data<int64_t>(), 24)) EXPECT_TRUE(id >= 0 && id < 256);
  const auto clip = load_safetensors(shared_path("fixtures/hf/clip_tiny/expected.safetensors"));
  EXPECT_EQ(clip.size(), 13u);
  EXPECT_EQ(clip.at("pixel_values").dtype(), DType::f32);
  EXPECT_EQ(clip.at("pixel_values").shape(), (Shape{2, 3, 32, 32}));
  EXPECT_EQ(clip.at("vision_last_hidden_state").shape(), (Shape{2, 17, 64}));
}

class Resave : public TempDirTest {};

// Our writer follows the reference library's layout exactly, so re-saving its files reproduces
// them byte for byte (mixed dtypes in expected.safetensors check the dtype order too).
TEST_F(Resave, FixturesRoundTripByteIdentical) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf");
  for (const char* rel : {"fixtures/hf/llama_tiny/model.safetensors", "fixtures/hf/llama_tiny/expected.safetensors",
                          "fixtures/hf/clip_tiny/model.safetensors", "fixtures/hf/clip_tiny/expected.safetensors"}) {
    SCOPED_TRACE(rel);
    SafetensorsFile f(shared_path(rel));
    std::vector<std::pair<std::string, Tensor>> ts;
    for (const auto& n : f.names()) ts.emplace_back(n, f.get(n));
    save_safetensors(dir_ / "copy.safetensors", ts, f.metadata());
    EXPECT_TRUE(read_bytes(dir_ / "copy.safetensors") == read_bytes(shared_path(rel)));
  }
}

// ---------------------------------------------------------------- sharded checkpoints

class Sharded : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    a_ = Tensor::full({2, 3}, 1.5, DType::f32);
    b_ = Tensor::full({4}, 7, DType::i64);
    c_ = Tensor::full({3}, 2, DType::bf16);
    save_safetensors(dir_ / "model-00001-of-00002.safetensors", {{"a", a_}, {"b", b_}});
    save_safetensors(dir_ / "model-00002-of-00002.safetensors", {{"c", c_}});
  }
  void write_index(const std::string& weight_map) {
    write_bytes(dir_ / "model.safetensors.index.json",
                R"({"metadata":{"total_size":86,"format":"pt"},"weight_map":)" + weight_map + "}");
  }
  const std::string kMap = R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
                           R"("c":"model-00002-of-00002.safetensors"})";
  Tensor a_, b_, c_;
};

TEST_F(Sharded, IndexResolvesEveryName) {
  write_index(kMap);
  SafetensorsCheckpoint ck(dir_);
  EXPECT_EQ(ck.num_files(), 2u);  // each shard opened once
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ck.file_of("b").filename(), "model-00001-of-00002.safetensors");
  EXPECT_EQ(ck.file_of("c").filename(), "model-00002-of-00002.safetensors");
  EXPECT_EQ(ck.metadata().at("total_size"), "86");  // non-string values kept as JSON text
  EXPECT_EQ(ck.metadata().at("format"), "pt");
  EXPECT_EQ(logical_bytes(ck.get("a")), logical_bytes(a_));
  EXPECT_EQ(logical_bytes(ck.get("c")), logical_bytes(c_));
  EXPECT_THROW(ck.get("d"), IndexError);
  const auto all = load_safetensors(dir_ / "model.safetensors.index.json");
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(logical_bytes(all.at("b")), logical_bytes(b_));
}

TEST_F(Sharded, IndexNamingAMissingTensorIsAFormatError) {
  write_index(R"({"a":"model-00002-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
}

TEST_F(Sharded, IndexEscapingItsFolderIsAFormatError) {
  write_index(R"({"a":"../model-00001-of-00002.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
  write_index(R"({"a":"/etc/passwd"})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
}

TEST_F(Sharded, BrokenIndexes) {
  write_index(R"({"a":"absent.safetensors"})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, IOError);
  write_index(R"({"a":3})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
  write_bytes(dir_ / "model.safetensors.index.json", R"({"weight_map": )");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
  write_bytes(dir_ / "model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, FormatError);
  fs::remove(dir_ / "model.safetensors.index.json");
  EXPECT_THROW(SafetensorsCheckpoint{dir_}, IOError);  // neither index nor model.safetensors
}

}  // namespace
}  // namespace rscapret::testing
