// Smoke tests of `rscapret train bridge`, `caption`, `index` and `retrieve` on the tiny backbones:
// a 4-image Karpathy dataset of random BMPs (plus one corrupt file that must be skipped).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "tensor/safetensors.h"
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
  // A broken image among others: reported and skipped, the others captioned, the exit status non-zero.
  const auto [rc_x, out_x] = run("caption " + (images / "0.bmp").string() + " " + (images / "broken.bmp").string() +
                                 " " + (images / "1.bmp").string() + " --model " + model + " --max-new-tokens 5 --batch 2");
  EXPECT_NE(rc_x, 0) << out_x;
  EXPECT_NE(out_x.find("skipping " + (images / "broken.bmp").string()), std::string::npos) << out_x;
  EXPECT_NE(out_x.find("0.bmp\t"), std::string::npos) << out_x;
  EXPECT_NE(out_x.find("1.bmp\t"), std::string::npos) << out_x;
  EXPECT_NE(out_x.find("1 of 3 images could not be read"), std::string::npos) << out_x;

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

// The commands that run frozen weights (those taking --matmul-precision and --quantize), pointed
// at a missing model: an option error must come before the model is looked for.
std::vector<std::string> frozen_weight_commands(const std::string& missing) {
  return {"caption x.png --model " + missing, "eval --model " + missing + " --data d.json:.",
          "chat --model " + missing, "retrieve --image x.png --texts t.txt --model " + missing,
          "demo --assets " + missing, "forward --model " + missing + " --inputs x --output y",
          "train bridge --clip " + missing + " --llama " + missing + " --data d.json:. --out " + missing};
}

void expect_refused(const std::vector<std::string>& commands, const std::string& option, const std::string& message) {
  for (const std::string& c : commands) {
    const auto [rc, out] = run(c + " " + option);
    EXPECT_NE(rc, 0) << c;
    EXPECT_NE(out.find(message), std::string::npos) << c << "\n" << out;
  }
}

// `rscapret caption` of the embedded default's sample images with `options`; nullopt when the
// assets are absent.
std::optional<std::pair<int, std::string>> caption_samples(const std::string& options) {
  const fs::path assets = fs::path(RSCAPRET_SOURCE_DIR) / "assets";
  if (!fs::exists(assets / "model/bridge.safetensors")) return std::nullopt;
  std::string images;
  for (const auto& e : fs::directory_iterator(assets / "samples"))
    if (e.path().extension() == ".png") images += " " + e.path().string();
  return run("caption --model " + (assets / "model").string() + " " + options + images);
}

// {caption lines, lines equal} between two caption outputs (a "quantized ..." report line, from
// stderr merged into the output, is not a caption).
std::pair<int, int> compare_captions(const std::string& a, const std::string& b) {
  const auto captions = [](const std::string& out) {
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);)
      if (l.rfind("quantized ", 0) != 0) lines.push_back(l);
    return lines;
  };
  const std::vector<std::string> la = captions(a), lb = captions(b);
  int same = 0;
  for (size_t i = 0; i < std::min(la.size(), lb.size()); ++i) same += la[i] == lb[i];
  return {int(std::min(la.size(), lb.size())), same};
}

// --matmul-precision: a name other than f32/bf16/int8 is refused by every command that takes it;
// bf16 products caption the embedded default's samples (on a CPU without AVX-512 BF16 the f32
// path runs, so the captions are the same by construction there).
TEST(RsCapRetCli, MatmulPrecisionOption) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const std::string missing = (temp_dir("cli_precision") / "no-model").string();
  std::vector<std::string> commands = frozen_weight_commands(missing);
  commands.push_back("index . -o i.safetensors --model " + missing);
  expect_refused(commands, "--matmul-precision tf32", "--matmul-precision: tf32 not in {f32,bf16,int8}");
  const auto f32 = caption_samples(""), bf16 = caption_samples("--matmul-precision bf16");
  if (!f32) GTEST_SKIP() << "no embedded default model in assets/";
  ASSERT_EQ(f32->first, 0) << f32->second;
  ASSERT_EQ(bf16->first, 0) << bf16->second;
  const auto [lines, same] = compare_captions(f32->second, bf16->second);
  EXPECT_GE(lines, 12);
  // bf16 rounding may flip a close greedy choice; most captions must survive it.
  EXPECT_GE(same * 4, lines * 3) << "f32:\n" << f32->second << "bf16:\n" << bf16->second;
}

// --batch: the embedded default's samples captioned one at a time and 8 at a time agree (its f32
// products sum in another order for several rows, so a near-tie could flip a word; measured: 12 of
// 12 equal); 0 is refused.
TEST(RsCapRetCli, CaptionBatchOption) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const auto one = caption_samples("--batch 1"), eight = caption_samples("--batch 8");
  if (!one) GTEST_SKIP() << "no embedded default model in assets/";
  ASSERT_EQ(one->first, 0) << one->second;
  ASSERT_EQ(eight->first, 0) << eight->second;
  const auto [lines, same] = compare_captions(one->second, eight->second);
  EXPECT_EQ(lines, 12);
  EXPECT_GE(same, 11) << "one at a time:\n" << one->second << "8 at a time:\n" << eight->second;
  const auto zero = caption_samples("--batch 0");
  EXPECT_NE(zero->first, 0) << zero->second;
  EXPECT_NE(zero->second.find("--batch"), std::string::npos) << zero->second;
}

// --quantize: a name other than none/q8_0 is refused by every command that takes it; q8_0 captions
// the embedded default's samples, with f32 and with int8 activations (measured: 11 of 12 captions
// unchanged, the twelfth differs by a word).
TEST(RsCapRetCli, QuantizeOption) {
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const std::string missing = (temp_dir("cli_quantize") / "no-model").string();
  expect_refused(frozen_weight_commands(missing), "--quantize q4_0", "--quantize: q4_0 not in {none,q8_0}");
  const auto f32 = caption_samples("");
  if (!f32) GTEST_SKIP() << "no embedded default model in assets/";
  ASSERT_EQ(f32->first, 0) << f32->second;
  for (const std::string options : {"--quantize q8_0", "--quantize q8_0 --matmul-precision int8"}) {
    const auto q8 = caption_samples(options);
    ASSERT_EQ(q8->first, 0) << q8->second;
    EXPECT_NE(q8->second.find("quantized 29 linear layers to q8_0"), std::string::npos) << q8->second;
    const auto [lines, same] = compare_captions(f32->second, q8->second);
    EXPECT_GE(lines, 12);
    EXPECT_GE(same * 4, lines * 3) << options << "\nf32:\n" << f32->second << "q8_0:\n" << q8->second;
  }
}

// `rscapret quantize`: a q8_0 LLaMA folder that `forward` runs as any other, giving exactly what
// `forward --quantize q8_0` gives on the source (the same codes, mapped instead of computed).
TEST(RsCapRetCli, QuantizeCommand) {
  RSCAPRET_REQUIRE_TINY();
  if (!fs::exists(fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret")) GTEST_SKIP() << "rscapret binary not built";
  const fs::path tmp = temp_dir("cli_quantize_cmd");
  const std::string src = shared_path("fixtures/hf/llama_tiny").string(), out = (tmp / "q8").string();
  const auto [rc, log] = run("quantize --model " + src + " --out " + out);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("quantized 15 linear layers to q8_0"), std::string::npos) << log;
  EXPECT_LT(fs::file_size(fs::path(out) / "model.safetensors"), fs::file_size(fs::path(src) / "model.safetensors"));
  save_safetensors(tmp / "in.safetensors", {{"input_ids", Tensor::from_vector<int64_t>({1, 5, 9, 2}, {1, 4})}});
  const auto [rc_a, log_a] = run("forward --model " + out + " --inputs " + (tmp / "in.safetensors").string() +
                                 " --output " + (tmp / "a.safetensors").string());
  const auto [rc_b, log_b] = run("forward --model " + src + " --quantize q8_0 --inputs " +
                                 (tmp / "in.safetensors").string() + " --output " + (tmp / "b.safetensors").string());
  ASSERT_EQ(rc_a, 0) << log_a;
  ASSERT_EQ(rc_b, 0) << log_b;
  const auto a = load_safetensors(tmp / "a.safetensors"), b = load_safetensors(tmp / "b.safetensors");
  EXPECT_EQ(a.at("logits").to_vector<float>(), b.at("logits").to_vector<float>());
  // Into the source however spelled, or any folder with files: refused, nothing written.
  for (const std::string& to : {out, out + "/", src}) {
    const auto [rc_same, log_same] = run("quantize --model " + out + " --out " + to);
    EXPECT_NE(rc_same, 0) << to;
    EXPECT_NE(log_same.find("must be a new or empty folder"), std::string::npos) << log_same;
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace rscapret::testing
