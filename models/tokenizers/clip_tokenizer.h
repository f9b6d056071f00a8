// CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer), id-exact.
//
// Loads `bpe_simple_vocab_16e6.txt.gz` (the first 48,894 merges after the header line; ids: 256
// byte symbols, 256 byte+"</w>" symbols, one per merge, then <|startoftext|> and <|endoftext|>),
// or Hugging Face `vocab.json` + `merges.txt`, or a CLIP `tokenizer.json`.
// Encoding: clean_text (see below), CLIP's pre-tokenization pattern, bytes to symbols with "</w>"
// on the last one, merges by rank (leftmost on ties), results cached per word.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rscapret::tokenizers {

class ClipTokenizer {
 public:
  static constexpr int kContextLength = 77;

  // `.gz` (or `.txt`): CLIP's merges file; `.json`: vocab.json (merges.txt beside it) or a
  // tokenizer.json (has a "model" object).
  static ClipTokenizer load(const std::filesystem::path& path);
  // The text of bpe_simple_vocab_16e6.txt (already gunzipped).
  static ClipTokenizer from_merges_text(std::string_view text, const std::string& name,
                                        size_t n_merges = 49152 - 256 - 2);
  static ClipTokenizer from_hf_vocab_merges(std::string_view vocab_json, std::string_view merges_txt,
                                            const std::string& name);
  static ClipTokenizer from_hf_json(std::string_view tokenizer_json, const std::string& name);

  ClipTokenizer(const ClipTokenizer& other);
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // Text to ids with start and end tokens, neither truncated nor padded.
  std::vector<int32_t> encode(std::string_view text) const;
  // CLIP's tokenize(truncate=True): at most `context` ids, the last kept one replaced by the end
  // token when cut, then zeros up to `context`.
  std::vector<int32_t> encode_padded(std::string_view text, int context = kContextLength) const;
  // Ids to text as CLIP decodes ("</w>" becomes a space, ill-formed UTF-8 becomes U+FFFD); start,
  // end and padding (0 after the end token) are dropped when skip_special.
  std::string decode(std::span<const int32_t> ids, bool skip_special = true) const;

  // CLIP's basic_clean + whitespace_clean + lower(): HTML entities unescaped (twice), a subset of
  // ftfy.fix_text (see README), whitespace runs collapsed to one space, ends stripped, lowercased.
  static std::string clean_text(std::string_view text);
  // The pre-tokenizer on already-cleaned text: the words BPE runs on.
  static std::vector<std::string_view> split_words(std::string_view cleaned);

  // Forgets the per-word BPE cache (benchmarks use it to time cold encoding).
  void clear_cache() const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token(int32_t id) const;  // byte-level spelling, e.g. "photo</w>"
  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  int32_t start_id() const { return start_id_; }
  int32_t end_id() const { return end_id_; }

 private:
  ClipTokenizer();
  void finalize();
  void add_merge(int32_t rank, std::string_view a, std::string_view b, const std::string& where);
  void bpe_word(std::string_view word, std::vector<int32_t>& out) const;

  struct Cache;
  std::string name_;
  std::vector<std::string> tokens_;      // byte-level (bytes_to_unicode) spelling
  std::vector<std::string> token_bytes_; // raw bytes, "</w>" kept as text
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (l,r) -> (rank, id)
  int32_t byte_id_[256];
  int32_t byte_eow_id_[256];
  int32_t start_id_ = -1, end_id_ = -1;
  std::unique_ptr<Cache> cache_;
};

// CLIP's bytes_to_unicode(): byte -> the code point that spells it in the vocabulary.
uint32_t clip_byte_to_unicode(uint8_t b);

}  // namespace rscapret::tokenizers
