// The C library (api/rscapret.h) on the embedded default model, through its exported symbols only:
// this binary links librscapret.so and nothing else of the project. Results are compared with the
// `rscapret` program's (captions, retrieval), with each other (image sources, batch sizes, threads),
// and every kind of bad input must come back as a status and a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "api/rscapret.h"

namespace {
namespace fs = std::filesystem;

const fs::path kAssets = fs::path(RSCAPRET_SOURCE_DIR) / "assets";
const fs::path kModel = kAssets / "model";
const fs::path kCli = fs::path(RSCAPRET_BINARY_DIR) / "app" / "rscapret";

std::vector<std::string> sample_paths() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kAssets / "samples"))
    if (e.path().extension() == ".png") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A path as one shell word.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << cmd << "\n" << out;
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("rscapret_c_api_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A 24-bit BMP of rgb (w x h, packed), written by hand: an encoded image whose pixels are known.
std::vector<uint8_t> bmp24(const std::vector<uint8_t>& rgb, int w, int h) {
  const int row = (w * 3 + 3) / 4 * 4;
  const uint32_t size = uint32_t(54 + row * h);
  std::vector<uint8_t> b(size, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  put32(2, size);
  put32(10, 54);
  put32(14, 40);
  put32(18, uint32_t(w));
  put32(22, uint32_t(h));
  b[26] = 1;
  b[28] = 24;
  put32(34, uint32_t(row * h));
  for (int y = 0; y < h; ++y)  // bottom-up rows, BGR
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) b[54 + size_t((h - 1 - y) * row + x * 3 + c)] = rgb[size_t((y * w + x) * 3 + 2 - c)];
  return b;
}

std::vector<uint8_t> pattern(int w, int h) {  // packed RGB, varied enough to move the embedding
  std::vector<uint8_t> px(size_t(w) * size_t(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[size_t((y * w + x) * 3)];
      p[0] = uint8_t(x * 255 / w);
      p[1] = uint8_t(y * 255 / h);
      p[2] = uint8_t(((x / 8) + (y / 8)) % 2 ? 200 : 30);
    }
  return px;
}

// Makes an index look built by another model: one hex digit of its bridge hash changed in place.
void give_another_models_hash(const fs::path& file) {
  std::vector<uint8_t> bytes = read_bytes(file);
  const std::string key = "\"model_xxh3\":\"";
  const auto at = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  ASSERT_NE(at, bytes.end());
  uint8_t& digit = *(at + ptrdiff_t(key.size()));
  digit = digit == '0' ? '1' : '0';
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()),
                                                                  std::streamsize(bytes.size()));
}

class CApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(rscapret_model_load(kModel.c_str(), nullptr, &model_), RSCAPRET_OK) << rscapret_last_error();
  }
  static void TearDownTestSuite() {
    rscapret_model_free(model_);
    model_ = nullptr;
  }

  // Captions of files; an empty vector (and a test failure) when the call fails.
  static std::vector<std::string> captions(const std::vector<std::string>& paths, int batch = 8) {
    std::vector<rscapret_image> images;
    for (const auto& p : paths) images.push_back(rscapret_image_file(p.c_str()));
    std::vector<char*> out(paths.size(), nullptr);
    rscapret_caption_options opt;
    rscapret_caption_options_init(&opt);
    opt.batch = batch;
    const rscapret_status s = rscapret_caption(model_, images.data(), images.size(), &opt, out.data());
    EXPECT_EQ(s, RSCAPRET_OK) << rscapret_last_error();
    std::vector<std::string> text;
    for (char* c : out) {
      if (c) text.emplace_back(c);
      rscapret_string_free(c);
    }
    return text;
  }

  static std::vector<float> embed(const std::vector<rscapret_image>& images) {
    std::vector<float> out(images.size() * rscapret_model_embedding_dim(model_));
    EXPECT_EQ(rscapret_embed_images(model_, images.data(), images.size(), out.data(), out.size()), RSCAPRET_OK)
        << rscapret_last_error();
    return out;
  }

  static rscapret_model* model_;
};
rscapret_model* CApi::model_ = nullptr;

TEST_F(CApi, VersionsAndNames) {
  EXPECT_EQ(rscapret_api_version(), RSCAPRET_API_VERSION);
  EXPECT_STRNE(rscapret_version(), "unknown");
  EXPECT_STREQ(rscapret_status_name(RSCAPRET_ERR_FORMAT), "format error");
  EXPECT_GT(rscapret_model_embedding_dim(model_), 0u);
  EXPECT_GT(rscapret_model_image_size(model_), 0);
  EXPECT_EQ(rscapret_model_embedding_dim(nullptr), 0u);
}

TEST_F(CApi, CaptionsEqualTheProgram) {
  const auto paths = sample_paths();
  ASSERT_EQ(paths.size(), 12u);
  const auto got = captions(paths);
  ASSERT_EQ(got.size(), paths.size());
  std::string cmd = quoted(kCli.string()) + " caption --model " + quoted(kModel.string());
  for (const auto& p : paths) cmd += " " + quoted(p);
  const auto want = lines(run(cmd + " 2>/dev/null"));
  ASSERT_EQ(want.size(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(paths[i] + "\t" + got[i], want[i]);
    EXPECT_FALSE(got[i].empty()) << paths[i];
  }
}

// Batching changes the order in which the decoder's products sum (the embedded default runs f32
// weights: OpenBLAS's sgemv for one row, sgemm for several; the 16-bit and q8_0 decode kernels give
// each row the same bits whatever its neighbours, tests/ops), so a near-tie could flip a word; all
// else must agree, in the images' order (measured here: 12 of 12 for every batch size below).
TEST_F(CApi, BatchedCaptionsAgreeWithOneAtATime) {
  const auto paths = sample_paths();
  const auto one = captions(paths, 1);
  ASSERT_EQ(one.size(), paths.size());
  for (int batch : {3, 8, 12}) {
    const auto got = captions(paths, batch);
    ASSERT_EQ(got.size(), paths.size()) << batch;
    size_t same = 0;
    for (size_t i = 0; i < paths.size(); ++i) same += got[i] == one[i];
    EXPECT_GE(same, paths.size() - 1) << "batch " << batch;
  }
}

TEST_F(CApi, ImageSourcesAgree) {
  const std::string path = sample_paths().at(0);
  const std::vector<uint8_t> bytes = read_bytes(path);
  const auto from_file = embed({rscapret_image_file(path.c_str())});
  const auto from_bytes = embed({rscapret_image_encoded(bytes.data(), bytes.size())});
  EXPECT_EQ(from_file, from_bytes);

  // The same pixels as packed RGB, as RGB with padded rows, and as an encoded BMP.
  const int w = 45, h = 37;
  const std::vector<uint8_t> rgb = pattern(w, h);
  const size_t stride = size_t(w) * 3 + 7;
  std::vector<uint8_t> padded(stride * size_t(h - 1) + size_t(w) * 3, 0xAB);
  for (int y = 0; y < h; ++y) std::memcpy(&padded[size_t(y) * stride], &rgb[size_t(y * w * 3)], size_t(w) * 3);
  const std::vector<uint8_t> bmp = bmp24(rgb, w, h);
  const auto packed = embed({rscapret_image_rgb8(rgb.data(), rgb.size(), w, h, 0)});
  EXPECT_EQ(packed, embed({rscapret_image_rgb8(padded.data(), padded.size(), w, h, stride)}));
  EXPECT_EQ(packed, embed({rscapret_image_encoded(bmp.data(), bmp.size())}));
  EXPECT_NE(packed, from_file);
  double norm = 0;
  for (float v : packed) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(CApi, TextEmbeddingsAreNormalisedAndCapacityIsChecked) {
  const size_t dim = rscapret_model_embedding_dim(model_);
  const char* texts[] = {"many buildings and a road", "", "a river"};
  std::vector<float> out(3 * dim, -7.f);
  ASSERT_EQ(rscapret_embed_texts(model_, texts, 3, out.data(), out.size()), RSCAPRET_OK) << rscapret_last_error();
  for (size_t r = 0; r < 3; ++r) {
    double n = 0;
    for (size_t j = 0; j < dim; ++j) n += double(out[r * dim + j]) * out[r * dim + j];
    EXPECT_NEAR(n, 1.0, 1e-5) << r;
  }
  std::vector<float> small(3 * dim - 1, -7.f);
  EXPECT_EQ(rscapret_embed_texts(model_, texts, 3, small.data(), small.size()), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("floats"), std::string::npos) << rscapret_last_error();
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](float v) { return v == -7.f; }));
  const char* with_null[] = {"a", nullptr};
  EXPECT_EQ(rscapret_embed_texts(model_, with_null, 2, out.data(), out.size()), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("texts[1]"), std::string::npos) << rscapret_last_error();
}

TEST_F(CApi, IndexBuildAndSearchEqualTheProgram) {
  const fs::path dir = temp_dir("index");
  const auto paths = sample_paths();
  std::vector<const char*> p;
  for (const auto& s : paths) p.push_back(s.c_str());
  const fs::path file = dir / "samples.safetensors";
  size_t skipped = 99;
  ASSERT_EQ(rscapret_index_build(model_, p.data(), p.size(), file.c_str(), &skipped), RSCAPRET_OK)
      << rscapret_last_error();
  EXPECT_EQ(skipped, 0u);
  size_t files = 0;  // the atomic writer's temporary is gone
  for (const auto& e : fs::directory_iterator(dir)) files += (e.path() == file) ? 1 : 100;
  EXPECT_EQ(files, 1u);
  rscapret_index* index = nullptr;
  ASSERT_EQ(rscapret_index_load(file.c_str(), &index), RSCAPRET_OK) << rscapret_last_error();
  ASSERT_EQ(rscapret_index_size(index), paths.size());
  EXPECT_EQ(std::string(rscapret_index_path(index, 3)), paths[3]);
  EXPECT_EQ(rscapret_index_path(index, paths.size()), nullptr);

  const char* query = "a field next to a river";
  std::vector<rscapret_hit> hits(20);
  size_t n = 0;
  ASSERT_EQ(rscapret_index_search_text(model_, index, query, 3, hits.data(), &n), RSCAPRET_OK)
      << rscapret_last_error();
  ASSERT_EQ(n, 3u);
  const auto want = lines(run(quoted(kCli.string()) + " retrieve " + quoted(query) + " --index " +
                              quoted(file.string()) + " -k 3 2>/dev/null"));
  ASSERT_EQ(want.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    char line[4096];
    std::snprintf(line, sizeof line, "%zu\t%.6f\t%s", r + 1, hits[r].score, hits[r].path);
    EXPECT_EQ(std::string(line), want[r]);
  }
  // k beyond the index: every image, once.
  ASSERT_EQ(rscapret_index_search_text(model_, index, query, 20, hits.data(), &n), RSCAPRET_OK);
  EXPECT_EQ(n, paths.size());

  // An image's own embedding finds it first, at cosine 1.
  const auto e = embed({rscapret_image_file(paths[5].c_str())});
  ASSERT_EQ(rscapret_index_search_embedding(index, e.data(), e.size(), 2, hits.data(), &n), RSCAPRET_OK)
      << rscapret_last_error();
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(hits[0].index, 5u);
  EXPECT_NEAR(hits[0].score, 1.0, 1e-5);
  EXPECT_GE(hits[0].score, hits[1].score);

  std::vector<float> bad = e;
  bad[1] = std::nanf("");
  EXPECT_EQ(rscapret_index_search_embedding(index, bad.data(), bad.size(), 2, hits.data(), &n),
            RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("not finite"), std::string::npos) << rscapret_last_error();
  EXPECT_EQ(rscapret_index_search_embedding(index, e.data(), e.size() - 1, 2, hits.data(), &n),
            RSCAPRET_ERR_INVALID_ARGUMENT);
  rscapret_index_free(index);
  fs::remove_all(dir);
}

// An index whose bridge hash differs (one hex digit changed in its header) is refused by a search.
TEST_F(CApi, IndexOfAnotherModelIsRefused) {
  const fs::path dir = temp_dir("other");
  const auto paths = sample_paths();
  const char* p[] = {paths[0].c_str(), paths[1].c_str()};
  const fs::path file = dir / "two.safetensors";
  ASSERT_EQ(rscapret_index_build(model_, p, 2, file.c_str(), nullptr), RSCAPRET_OK) << rscapret_last_error();
  ASSERT_NO_FATAL_FAILURE(give_another_models_hash(file));
  rscapret_index* index = nullptr;
  ASSERT_EQ(rscapret_index_load(file.c_str(), &index), RSCAPRET_OK) << rscapret_last_error();
  rscapret_hit hits[2];
  size_t n = 7;
  EXPECT_EQ(rscapret_index_search_text(model_, index, "a road", 2, hits, &n), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(n, 0u);
  EXPECT_NE(std::string(rscapret_last_error()).find("another model"), std::string::npos) << rscapret_last_error();
  rscapret_index_free(index);
  fs::remove_all(dir);
}

TEST_F(CApi, BadImagesFailTheCallAndNameTheImage) {
  const auto paths = sample_paths();
  const std::vector<uint8_t> png = read_bytes(paths[0]);
  const std::vector<uint8_t> truncated(png.begin(), png.begin() + ptrdiff_t(png.size() / 2));
  const std::vector<uint8_t> garbage(300, 0x5A);
  const std::vector<uint8_t> rgb = pattern(8, 8);
  struct Case {
    rscapret_image bad;
    rscapret_status status;
    const char* words;
  };
  const Case cases[] = {
      {rscapret_image_encoded(truncated.data(), truncated.size()), RSCAPRET_ERR_FORMAT, "images[1]"},
      {rscapret_image_encoded(garbage.data(), garbage.size()), RSCAPRET_ERR_FORMAT, "images[1]"},
      {rscapret_image_encoded(nullptr, 0), RSCAPRET_ERR_FORMAT, "images[1]"},
      {rscapret_image_file("/nonexistent/x.png"), RSCAPRET_ERR_IO, "/nonexistent/x.png"},
      {rscapret_image_file(nullptr), RSCAPRET_ERR_INVALID_ARGUMENT, "needs a path"},
      {rscapret_image_rgb8(rgb.data(), rgb.size() - 1, 8, 8, 0), RSCAPRET_ERR_INVALID_ARGUMENT, "191 bytes given"},
      {rscapret_image_rgb8(rgb.data(), rgb.size(), 8, 3, SIZE_MAX / 2 + 2), RSCAPRET_ERR_INVALID_ARGUMENT, "need more"},
      {rscapret_image_rgb8(rgb.data(), rgb.size(), 8, 8, 20), RSCAPRET_ERR_INVALID_ARGUMENT, "stride 20"},
      {rscapret_image_rgb8(rgb.data(), rgb.size(), 0, 8, 0), RSCAPRET_ERR_INVALID_ARGUMENT, "positive"},
      {rscapret_image_rgb8(rgb.data(), rgb.size(), 100000, 100000, 0), RSCAPRET_ERR_INVALID_ARGUMENT, "limit"},
      {rscapret_image_rgb8(nullptr, 192, 8, 8, 0), RSCAPRET_ERR_INVALID_ARGUMENT, "no pixel data"},
  };
  for (const Case& c : cases) {
    const rscapret_image images[] = {rscapret_image_file(paths[0].c_str()), c.bad};
    char* out[2] = {reinterpret_cast<char*>(1), reinterpret_cast<char*>(1)};
    EXPECT_EQ(rscapret_caption(model_, images, 2, nullptr, out), c.status) << rscapret_last_error();
    EXPECT_EQ(out[0], nullptr);
    EXPECT_EQ(out[1], nullptr);
    const std::string msg = rscapret_last_error();
    EXPECT_NE(msg.find(c.words), std::string::npos) << msg;
    EXPECT_NE(msg.find("rscapret_caption"), std::string::npos) << msg;
  }
  rscapret_image unknown = rscapret_image_file(paths[0].c_str());
  unknown.kind = static_cast<rscapret_image_kind>(9);
  std::vector<float> e(rscapret_model_embedding_dim(model_));
  EXPECT_EQ(rscapret_embed_images(model_, &unknown, 1, e.data(), e.size()), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("unknown kind"), std::string::npos) << rscapret_last_error();
}

TEST_F(CApi, BadArgumentsGiveAStatusAndAMessage) {
  char* out[1] = {nullptr};
  const std::string path = sample_paths()[0];
  const rscapret_image img = rscapret_image_file(path.c_str());
  EXPECT_EQ(rscapret_caption(nullptr, &img, 1, nullptr, out), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("model must not be NULL"), std::string::npos);
  EXPECT_EQ(rscapret_caption(model_, &img, 1, nullptr, nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rscapret_caption(model_, nullptr, 0, nullptr, nullptr), RSCAPRET_OK);  // nothing to do

  rscapret_caption_options opt;
  rscapret_caption_options_init(&opt);
  opt.batch = 0;
  EXPECT_EQ(rscapret_caption(model_, &img, 1, &opt, out), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("batch"), std::string::npos) << rscapret_last_error();
  rscapret_caption_options_init(&opt);
  opt.max_new_tokens = -3;
  EXPECT_EQ(rscapret_caption(model_, &img, 1, &opt, out), RSCAPRET_ERR_INVALID_ARGUMENT);

  rscapret_model* m = reinterpret_cast<rscapret_model*>(1);
  EXPECT_EQ(rscapret_model_load("/nonexistent/model", nullptr, &m), RSCAPRET_ERR_IO) << rscapret_last_error();
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(rscapret_last_error()).find("/nonexistent/model"), std::string::npos) << rscapret_last_error();
  EXPECT_EQ(rscapret_model_load(nullptr, nullptr, &m), RSCAPRET_ERR_INVALID_ARGUMENT);
  rscapret_model_options mo;
  rscapret_model_options_init(&mo);
  mo.device = "cuda:63";
  EXPECT_EQ(rscapret_model_load(kModel.c_str(), &mo, &m), RSCAPRET_ERR_DEVICE) << rscapret_last_error();
  mo.device = "tpu";
  EXPECT_NE(rscapret_model_load(kModel.c_str(), &mo, &m), RSCAPRET_OK);
  rscapret_model_options_init(&mo);
  mo.quantize = "q4_0";
  EXPECT_EQ(rscapret_model_load(kModel.c_str(), &mo, &m), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("q4_0"), std::string::npos) << rscapret_last_error();
  EXPECT_EQ(m, nullptr);

  EXPECT_EQ(rscapret_set_matmul_precision("fp8"), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rscapret_set_matmul_precision(nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);

  // Not an index: a model's weights, a text file, a missing file.
  const fs::path dir = temp_dir("notindex");
  std::ofstream(dir / "notes.safetensors") << "hello";
  rscapret_index* index = reinterpret_cast<rscapret_index*>(1);
  EXPECT_EQ(rscapret_index_load((kModel / "bridge.safetensors").c_str(), &index), RSCAPRET_ERR_FORMAT);
  EXPECT_NE(std::string(rscapret_last_error()).find("not an index"), std::string::npos) << rscapret_last_error();
  EXPECT_EQ(index, nullptr);
  EXPECT_EQ(rscapret_index_load((dir / "notes.safetensors").c_str(), &index), RSCAPRET_ERR_FORMAT);
  EXPECT_EQ(rscapret_index_load((dir / "missing.safetensors").c_str(), &index), RSCAPRET_ERR_IO);
  const char* none[] = {"/nonexistent/a.png", (dir / "notes.safetensors").c_str()};
  EXPECT_EQ(rscapret_index_build(model_, none, 2, (dir / "i.safetensors").c_str(), nullptr), RSCAPRET_ERR_IO);
  EXPECT_FALSE(fs::exists(dir / "i.safetensors"));
  EXPECT_EQ(rscapret_index_build(model_, none, 0, (dir / "i.safetensors").c_str(), nullptr),
            RSCAPRET_ERR_INVALID_ARGUMENT);
  fs::remove_all(dir);
  rscapret_index_free(nullptr);
  rscapret_model_free(nullptr);
  rscapret_string_free(nullptr);
}

TEST_F(CApi, CallsFromSeveralThreadsGiveTheSequentialResults) {
  const auto paths = sample_paths();
  const std::vector<std::string> a(paths.begin(), paths.begin() + 4), b(paths.begin() + 4, paths.begin() + 8);
  const auto want_a = captions(a), want_b = captions(b);
  std::vector<std::string> got_a, got_b;
  std::thread ta([&] { got_a = captions(a); });
  std::thread tb([&] { got_b = captions(b); });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
}

TEST_F(CApi, LastErrorBelongsToItsThread) {
  EXPECT_EQ(rscapret_set_matmul_precision("fp8"), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_STRNE(rscapret_last_error(), "");
  std::string other = "unset";
  std::thread t([&] { other = rscapret_last_error(); });
  t.join();
  EXPECT_EQ(other, "");
}

TEST_F(CApi, QuantizedDecoderLoadsAndCaptions) {
  rscapret_model_options mo;
  rscapret_model_options_init(&mo);
  mo.quantize = "q8_0";
  rscapret_model* q = nullptr;
  ASSERT_EQ(rscapret_model_load(kModel.c_str(), &mo, &q), RSCAPRET_OK) << rscapret_last_error();
  const auto paths = sample_paths();
  std::vector<rscapret_image> images;
  for (const auto& p : paths) images.push_back(rscapret_image_file(p.c_str()));
  std::vector<char*> out(paths.size(), nullptr);
  ASSERT_EQ(rscapret_caption(q, images.data(), images.size(), nullptr, out.data()), RSCAPRET_OK)
      << rscapret_last_error();
  // The program's --quantize q8_0 on the same images writes the same captions.
  std::string cmd = quoted(kCli.string()) + " caption --quantize q8_0 --model " + quoted(kModel.string());
  for (const auto& p : paths) cmd += " " + quoted(p);
  const auto want = lines(run(cmd + " 2>/dev/null"));
  ASSERT_EQ(want.size(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(paths[i] + "\t" + out[i], want[i]);
    rscapret_string_free(out[i]);
  }
  rscapret_model_free(q);
}

// ---- chat ----

// One turn's reply as the program prints it: "A: text", then "[RET] rank score path" per hit.
std::vector<std::string> printed(const rscapret_chat_reply& r) {
  std::vector<std::string> out(1, "A: ");
  out[0].append(r.text);
  for (size_t i = 0; i < r.n_hits; ++i) {
    char line[4096];
    std::snprintf(line, sizeof line, "[RET] %zu %.6f %s", i + 1, r.hits[i].score, r.hits[i].path);
    out.emplace_back(line);
  }
  return out;
}

// An index of the sample images, built through the library.
fs::path sample_index(rscapret_model* model, const fs::path& dir) {
  const auto paths = sample_paths();
  std::vector<const char*> p;
  for (const auto& s : paths) p.push_back(s.c_str());
  const fs::path file = dir / "samples.safetensors";
  EXPECT_EQ(rscapret_index_build(model, p.data(), p.size(), file.c_str(), nullptr), RSCAPRET_OK)
      << rscapret_last_error();
  return file;
}

// The answers of a chat through the library, turn by turn (a turn starting with "/retrieve " forces
// [RET]); the reply of each turn as printed(), one after the other. per_turn: each turn's lines.
std::vector<std::string> converse(rscapret_chat* chat, const std::vector<std::string>& turns,
                                  std::vector<std::vector<std::string>>* per_turn = nullptr) {
  std::vector<std::string> out;
  for (const std::string& t : turns) {
    const bool force = t.rfind("/retrieve ", 0) == 0;
    rscapret_chat_reply r;
    EXPECT_EQ(rscapret_chat_ask(chat, force ? t.c_str() + 10 : t.c_str(), force, &r), RSCAPRET_OK)
        << rscapret_last_error();
    if (!r.text) continue;
    const std::vector<std::string> lines = printed(r);
    out.insert(out.end(), lines.begin(), lines.end());
    if (per_turn) per_turn->push_back(lines);
    rscapret_chat_reply_free(&r);
  }
  return out;
}

TEST_F(CApi, ChatEqualsTheProgram) {
  const fs::path dir = temp_dir("chat");
  const fs::path file = sample_index(model_, dir);
  rscapret_index* index = nullptr;
  ASSERT_EQ(rscapret_index_load(file.c_str(), &index), RSCAPRET_OK) << rscapret_last_error();
  const auto paths = sample_paths();
  const std::vector<std::string> turns = {"what is in this image?", "/retrieve show me a similar place",
                                          "what else is there?"};

  rscapret_chat* chat = nullptr;
  ASSERT_EQ(rscapret_chat_new(model_, nullptr, &chat), RSCAPRET_OK) << rscapret_last_error();
  ASSERT_EQ(rscapret_chat_set_index(chat, index), RSCAPRET_OK) << rscapret_last_error();
  rscapret_index_free(index);  // the chat keeps its own reference
  const rscapret_image img = rscapret_image_file(paths[2].c_str());
  ASSERT_EQ(rscapret_chat_add_image(chat, &img), RSCAPRET_OK) << rscapret_last_error();
  std::vector<std::vector<std::string>> replies;
  const std::vector<std::string> got = converse(chat, turns, &replies);

  std::string input;
  for (const auto& t : turns) input += t + "\n";
  std::ofstream(dir / "turns.txt") << input;
  const auto want = lines(run(quoted(kCli.string()) + " chat --model " + quoted(kModel.string()) + " --index " +
                              quoted(file.string()) + " --image " + quoted(paths[2]) + " < " +
                              quoted((dir / "turns.txt").string()) + " 2>/dev/null"));
  EXPECT_EQ(got, want);
  // The forced retrieval returned the default three images, best first.
  ASSERT_EQ(replies.size(), 3u);
  ASSERT_EQ(replies[1].size(), 4u);
  for (size_t i = 1; i <= 3; ++i)
    EXPECT_EQ(replies[1][i].rfind("[RET] " + std::to_string(i) + " ", 0), 0u) << replies[1][i];

  // After a reset the same turns on the same image give the same answers.
  ASSERT_EQ(rscapret_chat_reset(chat), RSCAPRET_OK);
  ASSERT_EQ(rscapret_chat_add_image(chat, &img), RSCAPRET_OK);
  EXPECT_EQ(converse(chat, turns), got);
  rscapret_chat_free(chat);
  fs::remove_all(dir);
}

TEST_F(CApi, ChatRepliesAndFailuresLeaveTheConversationWhole) {
  const auto paths = sample_paths();
  const rscapret_image img = rscapret_image_file(paths[0].c_str());
  rscapret_chat_options opt;
  rscapret_chat_options_init(&opt);
  EXPECT_EQ(opt.max_new_tokens, 32);
  EXPECT_EQ(opt.top_k_images, 3);
  opt.max_new_tokens = 6;

  // A chat outlives the model handle it was made from.
  rscapret_model* own = nullptr;
  ASSERT_EQ(rscapret_model_load(kModel.c_str(), nullptr, &own), RSCAPRET_OK) << rscapret_last_error();
  rscapret_chat* chat = nullptr;
  ASSERT_EQ(rscapret_chat_new(own, &opt, &chat), RSCAPRET_OK) << rscapret_last_error();
  rscapret_model_free(own);
  ASSERT_EQ(rscapret_chat_add_image(chat, &img), RSCAPRET_OK) << rscapret_last_error();

  // Bad images fail and leave the conversation as it was: the answer equals a fresh chat's.
  const std::vector<uint8_t> png = read_bytes(paths[1]);
  const std::vector<uint8_t> truncated(png.begin(), png.begin() + ptrdiff_t(png.size() / 2));
  const rscapret_image bad = rscapret_image_encoded(truncated.data(), truncated.size());
  EXPECT_EQ(rscapret_chat_add_image(chat, &bad), RSCAPRET_ERR_FORMAT);
  const rscapret_image missing = rscapret_image_file("/nonexistent/x.png");
  EXPECT_EQ(rscapret_chat_add_image(chat, &missing), RSCAPRET_ERR_IO);
  EXPECT_NE(std::string(rscapret_last_error()).find("/nonexistent/x.png"), std::string::npos) << rscapret_last_error();
  rscapret_chat_reply r;
  EXPECT_EQ(rscapret_chat_ask(chat, nullptr, 0, &r), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(r.text, nullptr);
  EXPECT_EQ(rscapret_chat_ask(chat, "what is it?", 0, nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);
  const std::vector<std::string> got = converse(chat, {"what is it?"});

  rscapret_chat* fresh = nullptr;
  ASSERT_EQ(rscapret_chat_new(model_, &opt, &fresh), RSCAPRET_OK);
  ASSERT_EQ(rscapret_chat_add_image(fresh, &img), RSCAPRET_OK);
  EXPECT_EQ(converse(fresh, {"what is it?"}), got);
  rscapret_chat_free(fresh);

  // Without an index a forced retrieval is reported as requested, with no hits.
  ASSERT_EQ(rscapret_chat_ask(chat, "show me one", 1, &r), RSCAPRET_OK) << rscapret_last_error();
  EXPECT_EQ(r.retrieval_requested, 1);
  EXPECT_EQ(r.n_hits, 0u);
  EXPECT_NE(r.stop, nullptr);
  EXPECT_GT(r.positions, 0u);
  EXPECT_EQ(r.over_context, 0);
  rscapret_chat_reply_free(&r);
  EXPECT_EQ(r.text, nullptr);
  rscapret_chat_reply_free(&r);  // twice: a zeroed reply
  rscapret_chat_reply_free(nullptr);
  rscapret_chat_free(chat);
  rscapret_chat_free(nullptr);

  // Sampling is seeded: the same seed gives the same answer.
  opt.temperature = 1.0;
  opt.top_p = 0.9;
  opt.seed = 42;
  std::vector<std::string> sampled[2];
  for (auto& s : sampled) {
    ASSERT_EQ(rscapret_chat_new(model_, &opt, &chat), RSCAPRET_OK);
    ASSERT_EQ(rscapret_chat_add_image(chat, &img), RSCAPRET_OK);
    s = converse(chat, {"describe it", "and then?"});
    rscapret_chat_free(chat);
  }
  EXPECT_EQ(sampled[0], sampled[1]);

  // Bad options and arguments.
  rscapret_chat_options_init(&opt);
  chat = reinterpret_cast<rscapret_chat*>(1);
  EXPECT_EQ(rscapret_chat_new(nullptr, &opt, &chat), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(chat, nullptr);
  opt.max_new_tokens = 0;
  EXPECT_EQ(rscapret_chat_new(model_, &opt, &chat), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("max_new_tokens"), std::string::npos) << rscapret_last_error();
  rscapret_chat_options_init(&opt);
  opt.top_p = 0;
  EXPECT_EQ(rscapret_chat_new(model_, &opt, &chat), RSCAPRET_ERR_INVALID_ARGUMENT);
  rscapret_chat_options_init(&opt);
  opt.temperature = std::nan("");
  EXPECT_EQ(rscapret_chat_new(model_, &opt, &chat), RSCAPRET_ERR_INVALID_ARGUMENT);
  rscapret_chat_options_init(&opt);
  opt.top_k_images = -1;
  EXPECT_EQ(rscapret_chat_new(model_, &opt, &chat), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(chat, nullptr);
  EXPECT_EQ(rscapret_chat_new(model_, nullptr, nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rscapret_chat_add_image(nullptr, &img), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rscapret_chat_set_index(nullptr, nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rscapret_chat_reset(nullptr), RSCAPRET_ERR_INVALID_ARGUMENT);
}

// An index built by another model (its bridge hash changed) is refused by set_index.
TEST_F(CApi, ChatRefusesTheIndexOfAnotherModel) {
  const fs::path dir = temp_dir("chat_other");
  const fs::path file = sample_index(model_, dir);
  ASSERT_NO_FATAL_FAILURE(give_another_models_hash(file));
  rscapret_index* index = nullptr;
  ASSERT_EQ(rscapret_index_load(file.c_str(), &index), RSCAPRET_OK) << rscapret_last_error();
  rscapret_chat* chat = nullptr;
  ASSERT_EQ(rscapret_chat_new(model_, nullptr, &chat), RSCAPRET_OK);
  EXPECT_EQ(rscapret_chat_set_index(chat, index), RSCAPRET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rscapret_last_error()).find("another model"), std::string::npos) << rscapret_last_error();
  EXPECT_EQ(rscapret_chat_set_index(chat, nullptr), RSCAPRET_OK);  // no index: allowed
  rscapret_index_free(index);
  rscapret_chat_free(chat);
  fs::remove_all(dir);
}

}  // namespace
