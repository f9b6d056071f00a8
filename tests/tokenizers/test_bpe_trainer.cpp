// BPE trainer (models/tokenizers/bpe_trainer.h): merges on a corpus small enough to work out by
// hand, determinism, loading the written files with our own loaders, round trips, byte fallback,
// the vocabulary limit, bad input, `rscapret train tokenizer`.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/tokenizers/bpe_trainer.h"
#include "tests/common/run_cli.h"
#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "tensor/error.h"
#include "tests/tokenizers/tokenizer_test_util.h"

using rscapret::testing::read_text;
using namespace rscapret::tokenizers;
namespace fs = std::filesystem;

namespace {

const std::string kSp = "\xE2\x96\x81";  // "▁"

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("rscapret_bpe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

BpeTrainOptions opts(int64_t vocab, int64_t max_merges = -1, int64_t min_count = 2) {
  BpeTrainOptions o;
  o.vocab_size = vocab;
  o.max_merges = max_merges;
  o.min_pair_count = min_count;
  return o;
}

LlamaTokenizer load_llama(const LlamaTokenizerFiles& f) { return LlamaTokenizer::from_hf_json(f.tokenizer_json, "<trained>"); }
ClipTokenizer load_clip(const ClipTokenizerFiles& f) {
  return ClipTokenizer::from_hf_vocab_merges(f.vocab_json, f.merges_txt, "<trained>");
}

std::vector<std::string> model_merges(const LlamaTokenizerFiles& f) {
  const auto j = nlohmann::json::parse(f.tokenizer_json);
  return j["model"]["merges"].get<std::vector<std::string>>();
}

// Aerial-style captions from a fixed grammar: frequent function words, a few dozen content words.
std::vector<std::string> synthetic_captions(size_t n, uint32_t seed) {
  const std::vector<std::string> det = {"a", "the", "two", "three", "some", "many"};
  const std::vector<std::string> adj = {"red", "white", "large", "small", "green", "dense", "sparse", "grey"};
  const std::vector<std::string> obj = {"buildings", "houses", "trees", "cars", "roads", "ships", "planes",
                                        "tanks", "courts", "fields"};
  const std::vector<std::string> rel = {"near", "beside", "around", "along", "between"};
  const std::vector<std::string> place = {"river", "harbor", "runway", "farmland", "parking lot", "forest"};
  std::mt19937 rng(seed);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string s = (rng() % 2 ? "There are " : "Many ") + pick(det) + " " + pick(adj) + " " + pick(obj) + " " +
                    pick(rel) + " the " + pick(place);
    if (rng() % 3 == 0) s += " , with " + std::to_string(rng() % 40) + " " + pick(obj);
    out.push_back(s + " .");
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- hand-computed merges

// Words "▁ab" x3 and "▁abc" x2. Pair counts: (▁,a)=5, (a,b)=5, (b,c)=2. The tie at 5 goes to the
// pair whose left spelling sorts first bytewise: "a" (0x61) < "▁" (0xE2..), so "a b", then
// "▁ ab" (5), then "▁ab c" (2). Characters by frequency, code point on ties: a b ▁ (5 each), c.
TEST(BpeTrainer, LlamaHandComputedMerges) {
  const std::vector<std::string> texts = {"ab ab ab", "abc abc"};
  const auto f = train_llama_tokenizer(texts, opts(0));
  EXPECT_EQ(model_merges(f), (std::vector<std::string>{"a b", kSp + " ab", kSp + "ab c"}));
  EXPECT_EQ(f.stats.merges, 3);
  EXPECT_EQ(f.stats.base_symbols, 4);
  EXPECT_EQ(f.stats.pieces, 259 + 3 + 4);
  EXPECT_EQ(f.stats.words, 5);
  EXPECT_EQ(f.stats.distinct_words, 2);
  EXPECT_DOUBLE_EQ(f.stats.coverage, 1.0);
  EXPECT_DOUBLE_EQ(f.stats.tokens_per_text, 2.5);  // 3 + 2 words, each one token

  const LlamaTokenizer t = load_llama(f);
  ASSERT_EQ(t.vocab_size(), 266);
  EXPECT_EQ(t.piece(0), "<unk>");
  EXPECT_EQ(t.piece(1), "<s>");
  EXPECT_EQ(t.piece(2), "</s>");
  EXPECT_EQ(t.piece(3), "<0x00>");
  EXPECT_EQ(t.piece(258), "<0xFF>");
  EXPECT_EQ(t.piece_type(3), PieceType::kByte);
  const std::vector<std::string> want = {"ab", kSp + "ab", kSp + "abc", "a", "b", kSp, "c"};
  for (int32_t i = 0; i < 7; ++i) EXPECT_EQ(t.piece(259 + i), want[size_t(i)]) << i;
  EXPECT_EQ(t.encode("ab abc"), (std::vector<int32_t>{260, 261}));
  EXPECT_EQ(t.encode("ab abc", true, true), (std::vector<int32_t>{1, 260, 261, 2}));
  EXPECT_EQ(t.encode("abc ab"), (std::vector<int32_t>{261, 260}));
  EXPECT_EQ(t.encode("cab"), (std::vector<int32_t>{264, 265, 259}));  // ▁ c ab: no "▁c" merge
  EXPECT_EQ(t.encode("bab"), (std::vector<int32_t>{264, 263, 259}));  // ▁ b ab
  EXPECT_EQ(t.decode(t.encode("abc ab cab")), "abc ab cab");
}

// Same corpus, CLIP words "ab" x3 and "abc" x2 as bytes: a b</w> | a b c</w>. Pair counts:
// (a,b</w>)=3, (a,b)=2, (b,c</w>)=2; the tie goes to left "a" < "b". Merges get ids 512.., then
// <|startoftext|> and <|endoftext|>.
TEST(BpeTrainer, ClipHandComputedMerges) {
  const std::vector<std::string> texts = {"ab ab ab", "ABC abc"};  // cleaned: lowercased
  const auto f = train_clip_tokenizer(texts, opts(0));
  EXPECT_EQ(f.merges_txt, "#version: 0.2\na b</w>\na b\nab c</w>\n");
  EXPECT_EQ(f.stats.pieces, 514 + 3);
  EXPECT_EQ(f.stats.merges, 3);
  const ClipTokenizer t = load_clip(f);
  ASSERT_EQ(t.vocab_size(), 517);
  EXPECT_EQ(t.token(0), "!");
  EXPECT_EQ(t.token(256), "!</w>");
  EXPECT_EQ(t.token(512), "ab</w>");
  EXPECT_EQ(t.token(513), "ab");
  EXPECT_EQ(t.token(514), "abc</w>");
  EXPECT_EQ(t.start_id(), 515);
  EXPECT_EQ(t.end_id(), 516);
  EXPECT_EQ(t.encode("ab ABC"), (std::vector<int32_t>{515, 512, 514, 516}));
  // An unseen letter: 'd' is byte symbol 100 - 33 = 67, so "d</w>" is 256 + 67.
  EXPECT_EQ(t.token(323), "d</w>");
  EXPECT_EQ(t.encode("abd"), (std::vector<int32_t>{515, 513, 323, 516}));
  // The file loads the same way through ClipTokenizer::load.
  const fs::path dir = fresh_dir("clip_hand");
  write_clip_tokenizer(f, dir);
  const ClipTokenizer u = ClipTokenizer::load(dir / "vocab.json");
  EXPECT_EQ(u.encode("ab abc abd"), t.encode("ab abc abd"));
  fs::remove_all(dir);
}

// A pair seen once is not merged (min_pair_count 2), but its characters still get pieces.
TEST(BpeTrainer, RarePairsAreNotMerged) {
  const std::vector<std::string> texts = {"ab ab ab", "abc abc", "xyz"};
  const auto f = train_llama_tokenizer(texts, opts(0));
  EXPECT_EQ(model_merges(f), (std::vector<std::string>{"a b", kSp + " ab", kSp + "ab c"}));
  const LlamaTokenizer t = load_llama(f);
  const auto ids = t.encode("xyz");
  ASSERT_EQ(ids.size(), 4u);  // ▁ x y z, no byte pieces
  for (const int32_t id : ids) EXPECT_EQ(t.piece_type(id), PieceType::kNormal);
  // With min_pair_count 1 every word ends up one token.
  const auto g = train_llama_tokenizer(texts, opts(0, -1, 1));
  EXPECT_DOUBLE_EQ(g.stats.coverage, 1.0);
  EXPECT_EQ(load_llama(g).encode("xyz").size(), 1u);
}

// ---------------------------------------------------------------- determinism, limits

TEST(BpeTrainer, Deterministic) {
  const auto texts = synthetic_captions(3000, 7);
  const auto a = train_llama_tokenizer(texts, opts(512));
  const auto b = train_llama_tokenizer(texts, opts(512));
  EXPECT_EQ(a.tokenizer_json, b.tokenizer_json);
  const auto c = train_clip_tokenizer(texts, opts(700));
  const auto d = train_clip_tokenizer(texts, opts(700));
  EXPECT_EQ(c.vocab_json, d.vocab_json);
  EXPECT_EQ(c.merges_txt, d.merges_txt);
  // Written files are the same bytes as the strings.
  const fs::path dir = fresh_dir("det");
  write_llama_tokenizer(a, dir);
  write_clip_tokenizer(c, dir);
  EXPECT_EQ(read_text(dir / "tokenizer.json"), a.tokenizer_json);
  EXPECT_EQ(read_text(dir / "vocab.json"), c.vocab_json);
  EXPECT_EQ(read_text(dir / "merges.txt"), c.merges_txt);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 3u) << "no temporary files left behind";
  fs::remove_all(dir);
}

TEST(BpeTrainer, VocabSizeLimit) {
  const auto texts = synthetic_captions(2000, 3);
  // This grammar saturates (every word one piece) near 450 LLaMA pieces: limits below that bind.
  const int64_t saturated = train_llama_tokenizer(texts, opts(0)).stats.pieces;
  EXPECT_GT(saturated, 420);
  EXPECT_EQ(train_llama_tokenizer(texts, opts(saturated + 100)).stats.pieces, saturated);
  for (const int64_t v : {300, 400, 420}) {
    const auto f = train_llama_tokenizer(texts, opts(v));
    EXPECT_EQ(f.stats.pieces, v);
    EXPECT_EQ(load_llama(f).vocab_size(), v);
    EXPECT_EQ(f.stats.pieces, 259 + f.stats.base_symbols + f.stats.merges);
  }
  for (const int64_t v : {514, 515, 600}) {
    const auto f = train_clip_tokenizer(texts, opts(v));
    EXPECT_EQ(f.stats.pieces, v);
    EXPECT_EQ(load_clip(f).vocab_size(), v);
  }
  // max_merges caps too, whichever is smaller wins.
  EXPECT_EQ(train_clip_tokenizer(texts, opts(600, 10)).stats.merges, 10);
  EXPECT_EQ(train_llama_tokenizer(texts, opts(0, 25)).stats.merges, 25);
  // Without limits training stops when no pair occurs twice: then every word seen twice is one token.
  const auto all = train_clip_tokenizer(texts, opts(0));
  EXPECT_DOUBLE_EQ(all.stats.coverage, 1.0);
  EXPECT_GT(all.stats.pieces, 600);
}

// ---------------------------------------------------------------- loaders, round trips

TEST(BpeTrainer, LlamaLoadsEncodesAndRoundTrips) {
  const auto texts = synthetic_captions(2000, 11);
  const auto f = train_llama_tokenizer(texts, opts(400));
  const fs::path dir = fresh_dir("llama_rt");
  write_llama_tokenizer(f, dir);
  const LlamaTokenizer t = LlamaTokenizer::load(dir / "tokenizer.json");
  EXPECT_EQ(t.vocab_size(), 400);
  EXPECT_TRUE(t.add_dummy_prefix());
  double tokens = 0;
  for (const auto& s : texts) {
    const auto ids = t.encode(s);
    tokens += double(ids.size());
    for (const int32_t id : ids) ASSERT_NE(t.piece_type(id), PieceType::kByte) << "byte fallback in '" << s << "'";
    ASSERT_EQ(t.decode(ids), s);
  }
  // The loader's rank-ordered encoding reproduces the trainer's segmentation exactly.
  EXPECT_DOUBLE_EQ(tokens / double(texts.size()), f.stats.tokens_per_text);
  // Frequent words are single pieces.
  for (const char* w : {"There", "are", "the", "buildings", "near"}) {
    const auto ids = t.encode(w);
    EXPECT_EQ(ids.size(), 1u) << w;
    EXPECT_EQ(t.piece(ids[0]), kSp + w);
  }
  EXPECT_GT(f.stats.coverage, 0.7);  // 78% at 400 pieces; 100% once the grammar saturates
  fs::remove_all(dir);
}

TEST(BpeTrainer, LlamaUnseenCharactersFallBackToBytes) {
  const auto f = train_llama_tokenizer(synthetic_captions(500, 5), opts(400));
  const LlamaTokenizer t = load_llama(f);
  const std::string text = "red \xC3\xA9t\xC3\xA9 Q\xE6\x97\xA5";  // "red été Q日": é, Q and 日 unseen
  const auto ids = t.encode(text);
  std::vector<int32_t> bytes;
  for (const int32_t id : ids)
    if (t.piece_type(id) == PieceType::kByte) bytes.push_back(id);
  // é twice (2 bytes each), Q (1), 日 (3): byte piece ids are 3 + byte value.
  EXPECT_EQ(bytes, (std::vector<int32_t>{3 + 0xC3, 3 + 0xA9, 3 + 0xC3, 3 + 0xA9, 3 + 'Q', 3 + 0xE6, 3 + 0x97, 3 + 0xA5}));
  EXPECT_EQ(t.decode(ids), text);
  EXPECT_EQ(t.piece(ids[0]), kSp + "red");
}

TEST(BpeTrainer, LlamaNonAsciiTrainingTextGetsPieces) {
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) texts.push_back("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC 2024");  // "café 日本 2024"
  texts.push_back(std::string("bad \xFF byte"));  // ill-formed: read as U+FFFD, which gets a piece
  const auto f = train_llama_tokenizer(texts, opts(0));
  const LlamaTokenizer t = load_llama(f);
  for (const auto& s : texts)
    for (const int32_t id : t.encode(s)) EXPECT_NE(t.piece_type(id), PieceType::kByte) << s;
  const auto ids = t.encode(texts[0]);
  // "▁café" and "▁日本" are whole; digits stay single ("▁2" 0 2 4): never merged with each other.
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(t.piece(ids[0]), kSp + "caf\xC3\xA9");
  EXPECT_EQ(t.piece(ids[1]), kSp + "\xE6\x97\xA5\xE6\x9C\xAC");
  EXPECT_EQ(t.piece(ids[2]), kSp + "2");
  EXPECT_EQ(t.piece(ids[3]), "0");
  EXPECT_EQ(t.decode(ids), texts[0]);
}

TEST(BpeTrainer, ClipLoadsEncodesAndRoundTrips) {
  const auto texts = synthetic_captions(2000, 13);
  const auto f = train_clip_tokenizer(texts, opts(0));
  const fs::path dir = fresh_dir("clip_rt");
  write_clip_tokenizer(f, dir);
  ASSERT_TRUE(read_text(dir / "merges.txt").starts_with("#version"));
  const ClipTokenizer t = ClipTokenizer::load(dir / "vocab.json");
  EXPECT_EQ(t.vocab_size(), f.stats.pieces);
  double tokens = 0;
  for (const auto& s : texts) {
    const auto ids = t.encode(s);
    tokens += double(ids.size() - 2);
    // Words are space-separated here, so decoding gives the cleaned text, each word's "</w>" as
    // " " (CLIP splits numbers into digits, so "29" decodes as "2 9").
    const std::string cleaned = ClipTokenizer::clean_text(s);
    std::string spaced;
    for (size_t i = 0; i < cleaned.size(); ++i) {
      spaced += cleaned[i];
      if (std::isdigit(static_cast<unsigned char>(cleaned[i])) && i + 1 < cleaned.size() &&
          std::isdigit(static_cast<unsigned char>(cleaned[i + 1])))
        spaced += ' ';
    }
    ASSERT_EQ(t.decode(ids), spaced + " ");
  }
  EXPECT_DOUBLE_EQ(tokens / double(texts.size()), f.stats.tokens_per_text);
  for (const char* w : {"there", "are", "the", "buildings", "near", ","}) {
    const auto ids = t.encode(w);
    ASSERT_EQ(ids.size(), 3u) << w;
    EXPECT_EQ(t.token(ids[1]), std::string(w) + "</w>");
  }
  fs::remove_all(dir);
}

TEST(BpeTrainer, ClipUnseenCharactersFallBackToByteSymbols) {
  const auto f = train_clip_tokenizer(synthetic_captions(500, 5), opts(800));
  const ClipTokenizer t = load_clip(f);
  const auto ids = t.encode("red \xE6\x97\xA5 q");  // 日 (3 bytes) and q never seen
  ASSERT_EQ(ids.size(), 2u + 1 + 3 + 1);
  EXPECT_EQ(t.token(ids[1]), "red</w>");
  for (int k = 2; k < 5; ++k) EXPECT_LT(ids[size_t(k)], 512) << "a byte symbol";
  EXPECT_GE(ids[4], 256) << "the last byte of the word carries </w>";
  EXPECT_EQ(t.token(ids[5]), "q</w>");
  EXPECT_EQ(t.decode(ids), "red \xE6\x97\xA5 q ");
}

// ---------------------------------------------------------------- errors

TEST(BpeTrainer, BadInputIsAClearError) {
  const std::vector<std::string> none;
  const std::vector<std::string> empty = {"", ""};
  EXPECT_THROW(train_llama_tokenizer(none, opts(512)), rscapret::ValueError);
  EXPECT_THROW(train_llama_tokenizer(empty, opts(512)), rscapret::ValueError);
  EXPECT_THROW(train_clip_tokenizer(std::vector<std::string>{" ", "\t\n"}, opts(600)), rscapret::ValueError);
  try {
    train_llama_tokenizer(none, opts(512));
  } catch (const rscapret::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("empty corpus"), std::string::npos) << e.what();
  }
  // The hand corpus needs 259 + 4 pieces before any merge.
  const std::vector<std::string> texts = {"ab ab ab", "abc abc"};
  EXPECT_NO_THROW(train_llama_tokenizer(texts, opts(263)));
  EXPECT_EQ(train_llama_tokenizer(texts, opts(263)).stats.merges, 0);
  try {
    train_llama_tokenizer(texts, opts(262));
    ADD_FAILURE() << "vocab size 262 accepted";
  } catch (const rscapret::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("base alphabet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("263"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_clip_tokenizer(texts, opts(513)), rscapret::ValueError);
  EXPECT_EQ(train_clip_tokenizer(texts, opts(514)).stats.merges, 0);
  EXPECT_THROW(train_clip_tokenizer(texts, opts(600, -1, 0)), rscapret::ValueError);
  EXPECT_THROW(train_llama_tokenizer(texts, opts(-5)), rscapret::ValueError);
}

// ---------------------------------------------------------------- scale

// 100k captions: the word table keeps this fast; the loader agrees with the trainer's counts.
TEST(BpeTrainer, HundredThousandCaptions) {
  const auto texts = synthetic_captions(100000, 21);
  const auto t0 = std::chrono::steady_clock::now();
  const auto f = train_llama_tokenizer(texts, opts(1024));
  const auto t1 = std::chrono::steady_clock::now();
  const auto c = train_clip_tokenizer(texts, opts(1024));
  const auto t2 = std::chrono::steady_clock::now();
  std::printf("100k captions: llama %.3f s, clip %.3f s\n", std::chrono::duration<double>(t1 - t0).count(),
              std::chrono::duration<double>(t2 - t1).count());
  EXPECT_EQ(f.stats.texts, 100000);
  EXPECT_EQ(c.stats.texts, 100000);
  EXPECT_LE(f.stats.pieces, 1024);
  EXPECT_LE(c.stats.pieces, 1024);
  EXPECT_DOUBLE_EQ(f.stats.coverage, 1.0);  // the grammar saturates below 1024: every word one piece
  // Every caption through the loaders: the same token total as the trainer's segmentation.
  const LlamaTokenizer t = load_llama(f);
  const ClipTokenizer u = load_clip(c);
  double lt = 0, ct = 0;
  for (const auto& s : texts) {
    lt += double(t.encode(s).size());
    ct += double(u.encode(s).size() - 2);
  }
  EXPECT_DOUBLE_EQ(lt / double(texts.size()), f.stats.tokens_per_text);
  EXPECT_DOUBLE_EQ(ct / double(texts.size()), c.stats.tokens_per_text);
}

// ---------------------------------------------------------------- the CLI

const auto run_cli = rscapret::testing::run_rscapret;

TEST(BpeTrainer, Cli) {
  const fs::path bin = fs::path(RSCAPRET_BINARY_DIR) / "app/rscapret";
  if (!fs::exists(bin)) GTEST_SKIP() << "rscapret binary not built";
  const fs::path dir = fresh_dir("cli");
  const auto caps = synthetic_captions(400, 9);
  nlohmann::json ds = {{"dataset", "tiny"}, {"images", nlohmann::json::array()}};
  for (size_t i = 0; i < 100; ++i) {
    nlohmann::json sents = nlohmann::json::array();
    for (size_t k = 0; k < 4; ++k) sents.push_back({{"raw", caps[i * 4 + k]}});
    ds["images"].push_back({{"filename", std::to_string(i) + ".png"}, {"split", i < 80 ? "train" : "test"},
                            {"imgid", i}, {"sentences", sents}});
  }
  std::ofstream(dir / "data.json") << ds.dump();

  const auto [rc, out] = run_cli("train tokenizer --data " + (dir / "data.json").string() +
                                 " --kind llama --vocab-size 300 --out " + (dir / "llama").string());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("llama tokenizer: 300 pieces"), std::string::npos) << out;
  EXPECT_NE(out.find("320 captions"), std::string::npos) << "train split only: " << out;
  EXPECT_EQ(LlamaTokenizer::load(dir / "llama" / "tokenizer.json").vocab_size(), 300);

  const auto [rc2, out2] = run_cli("train tokenizer --data " + (dir / "data.json").string() + ":" + dir.string() +
                                   " --kind clip --vocab-size 600 --split test --out " + (dir / "clip").string());
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("clip tokenizer: 600 pieces"), std::string::npos) << out2;
  EXPECT_NE(out2.find("80 captions"), std::string::npos) << out2;
  EXPECT_EQ(ClipTokenizer::load(dir / "clip" / "vocab.json").vocab_size(), 600);

  const auto [rc3, out3] = run_cli("train tokenizer --data " + (dir / "data.json").string() +
                                   " --kind clip --vocab-size 100 --out " + (dir / "bad").string());
  EXPECT_EQ(rc3, 1) << out3;
  EXPECT_NE(out3.find("base alphabet"), std::string::npos) << out3;
  const auto [rc4, out4] = run_cli("train tokenizer --data " + (dir / "data.json").string() +
                                   " --split nosuch --out " + (dir / "bad").string());
  EXPECT_EQ(rc4, 1) << out4;
  EXPECT_NE(out4.find("no captions"), std::string::npos) << out4;
  fs::remove_all(dir);
}
