// LLaMA SentencePiece BPE: exact ids against llama.cpp's and sentencepiece's reference outputs,
// tokenizer.json and llama2.c loaders, special tokens, round trips, malformed files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "models/tokenizers/llama_tokenizer.h"
#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/tokenizers/tokenizer_test_util.h"

using rscapret::testing::read_lines;
using rscapret::testing::read_text;
using rscapret::testing::shared_path;
using rscapret::tokenizers::LlamaTokenizer;
using rscapret::tokenizers::PieceType;

namespace {

constexpr const char* kModel = "fixtures/tokenizers/llama/tokenizer.model";

const LlamaTokenizer& llama() {
  static const LlamaTokenizer t = LlamaTokenizer::load(shared_path(kModel));
  return t;
}

std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> ids;
  std::istringstream in(line);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

// llama.cpp's test-tokenizer-0 format: cases separated by "\n__ggml_vocab_test__\n" in .inp, one
// line of space-separated ids (no BOS) per case in .out.
std::vector<std::pair<std::string, std::vector<int32_t>>> llama_cpp_cases() {
  const std::string inp = read_text(shared_path("fixtures/tokenizers/llama/ggml-vocab-llama-spm.gguf.inp"));
  const auto out = read_lines(shared_path("fixtures/tokenizers/llama/ggml-vocab-llama-spm.gguf.out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) { texts.push_back(inp.substr(pos)); break; }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::pair<std::string, std::vector<int32_t>>> cases;
  for (size_t i = 0; i < texts.size() && i < out.size(); ++i) cases.emplace_back(texts[i], parse_ids(out[i]));
  EXPECT_EQ(texts.size(), out.size());
  return cases;
}

std::vector<nlohmann::json> reference_lines() {
  std::vector<nlohmann::json> v;
  for (const auto& l : read_lines(shared_path("fixtures/tokenizers/llama/reference_tokenizations.jsonl")))
    if (!l.empty()) v.push_back(nlohmann::json::parse(l));
  return v;
}

// A tokenizer.json in the layout of Hugging Face's Llama-2 conversion, built from the
// SentencePiece model: vocab = pieces, merges = every split of a piece into two pieces, ordered
// by the merged piece's score (what the HF converter does).
std::string make_hf_json(const LlamaTokenizer& t) {
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
  std::vector<std::tuple<int32_t, int32_t, int32_t>> merges;  // (merged, left, right)
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    const std::string& p = t.piece(id);
    vocab[p] = id;
    if (t.piece_type(id) == PieceType::kControl || t.piece_type(id) == PieceType::kUnknown)
      added.push_back({{"id", id}, {"content", p}, {"special", true}});
    if (t.piece_type(id) != PieceType::kNormal) continue;
    for (size_t k = 1; k < p.size(); ++k) {
      const int32_t l = t.piece_to_id(p.substr(0, k)), r = t.piece_to_id(p.substr(k));
      if (l >= 0 && r >= 0 && t.piece_type(l) == PieceType::kNormal && t.piece_type(r) == PieceType::kNormal)
        merges.emplace_back(id, l, r);
    }
  }
  std::sort(merges.begin(), merges.end(), [&](const auto& a, const auto& b) {
    const float sa = t.score(std::get<0>(a)), sb = t.score(std::get<0>(b));
    if (sa != sb) return sa > sb;
    return a < b;
  });
  nlohmann::json jm = nlohmann::json::array();
  for (const auto& [m, l, r] : merges) jm.push_back(t.piece(l) + " " + t.piece(r));
  nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {
           {{"type", "Prepend"}, {"prepend", "\u2581"}},
           {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
                 {"vocab", vocab}, {"merges", jm}}}};
  return j.dump();
}

}  // namespace

TEST(LlamaTokenizer, LoadsModelProto) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  const auto& t = llama();
  EXPECT_EQ(t.vocab_size(), 32000);
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.piece(13), "<0x0A>");
  EXPECT_EQ(t.piece_type(13), PieceType::kByte);
  EXPECT_EQ(t.piece(29871), "\u2581");
  EXPECT_TRUE(t.add_dummy_prefix());
}

TEST(LlamaTokenizer, LlamaCppCasesExact) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  RSCAPRET_REQUIRE_SHARED("fixtures/tokenizers/llama/ggml-vocab-llama-spm.gguf.inp");
  const auto cases = llama_cpp_cases();
  ASSERT_EQ(cases.size(), 46u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [text, want] = cases[i];
    EXPECT_EQ(llama().encode(text), want) << "case " << i << ": '" << text << "'";
    // sentencepiece's decode gives the text back for all of these (identity normalizer).
    EXPECT_EQ(llama().decode(want), text) << "case " << i;
  }
}

TEST(LlamaTokenizer, ReferenceTokenizationsExact) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  RSCAPRET_REQUIRE_SHARED("fixtures/tokenizers/llama/reference_tokenizations.jsonl");
  const auto lines = reference_lines();
  ASSERT_EQ(lines.size(), 721u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& j = lines[i];
    const std::string text = j["text"];
    const auto want = j["ids_no_bos"].get<std::vector<int32_t>>();
    const auto ids = llama().encode(text);
    ASSERT_EQ(ids, want) << "line " << i << ": '" << text << "'";
    const auto pieces = j["pieces"].get<std::vector<std::string>>();
    for (size_t k = 0; k < ids.size(); ++k) EXPECT_EQ(llama().piece(ids[k]), pieces[k]) << "line " << i;
    EXPECT_EQ(llama().decode(want), j["decoded"].get<std::string>()) << "line " << i;
    const auto with = llama().encode(text, true, true);
    ASSERT_EQ(with.size(), want.size() + 2);
    EXPECT_EQ(with.front(), 1);
    EXPECT_EQ(with.back(), 2);
  }
}

TEST(LlamaTokenizer, RoundTripRandomUtf8) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  std::mt19937 rng(1234);
  for (int it = 0; it < 3000; ++it) {
    const std::string s = rscapret::testing::random_utf8(rng, 40);
    const auto ids = llama().encode(s);
    ASSERT_EQ(llama().decode(ids), s) << "iteration " << it;
  }
  // Long whitespace runs and mixed scripts in one string.
  const std::string mix = std::string(300, ' ') + "\t\t\n\n 日本語 😀👍🏽 e\u0301 x" + std::string(70, '\n');
  EXPECT_EQ(llama().decode(llama().encode(mix)), mix);
  // "▁" in the input reads as a space, as in sentencepiece.
  EXPECT_EQ(llama().encode("a\u2581b"), llama().encode("a b"));
}

TEST(LlamaTokenizer, InvalidUtf8NeverCrashes) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  const std::string bad = "ab\xFF\xC3(\xE2\x82 \xF0\x9F\x98";
  const auto ids = llama().encode(bad);
  EXPECT_FALSE(ids.empty());
  const std::string text = llama().decode(ids);
  EXPECT_TRUE(rscapret::tokenizers::utf8_is_valid(text));
  // Lone byte pieces decode to U+FFFD, not to invalid UTF-8.
  EXPECT_EQ(llama().decode(std::vector<int32_t>{3 + 0xE2, 3 + 0x82}), "\uFFFD");
  EXPECT_EQ(llama().decode(std::vector<int32_t>{3 + 0xE2, 3 + 0x82, 3 + 0xAC}), "\u20AC");
  EXPECT_THROW(llama().decode(std::vector<int32_t>{32000}), rscapret::IndexError);
  EXPECT_THROW(llama().decode(std::vector<int32_t>{-1}), rscapret::IndexError);
}

TEST(LlamaTokenizer, AddedSpecialTokenNeverFromPlainText) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  LlamaTokenizer t = llama();
  const int32_t ret = t.add_special_token("[RET]");
  EXPECT_EQ(ret, 32000);
  EXPECT_EQ(t.add_special_token("[RET]"), 32000);
  const std::string text = "a photo [RET] of[RET]";
  const auto plain = t.encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), ret), 0);
  EXPECT_EQ(plain, llama().encode(text));  // same as without the token
  const auto special = t.encode_with_special(text);
  EXPECT_EQ(std::count(special.begin(), special.end(), ret), 2);
  auto expect = t.encode("a photo ");
  expect.push_back(ret);
  const auto mid = t.encode_with_special(" of");  // " of" after a special token: no dummy prefix
  EXPECT_EQ(special[expect.size() - 1], ret);
  EXPECT_EQ(t.decode(special), text);
  EXPECT_EQ(t.decode(special, /*skip_special=*/true), "a photo  of");
  (void)mid;
}

TEST(LlamaTokenizer, HfTokenizerJsonMatchesModelProto) {
  RSCAPRET_REQUIRE_SHARED(kModel);
  RSCAPRET_REQUIRE_SHARED("fixtures/tokenizers/llama/reference_tokenizations.jsonl");
  const std::string json = make_hf_json(llama());
  const LlamaTokenizer hf = LlamaTokenizer::from_hf_json(json, "generated tokenizer.json");
  EXPECT_EQ(hf.vocab_size(), 32000);
  EXPECT_EQ(hf.bos_id(), 1);
  for (const auto& j : reference_lines()) {
    const std::string text = j["text"];
    ASSERT_EQ(hf.encode(text), j["ids_no_bos"].get<std::vector<int32_t>>()) << text;
  }
  for (const auto& [text, want] : llama_cpp_cases()) EXPECT_EQ(hf.encode(text), want) << text;
}

TEST(LlamaTokenizer, Llama2cTok512) {
  RSCAPRET_REQUIRE_SHARED("fixtures/stories260K/tok512.bin");
  const auto t = LlamaTokenizer::load(shared_path("fixtures/stories260K/tok512.bin"));
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.piece(259), "\u2581t");
  // Every id decodes; text round-trips (byte fallback covers everything outside the 512 pieces).
  std::mt19937 rng(7);
  for (int it = 0; it < 500; ++it) {
    const std::string s = rscapret::testing::random_utf8(rng, 30);
    ASSERT_EQ(t.decode(t.encode(s)), s);
  }
  const auto ids = t.encode("Once upon a time");
  EXPECT_EQ(t.decode(ids), "Once upon a time");
  EXPECT_EQ(t.piece(ids[0]).substr(0, 3), "\u2581");
}

TEST(LlamaTokenizer, MalformedFilesGiveTypedErrors) {
  using rscapret::FormatError;
  EXPECT_THROW(LlamaTokenizer::from_sentencepiece("", "empty"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_sentencepiece("\x0A\xFF\xFF\xFF\xFF\x0F", "huge length"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_sentencepiece("\x0B", "group wire type"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_sentencepiece(std::string("\x08\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 12), "long varint"),
               FormatError);
  // A piece but no trainer spec.
  EXPECT_THROW(LlamaTokenizer::from_sentencepiece(std::string("\x0A\x03\x0A\x01" "a", 5), "no trainer"), FormatError);
  // Unigram (model_type 1) is refused with a clear message.
  const std::string unigram = std::string("\x0A\x03\x0A\x01" "a", 5) + std::string("\x12\x02\x18\x01", 4);
  try {
    LlamaTokenizer::from_sentencepiece(unigram, "unigram.model");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not BPE"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LlamaTokenizer::from_hf_json("{not json", "bad.json"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_hf_json(R"({"model":{"type":"Unigram","vocab":{}}})", "uni.json"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_hf_json(R"({"model":{"vocab":{"a":0,"b":2},"merges":[]}})", "gap.json"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_hf_json(R"({"model":{"vocab":{"a":0},"merges":["a b"]}})", "merge.json"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_llama2c("\x07\x00\x00\x00\x00\x00", "trunc.bin"), FormatError);
  EXPECT_THROW(LlamaTokenizer::from_llama2c(std::string("\x07\x00\x00\x00\x00\x00\x00\x00\x63\x00\x00\x00", 12), "len.bin"), FormatError);
  EXPECT_THROW(LlamaTokenizer::load("/nonexistent/tokenizer.model"), rscapret::IOError);
}

TEST(LlamaTokenizer, TinySyntheticModel) {
  // A hand-built tokenizer.json: checks merges by rank, byte fallback and unk without any fixture.
  const std::string json = R"({
    "added_tokens":[{"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true},
                    {"id":2,"content":"</s>","special":true}],
    "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},
                  {"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
    "model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":true,
      "vocab":{"<unk>":0,"<s>":1,"</s>":2,"<0x41>":3,"▁":4,"a":5,"b":6,"▁a":7,"ab":8,"▁ab":9},
      "merges":["▁ a","a b","▁a b"]}})";
  const auto t = LlamaTokenizer::from_hf_json(json, "tiny.json");
  EXPECT_EQ(t.encode("ab"), (std::vector<int32_t>{9}));
  EXPECT_EQ(t.encode("b a"), (std::vector<int32_t>{4, 6, 7}));
  EXPECT_EQ(t.encode("A"), (std::vector<int32_t>{4, 3}));   // byte fallback
  EXPECT_EQ(t.encode("CD"), (std::vector<int32_t>{4, 0}));  // no byte piece: fused unk
  EXPECT_EQ(t.decode(t.encode("ab A")), "ab A");
}

TEST(LlamaTokenizer, Llama2cGreedyReferenceDecodes) {
  RSCAPRET_REQUIRE_SHARED("fixtures/stories260K/stories260K_greedy_reference.json");
  RSCAPRET_REQUIRE_SHARED("fixtures/stories260K/tok512.bin");
  const auto t = LlamaTokenizer::load(shared_path("fixtures/stories260K/tok512.bin"));
  const auto j = nlohmann::json::parse(read_text(shared_path("fixtures/stories260K/stories260K_greedy_reference.json")));
  const auto ids = j["argmax_next_token_at_pos"].get<std::vector<int32_t>>();
  std::string want = j["expected_stdout_from_llama2c_test_all_py"];
  while (!want.empty() && want.back() == '\n') want.pop_back();
  std::vector<int32_t> with_bos = {1};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  std::string got = t.decode(with_bos);
  while (!got.empty() && got.back() == '\n') got.pop_back();
  EXPECT_EQ(got, want);
  // llama2.c's encoder on the story's first words gives the ids the model was fed.
  const auto inputs = j["input_token_at_pos"].get<std::vector<int32_t>>();
  EXPECT_EQ(t.encode("Once upon a time", true), std::vector<int32_t>(inputs.begin(), inputs.begin() + 5));
}
