// CLIP byte-level BPE: exact ids (and the truncated + padded form) against CLIP's own tokenizer,
// HF vocab.json/merges.txt loading, decoding, cleanup, malformed files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/io.h"
#include "models/tokenizers/text_clean.h"
#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/tokenizers/tokenizer_test_util.h"

using rscapret::testing::read_lines;
using rscapret::testing::shared_path;
using rscapret::tokenizers::ClipTokenizer;

namespace {

constexpr const char* kBpe = "fixtures/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz";
constexpr const char* kRef = "fixtures/tokenizers/clip/reference_tokenizations.jsonl";

const ClipTokenizer& clip() {
  static const ClipTokenizer t = ClipTokenizer::load(shared_path(kBpe));
  return t;
}

}  // namespace

TEST(ClipTokenizer, LoadsMerges) {
  RSCAPRET_REQUIRE_SHARED(kBpe);
  EXPECT_EQ(clip().vocab_size(), 49408);
  EXPECT_EQ(clip().start_id(), 49406);
  EXPECT_EQ(clip().end_id(), 49407);
  EXPECT_EQ(clip().token(320), "a</w>");
  EXPECT_EQ(clip().token(0), "!");
  EXPECT_EQ(clip().token(256), "!</w>");
}

TEST(ClipTokenizer, ReferenceTokenizationsExact) {
  RSCAPRET_REQUIRE_SHARED(kBpe);
  RSCAPRET_REQUIRE_SHARED(kRef);
  size_t n = 0, truncated = 0;
  for (const auto& line : read_lines(shared_path(kRef))) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string text = j["text"];
    const auto want = j["ids"].get<std::vector<int32_t>>();
    const auto ids = clip().encode(text);
    ASSERT_EQ(ids, want) << "line " << n << ": '" << text << "'";
    EXPECT_EQ(static_cast<int64_t>(ids.size()), j["n"].get<int64_t>());
    const auto padded = clip().encode_padded(text);
    ASSERT_EQ(padded.size(), 77u);
    if (!j["ids_ctx77_truncated_padded"].is_null()) {
      EXPECT_EQ(padded, j["ids_ctx77_truncated_padded"].get<std::vector<int32_t>>()) << "line " << n;
      EXPECT_EQ(padded.back(), 49407);
      ++truncated;
    } else {
      std::vector<int32_t> expect = want;
      expect.resize(77, 0);
      EXPECT_EQ(padded, expect);
    }
    EXPECT_EQ(clip().decode(ids), j["decoded"].get<std::string>()) << "line " << n;
    if (j["ids_ctx77_truncated_padded"].is_null()) EXPECT_EQ(clip().decode(padded), clip().decode(ids));
    ++n;
  }
  EXPECT_EQ(n, 721u);
  EXPECT_GE(truncated, 1u);
}

TEST(ClipTokenizer, PreTokenizerPattern) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(ClipTokenizer::split_words("it's 3.14 don't!'s"),
            (V{"it", "'s", "3", ".", "1", "4", "don", "'t", "!'", "s"}));
  EXPECT_EQ(ClipTokenizer::split_words("<|startoftext|>ab<|endoftext|>"),
            (V{"<|startoftext|>", "ab", "<|endoftext|>"}));
  EXPECT_EQ(ClipTokenizer::split_words("日本語 ٣٤ café"), (V{"日本語", "٣", "٤", "café"}));
  EXPECT_EQ(ClipTokenizer::split_words("a😀😀b"), (V{"a", "😀😀", "b"}));
}

TEST(ClipTokenizer, CleanText) {
  using rscapret::tokenizers::clip_clean_text;
  EXPECT_EQ(clip_clean_text("  Hello \t\n  WORLD  "), "hello world");
  EXPECT_EQ(clip_clean_text("&amp;amp; &lt;b&gt; &#65;&#x42; &nbsp;x"), "& <b> ab x");
  EXPECT_EQ(clip_clean_text("It\u2019s \u201Cquoted\u201D \uFB01ne \uFF21\uFF22"), "it's \"quoted\" fine ab");
  EXPECT_EQ(clip_clean_text("ΟΔΟΣ"), "οδος");
  EXPECT_EQ(clip_clean_text("a\x01\x7f" "b"), "ab");
  EXPECT_EQ(clip_clean_text("\xFF"), "\uFFFD");
}

TEST(ClipTokenizer, HfVocabMergesMatchGz) {
  RSCAPRET_REQUIRE_SHARED(kBpe);
  RSCAPRET_REQUIRE_SHARED(kRef);
  // Build vocab.json + merges.txt (the Hugging Face layout) from the CLIP file and load them.
  const std::string text = rscapret::tokenizers::read_gzip_file(shared_path(kBpe));
  nlohmann::json vocab = nlohmann::json::object();
  for (int32_t id = 0; id < clip().vocab_size(); ++id) vocab[clip().token(id)] = id;
  std::string merges = "#version: 0.2\n";
  size_t pos = text.find('\n') + 1;
  for (int k = 0; k < 48894; ++k) {
    const size_t eol = text.find('\n', pos);
    merges += text.substr(pos, eol - pos) + "\n";
    pos = eol + 1;
  }
  const auto hf = ClipTokenizer::from_hf_vocab_merges(vocab.dump(), merges, "generated vocab.json");
  for (const auto& line : read_lines(shared_path(kRef))) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_EQ(hf.encode(j["text"].get<std::string>()), j["ids"].get<std::vector<int32_t>>());
  }
}

TEST(ClipTokenizer, RandomUtf8NeverCrashesAndDecodes) {
  RSCAPRET_REQUIRE_SHARED(kBpe);
  std::mt19937 rng(99);
  for (int it = 0; it < 2000; ++it) {
    const std::string s = rscapret::testing::random_utf8(rng, 40);
    const auto ids = clip().encode(s);
    ASSERT_GE(ids.size(), 2u);
    const std::string d = clip().decode(ids);
    ASSERT_TRUE(rscapret::tokenizers::utf8_is_valid(d));
    // Decoding gives the cleaned text back, words separated by spaces: re-encoding is stable.
    ASSERT_EQ(clip().encode(d), ids) << "iteration " << it;
  }
  EXPECT_NO_THROW(clip().encode("\xFF\xFE\xC3(\xE2\x82"));
  EXPECT_TRUE(rscapret::tokenizers::utf8_is_valid(clip().decode(std::vector<int32_t>{188, 189})));
  EXPECT_THROW(clip().decode(std::vector<int32_t>{49408}), rscapret::IndexError);
}

TEST(ClipTokenizer, MalformedFilesGiveTypedErrors) {
  using rscapret::FormatError;
  EXPECT_THROW(ClipTokenizer::from_merges_text("", "empty"), FormatError);
  EXPECT_THROW(ClipTokenizer::from_merges_text("#version\na b\n", "short"), FormatError);
  EXPECT_THROW(ClipTokenizer::from_merges_text("#version\na b c\n", "3 fields", 1), FormatError);
  EXPECT_THROW(ClipTokenizer::from_merges_text("#version\nab c\n", "unknown token", 1), FormatError);
  EXPECT_THROW(ClipTokenizer::from_merges_text("#v\n\xFF b\n", "not utf8", 1), FormatError);
  EXPECT_THROW(ClipTokenizer::from_hf_json("[]", "array.json"), FormatError);
  EXPECT_THROW(ClipTokenizer::from_hf_vocab_merges("{\"a\":0}", "", "no bytes"), FormatError);
  EXPECT_THROW(ClipTokenizer::load("/nonexistent/bpe.txt.gz"), rscapret::IOError);
  // A tiny valid file: header plus one merge ("a" + "b</w>").
  const auto t = ClipTokenizer::from_merges_text("#version\na b</w>\n", "tiny", 1);
  EXPECT_EQ(t.vocab_size(), 515);
  EXPECT_EQ(t.encode("AB ab"), (std::vector<int32_t>{513, 512, 512, 514}));
}
