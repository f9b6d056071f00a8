// Smoke tests of `rscapret train bridge`, `caption`, `index` and `retrieve` on the tiny backbones:
// a 4-image Karpathy dataset of random BMPs (plus one corrupt file that must be skipped).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/common/run_cli.h"
#include "tests/rscapret/rscapret_test_util.h"

namespace rscapret::testing {
namespace {
namespace fs = std::filesystem;

// A 24-bit uncompressed BMP (bottom-up rows; 32 px rows need no padding).
void write_bmp(const fs::path& p, int w, int h, uint32_t seed) {
  std::vector<uint8_t> px(size_t(w * h * 3));
  for (auto& v : px) v = uint8_t((seed = seed * 1664525u + 1013904223u) >> 24);
  std::ofstream f(p, std::ios::binary);
  auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f.write("BM", 2);
  u32(uint32_t(54 + px.size())); u32(0); u32(54);
  u32(40); u32(uint32_t(w)); u32(uint32_t(h)); u16(1); u16(24); u32(0); u32(uint32_t(px.size()));
  u32(2835); u32(2835); u32(0); u32(0);
  f.write(reinterpret_cast<const char*>(px.data()), std::streamsize(px.size()));
}

using testing::run_rscapret;
const auto run = run_rscapret;

TEST(RsCapRetCli, TrainCaptionIndexRetrieve) {
  RSCAPRET_REQUIRE_TINY();
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const fs::path tmp = temp_dir("cli");
  const fs::path images = tmp / "images";
  fs::create_directories(images);
  nlohmann::json ds = {{"dataset", "tiny"}, {"images", nlohmann::json::array()}};
  const auto& caps = tiny_captions();
  for (int i = 0; i < 4; ++i) {
    write_bmp(images / (std::to_string(i) + ".bmp"), 32, 32, uint32_t(i + 1));
    ds["images"].push_back({{"filename", std::to_string(i) + ".bmp"}, {"split", i < 3 ? "train" : "val"},
                            {"imgid", i}, {"sentences", {{{"raw", caps[size_t(i)]}}}}});
  }
  std::ofstream(images / "broken.bmp") << "not an image";
  ds["images"].push_back({{"filename", "broken.bmp"}, {"split", "train"}, {"imgid", 9},
                          {"sentences", {{{"raw", "a broken file"}}}}});
  std::ofstream(tmp / "data.json") << ds.dump();
  const fs::path tok = write_tiny_tokenizer(tmp);
  const std::string model = (tmp / "model").string();

  const auto [rc, out] = run("train bridge --clip " + shared_path("fixtures/hf/clip_tiny").string() + " --llama " +
                             shared_path("fixtures/hf/llama_tiny").string() + " --tokenizer " + tok.string() +
                             " --backbone-dtype f32 --data " + (tmp / "data.json").string() + ":" + images.string() +
                             " --out " + model + " --steps 4 --batch 2 --warmup 2 --retrieval-dim 16 --bleu-images 1");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("skipping"), std::string::npos) << "the corrupt image is reported: " << out;
  EXPECT_NE(out.find("t2i_r1"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(fs::path(model) / "bridge.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(model) / "log.csv"));

  // Resume to 6 steps, with bf16 products (on a CPU with AVX-512 BF16 the frozen backbones'
  // forward and the backward through them multiply in bf16; elsewhere the option changes nothing).
  const auto [rc_r, out_r] = run("train bridge --clip " + shared_path("fixtures/hf/clip_tiny").string() + " --llama " +
                                 shared_path("fixtures/hf/llama_tiny").string() + " --tokenizer " + tok.string() +
                                 " --backbone-dtype f32 --data " + (tmp / "data.json").string() + ":" +
                                 images.string() + " --out " + model +
                                 " --steps 6 --batch 2 --warmup 2 --retrieval-dim 16 --bleu-images 1 --resume --quiet"
                                 " --matmul-precision bf16");
  ASSERT_EQ(rc_r, 0) << out_r;
  EXPECT_NE(out_r.find("resumed at step 4"), std::string::npos) << out_r;

  // Two more steps with the frozen decoder in q8_0: the bridge's gradients flow back through the
  // quantized layers (linear_q8's input gradient) to the visual prefix.
  const auto [rc_q8, out_q8] = run("train bridge --clip " + shared_path("fixtures/hf/clip_tiny").string() + " --llama " +
                                   shared_path("fixtures/hf/llama_tiny").string() + " --tokenizer " + tok.string() +
                                   " --backbone-dtype f32 --data " + (tmp / "data.json").string() + ":" +
                                   images.string() + " --out " + model +
                                   " --steps 8 --batch 2 --warmup 2 --retrieval-dim 16 --bleu-images 1 --resume --quiet"
                                   " --quantize q8_0");
  ASSERT_EQ(rc_q8, 0) << out_q8;
  EXPECT_NE(out_q8.find("resumed at step 6"), std::string::npos) << out_q8;
  EXPECT_NE(out_q8.find("quantized 15 linear layers to q8_0"), std::string::npos) << out_q8;

  const auto [rc_c, out_c] = run("caption " + (images / "0.bmp").string() + " " + (images / "1.bmp").string() +
                                 " --model " + model + " --max-new-tokens 5");
  ASSERT_EQ(rc_c, 0) << out_c;
  EXPECT_NE(out_c.find("0.bmp\t"), std::string::npos) << out_c;
  EXPECT_NE(out_c.find("1.bmp\t"), std::string::npos) << out_c;
  const auto [rc_b, out_b] = run("caption " + (images / "0.bmp").string() + " --model " + model +
                                 " --beam 2 --max-new-tokens 5");
  ASSERT_EQ(rc_b, 0) << out_b;

  const std::string index = (tmp / "index.safetensors").string();
  const auto [rc_i, out_i] = run("index " + images.string() + " -o " + index + " --model " + model + " --device cpu");
  ASSERT_EQ(rc_i, 0) << out_i;
  EXPECT_NE(out_i.find("indexed 4 images (1 skipped)"), std::string::npos) << out_i;
  const auto [rc_q, out_q] = run("retrieve \"a red roof\" --index " + index + " -k 3 --device cpu");
  ASSERT_EQ(rc_q, 0) << out_q;
  int lines = 0;
  for (char c : out_q) lines += c == '\n';
  EXPECT_EQ(lines, 3) << out_q;
  EXPECT_EQ(out_q.rfind("1\t", 0), 0u) << out_q;

  // pack: a self-contained folder with a manifest, the corrupt image left out of the samples.
  const fs::path assets = tmp / "assets";
  const auto [rc_p, out_p] = run("pack --model " + model + " --out " + assets.string() + " --data " +
                                 (tmp / "data.json").string() + ":" + images.string() + " --split train --samples 3");
  ASSERT_EQ(rc_p, 0) << out_p;
  EXPECT_NE(out_p.find("skipping broken.bmp"), std::string::npos) << out_p;
  for (const char* f : {"MANIFEST.json", "model/bridge.json", "model/bridge.safetensors", "model/clip/model.safetensors",
                        "model/llama/model.safetensors", "model/llama/tokenizer.json", "samples/samples.json"})
    EXPECT_TRUE(fs::exists(assets / f)) << f;
  const auto samples = nlohmann::json::parse(std::ifstream(assets / "samples/samples.json"));
  EXPECT_EQ(samples["images"].size(), 3u);
  EXPECT_EQ(samples["queries"].size(), 3u);
  // The packed copy still captions, from its new place (relative backbone paths).
  fs::rename(assets, tmp / "moved");
  const auto [rc_m, out_m] = run("caption " + (images / "0.bmp").string() + " --model " + (tmp / "moved/model").string() +
                                 " --max-new-tokens 5");
  ASSERT_EQ(rc_m, 0) << out_m;

  // demo on the packed folder: captions, three queries, a two-turn chat, demo.html.
  const fs::path html = tmp / "demo.html";
  const auto [rc_d, out_d] = run("demo --assets " + (tmp / "moved").string() + " --html " + html.string() + " -k 2");
  ASSERT_EQ(rc_d, 0) << out_d;
  for (const char* want : {"== Captions (3 sample images)", "== Text -> image retrieval", "== Chat about", "Q: what is in this image?",
                           "[RET]", "wrote "})
    EXPECT_NE(out_d.find(want), std::string::npos) << want << " in\n" << out_d;
  std::stringstream page;
  page << std::ifstream(html).rdbuf();
  EXPECT_EQ(page.str().rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page.str().find("data:image/bmp;base64,"), std::string::npos);
  EXPECT_NE(page.str().find("id=\"chat\""), std::string::npos);
  // A damaged asset is refused with the manifest's complaint, not used.
  std::ofstream(tmp / "moved/model/bridge.safetensors", std::ios::app) << "x";
  const auto [rc_bad, out_bad] = run("demo --assets " + (tmp / "moved").string() + " --html " + html.string());
  EXPECT_NE(rc_bad, 0);
  EXPECT_NE(out_bad.find("hash or size differs: model/bridge.safetensors"), std::string::npos) << out_bad;
  fs::remove_all(tmp);
}

// Every command that runs a model takes --device; a device the machine lacks, or a name that is no
// device, is refused with a clear error before any model is loaded (the model folder does not exist).
TEST(RsCapRetCli, DeviceOptionIsCheckedFirst) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const std::string missing = (temp_dir("cli_device") / "no-model").string();
  const std::vector<std::string> commands = {
      "caption x.png --model " + missing,
      "eval --model " + missing + " --data d.json:.",
      "index . -o i.safetensors --model " + missing,
      "retrieve --image x.png --texts t.txt --model " + missing,
      "chat --model " + missing,
      "demo --assets " + missing,
      "forward --model " + missing + " --inputs x --output y",
      "train bridge --clip " + missing + " --llama " + missing + " --data d.json:. --out " + missing,
      "train lm --data d.json --tokenizer " + missing + " --out " + missing,
      "train clip --data d.json:. --tokenizer " + missing + " --out " + missing,
  };
  for (const std::string& c : commands) {
    const auto [rc_gpu, out_gpu] = run(c + " --device cuda:64");
    EXPECT_NE(rc_gpu, 0) << c;
    EXPECT_NE(out_gpu.find("--device cuda:64: this machine has"), std::string::npos) << c << "\n" << out_gpu;
    const auto [rc_bad, out_bad] = run(c + " --device tpu");
    EXPECT_NE(rc_bad, 0) << c;
    EXPECT_NE(out_bad.find("cannot parse 'tpu'"), std::string::npos) << c << "\n" << out_bad;
  }
}

// --matmul-precision: a name other than f32/bf16 is refused by every command that takes it; bf16
// products caption the embedded default's samples (on a CPU without AVX-512 BF16 the f32 path
// runs, so the captions are the same by construction there).
TEST(RsCapRetCli, MatmulPrecisionOption) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const std::string missing = (temp_dir("cli_precision") / "no-model").string();
  for (const std::string& c : {"caption x.png --model " + missing, "eval --model " + missing + " --data d.json:.",
                               "index . -o i.safetensors --model " + missing, "chat --model " + missing,
                               "retrieve --image x.png --texts t.txt --model " + missing, "demo --assets " + missing,
                               "forward --model " + missing + " --inputs x --output y",
                               "train bridge --clip " + missing + " --llama " + missing + " --data d.json:. --out " + missing}) {
    const auto [rc, out] = run(c + " --matmul-precision tf32");
    EXPECT_NE(rc, 0) << c;
    EXPECT_NE(out.find("--matmul-precision: tf32 not in {f32,bf16,int8}"), std::string::npos) << c << "\n" << out;
  }
  const fs::path assets = fs::path(RSCAPRET_SOURCE_DIR) / "assets";
  if (!fs::exists(assets / "model/bridge.safetensors")) GTEST_SKIP() << "no embedded default model in " << assets;
  std::string images;
  for (const auto& e : fs::directory_iterator(assets / "samples"))
    if (e.path().extension() == ".png") images += " " + e.path().string();
  const auto [rc_f32, f32] = run("caption --model " + (assets / "model").string() + images);
  const auto [rc_bf16, bf16] = run("caption --model " + (assets / "model").string() + " --matmul-precision bf16" + images);
  ASSERT_EQ(rc_f32, 0) << f32;
  ASSERT_EQ(rc_bf16, 0) << bf16;
  std::istringstream a(f32), b(bf16);
  std::string la, lb;
  int lines = 0, same = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    ++lines;
    same += la == lb;
  }
  EXPECT_GE(lines, 12);
  // bf16 rounding may flip a close greedy choice; most captions must survive it.
  EXPECT_GE(same * 4, lines * 3) << "f32:\n" << f32 << "bf16:\n" << bf16;
}

// --quantize: a name other than none/q8_0 is refused by every command that takes it; q8_0 captions
// the embedded default's samples (measured: 11 of 12 captions unchanged, the twelfth differs by a
// word).
TEST(RsCapRetCli, QuantizeOption) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const std::string missing = (temp_dir("cli_quantize") / "no-model").string();
  for (const std::string& c : {"caption x.png --model " + missing, "eval --model " + missing + " --data d.json:.",
                               "chat --model " + missing, "retrieve --image x.png --texts t.txt --model " + missing,
                               "demo --assets " + missing, "forward --model " + missing + " --inputs x --output y",
                               "train bridge --clip " + missing + " --llama " + missing + " --data d.json:. --out " + missing}) {
    const auto [rc, out] = run(c + " --quantize q4_0");
    EXPECT_NE(rc, 0) << c;
    EXPECT_NE(out.find("--quantize: q4_0 not in {none,q8_0}"), std::string::npos) << c << "\n" << out;
  }
  const fs::path assets = fs::path(RSCAPRET_SOURCE_DIR) / "assets";
  if (!fs::exists(assets / "model/bridge.safetensors")) GTEST_SKIP() << "no embedded default model in " << assets;
  std::string images;
  for (const auto& e : fs::directory_iterator(assets / "samples"))
    if (e.path().extension() == ".png") images += " " + e.path().string();
  const auto [rc_f32, f32] = run("caption --model " + (assets / "model").string() + images);
  const auto [rc_q8, q8] = run("caption --model " + (assets / "model").string() + " --quantize q8_0" + images);
  ASSERT_EQ(rc_f32, 0) << f32;
  ASSERT_EQ(rc_q8, 0) << q8;
  EXPECT_NE(q8.find("quantized 29 linear layers to q8_0"), std::string::npos) << q8;
  std::istringstream a(f32), b(q8);
  std::string la, lb;
  int lines = 0, same = 0;
  while (std::getline(b, lb)) {
    if (lb.rfind("quantized ", 0) == 0) continue;  // the report on stderr, merged into the output
    if (!std::getline(a, la)) break;
    ++lines;
    same += la == lb;
  }
  EXPECT_GE(lines, 12);
  EXPECT_GE(same * 4, lines * 3) << "f32:\n" << f32 << "q8_0:\n" << q8;
}

}  // namespace
}  // namespace rscapret::testing
