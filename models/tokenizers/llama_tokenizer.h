// LLaMA-style SentencePiece BPE tokenizer (Llama 2's 32,000-piece vocabulary and friends).
//
// Loads three formats into one model:
//   - SentencePiece `tokenizer.model` (ModelProto; the protobuf wire format is parsed here, see
//     README.md for why no libprotobuf),
//   - Hugging Face `tokenizer.json` (model type BPE with byte_fallback, merges by rank),
//   - llama2.c `tok512.bin` (int32 max_token_length, then per token float32 score, int32 len, bytes).
// Encoding follows SentencePiece's BPE: identity normalization, dummy-prefix "▁", spaces as "▁",
// pairs merged by the score of the merged piece (or by merge rank for tokenizer.json), leftmost
// first on ties; characters with no piece become <0xNN> byte pieces (or <unk>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rscapret::tokenizers {

enum class PieceType : uint8_t {
  kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
  kAddedSpecial = 7,  // added after loading ([RET]): one id, never produced from plain text
};

// Transparent hashing so maps keyed by std::string can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class LlamaTokenizer {
 public:
  // Picks the format from the file: `.json` is tokenizer.json, a SentencePiece ModelProto starts
  // with field 1 (byte 0x0A), anything else is tried as llama2.c's tokenizer.bin.
  static LlamaTokenizer load(const std::filesystem::path& path);
  static LlamaTokenizer from_sentencepiece(std::string_view model_proto, const std::string& name);
  static LlamaTokenizer from_hf_json(std::string_view json_text, const std::string& name);
  static LlamaTokenizer from_llama2c(std::string_view bytes, const std::string& name);

  // Plain text to ids. Added special tokens ([RET]) are never produced, even when the text contains
  // their spelling; invalid UTF-8 bytes are read as U+FFFD (as SentencePiece does).
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false, bool add_eos = false) const;
  // Like encode, but spellings of added special tokens in the text become their ids. Only the
  // segment at the start of the text gets the dummy prefix (as llama.cpp does).
  std::vector<int32_t> encode_with_special(std::string_view text, bool add_bos = false,
                                           bool add_eos = false) const;
  // Ids to text: byte pieces are reassembled, ill-formed UTF-8 becomes U+FFFD, BOS/EOS/control
  // pieces vanish, the leading dummy-prefix space is removed. Added special tokens are written out
  // unless skip_special. Throws IndexError on an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // Adds a special token (e.g. "[RET]") at the next id, or returns its id if it already exists.
  int32_t add_special_token(const std::string& piece);

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const;   // "▁Hello", "<0x0A>"; throws IndexError
  PieceType piece_type(int32_t id) const;
  float score(int32_t id) const;
  int32_t piece_to_id(std::string_view piece) const;  // any type; -1 when absent
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  bool add_dummy_prefix() const { return add_dummy_prefix_; }
  const std::string& name() const { return name_; }

 private:
  LlamaTokenizer() = default;
  void finalize();  // builds lookup tables after the pieces are set
  std::string normalize(std::string_view text, bool dummy_prefix) const;
  void encode_segment(std::string_view text, bool dummy_prefix, std::vector<int32_t>& out) const;
  void emit_bytes(std::string_view bytes, std::vector<int32_t>& out) const;

  std::string name_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<PieceType> types_;
  PieceMap mergeable_;   // normal and user-defined pieces: what BPE may produce
  PieceMap all_;         // every piece, for piece_to_id
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> pair_ranks_;  // (l,r) -> (rank, id)
  bool by_rank_ = false;  // tokenizer.json: merge by pair rank instead of piece score
  bool has_user_defined_ = false;
  int32_t byte_ids_[256];             // byte value -> id of <0xNN>, -1 when absent
  std::vector<int16_t> byte_value_;  // id -> byte value for byte pieces, -1 otherwise
  bool byte_fallback_ = true;
  bool fuse_unk_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = false;
  bool escape_whitespaces_ = true;
  int32_t unk_id_ = 0, bos_id_ = 1, eos_id_ = 2;
  std::string unk_surface_ = " \xE2\x81\x87 ";
  std::vector<int32_t> added_special_;  // ids of kAddedSpecial pieces, longest spelling first
};

}  // namespace rscapret::tokenizers
