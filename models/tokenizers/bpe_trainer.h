// BPE tokenizer training: learns merges from a list of texts (captions) and writes them in the two
// formats our loaders read (see llama_tokenizer.h, clip_tokenizer.h):
//   - LLaMA style: one Hugging Face `tokenizer.json` (model BPE, byte_fallback, Metaspace "▁"),
//   - CLIP style: Hugging Face `vocab.json` + `merges.txt` (byte-level BPE with "</w>").
//
// Both train on a word-frequency table (texts are split into words once and counted; merges then
// run on distinct words), pick the most frequent adjacent pair each step (ties: the pair whose
// (left, right) spellings sort first bytewise), merge it in every word left to right, and update
// pair counts only for the words that contained it. Training stops at the vocabulary size or the
// merge limit, or when no pair occurs `min_pair_count` times. Because merges never span a word
// boundary and are applied in learned order, the loaders' rank-based encoding reproduces the
// training segmentation exactly (tests check this).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace rscapret::tokenizers {

struct BpeTrainOptions {
  // Total pieces including specials, byte pieces and base symbols (LLaMA: <unk> <s> </s> + 256
  // bytes + one per character seen + one per merge; CLIP: 512 byte symbols + one per merge + 2).
  // 0: no limit from the vocabulary size.
  int64_t vocab_size = 1024;
  int64_t max_merges = -1;      // -1: no limit from the merge count
  int64_t min_pair_count = 2;   // a pair must occur at least this often (weighted) to be merged
};

struct BpeTrainStats {
  int64_t texts = 0;          // non-empty training texts
  int64_t words = 0;          // word occurrences (the units merges stay inside)
  int64_t distinct_words = 0;
  int64_t pieces = 0;         // vocabulary size of the written tokenizer
  int64_t merges = 0;
  int64_t base_symbols = 0;   // LLaMA: characters seen (each its own piece); CLIP: 512
  double coverage = 0;        // fraction of word occurrences that encode to one token
  double tokens_per_text = 0; // average tokens per text, without BOS/EOS (start/end for CLIP)
};

struct LlamaTokenizerFiles {
  std::string tokenizer_json;
  BpeTrainStats stats;
};

struct ClipTokenizerFiles {
  std::string vocab_json;
  std::string merges_txt;
  BpeTrainStats stats;
};

// LLaMA / SentencePiece-style BPE. Text is normalized as LlamaTokenizer does (spaces -> "▁", a
// dummy "▁" prefix, ill-formed UTF-8 -> U+FFFD); a word starts at each "▁" and also ends where the
// text changes between letters, digits and other characters (digits are single words, as Llama
// 2's split_digits), so pieces like "r." or "12" are never learned. Every character seen gets its
// own piece, so training-like text never falls back to bytes.
// Ids: <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF> = 3..258, merged pieces in merge order, then the
// characters (most frequent first, code point on ties), as SentencePiece orders them.
// ValueError on an empty corpus or a vocab_size below 259 + characters.
LlamaTokenizerFiles train_llama_tokenizer(std::span<const std::string> texts, const BpeTrainOptions& options);

// CLIP byte-level BPE. Words are exactly what ClipTokenizer encodes: split_words(clean_text(t)).
// Ids: 256 byte symbols and 256 byte+"</w>" symbols (bytes_to_unicode order), one per merge,
// then <|startoftext|> and <|endoftext|>. ValueError on an empty corpus or a vocab_size < 514.
ClipTokenizerFiles train_clip_tokenizer(std::span<const std::string> texts, const BpeTrainOptions& options);

// Writers: each file goes to a temporary file in `dir` (created if missing), then is renamed over
// the target, so a reader never sees half a file. IOError when a file cannot be written.
void write_llama_tokenizer(const LlamaTokenizerFiles& files, const std::filesystem::path& dir);  // dir/tokenizer.json
void write_clip_tokenizer(const ClipTokenizerFiles& files, const std::filesystem::path& dir);    // vocab.json, merges.txt

}  // namespace rscapret::tokenizers
