#include "models/tokenizers/llama_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include <nlohmann/json.hpp>

#include "models/tokenizers/bpe.h"
#include "models/tokenizers/io.h"
#include "models/tokenizers/unicode.h"
#include "tensor/error.h"

namespace rscapret::tokenizers {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

// ---- a minimal protobuf wire-format reader (only what ModelProto needs) ----
struct WireField {
  uint32_t number = 0;
  uint32_t wire = 0;         // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;
  uint32_t fixed32 = 0;
  std::string_view bytes;
};

class WireReader {
 public:
  WireReader(std::string_view data, const std::string& what) : d_(data), what_(what) {}
  bool done() const { return i_ >= d_.size(); }
  WireField next() {
    WireField f;
    const uint64_t key = varint();
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    RS_CHECK(f.number != 0, FormatError, "sentencepiece", what_, ": field number 0 at byte ", i_);
    switch (f.wire) {
      case 0: f.varint = varint(); break;
      case 1: need(8); i_ += 8; break;
      case 2: {
        const uint64_t len = varint();
        need(len);
        f.bytes = d_.substr(i_, len);
        i_ += len;
        break;
      }
      case 5: need(4); std::memcpy(&f.fixed32, d_.data() + i_, 4); i_ += 4; break;
      default:
        throw FormatError(cat("[sentencepiece] ", what_, ": unsupported wire type ", f.wire,
                              " at byte ", i_, " (not a SentencePiece model?)"));
    }
    return f;
  }

 private:
  void need(uint64_t n) const {
    RS_CHECK(n <= d_.size() - i_, FormatError, "sentencepiece", what_, ": truncated at byte ", i_,
             " (needs ", n, " more bytes, has ", d_.size() - i_, ")");
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto b = static_cast<uint8_t>(d_[i_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) return v;
    }
    throw FormatError(cat("[sentencepiece] ", what_, ": varint longer than 10 bytes at byte ", i_));
  }
  std::string_view d_;
  std::string what_;
  size_t i_ = 0;
};

float as_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// "<0x0A>" -> 10; -1 when the piece is not spelled like a byte piece.
int parse_byte_piece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = p[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (;;) {
    const size_t j = s.find(from, i);
    if (j == std::string_view::npos) break;
    out.append(s.substr(i, j - i));
    out.append(to);
    i = j + from.size();
  }
  out.append(s.substr(i));
  return out;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

// ---------------------------------------------------------------- loading

LlamaTokenizer LlamaTokenizer::load(const std::filesystem::path& path) {
  const std::string data = read_file_bytes(path);
  const std::string ext = path.extension().string();
  if (ext == ".json") return from_hf_json(data, path.string());
  if (ext == ".bin") return from_llama2c(data, path.string());
  return from_sentencepiece(data, path.string());
}

LlamaTokenizer LlamaTokenizer::from_sentencepiece(std::string_view proto, const std::string& name) {
  LlamaTokenizer t;
  t.name_ = name;
  t.byte_fallback_ = false;  // proto default
  int model_type = 1;  // proto default: UNIGRAM
  bool have_trainer = false;
  WireReader top(proto, name);
  while (!top.done()) {
    const WireField f = top.next();
    if (f.number == 1 && f.wire == 2) {  // repeated SentencePiece pieces
      std::string piece;
      float score = 0.f;
      uint64_t type = 1;
      WireReader r(f.bytes, name);
      while (!r.done()) {
        const WireField g = r.next();
        if (g.number == 1 && g.wire == 2) piece = std::string(g.bytes);
        else if (g.number == 2 && g.wire == 5) score = as_float(g.fixed32);
        else if (g.number == 3 && g.wire == 0) type = g.varint;
      }
      RS_CHECK(type >= 1 && type <= 6, FormatError, "sentencepiece", name, ": piece ",
               t.pieces_.size(), " has unknown type ", type);
      RS_CHECK(!piece.empty(), FormatError, "sentencepiece", name, ": piece ", t.pieces_.size(),
               " is empty");
      t.pieces_.push_back(std::move(piece));
      t.scores_.push_back(score);
      t.types_.push_back(static_cast<PieceType>(type));
    } else if (f.number == 2 && f.wire == 2) {  // TrainerSpec
      have_trainer = true;
      WireReader r(f.bytes, name);
      while (!r.done()) {
        const WireField g = r.next();
        if (g.wire == 0) {
          const auto v32 = static_cast<int32_t>(static_cast<uint32_t>(g.varint));
          switch (g.number) {
            case 3: model_type = v32; break;
            case 35: t.byte_fallback_ = g.varint != 0; break;
            case 40: t.unk_id_ = v32; break;
            case 41: t.bos_id_ = v32; break;
            case 42: t.eos_id_ = v32; break;
            default: break;
          }
        } else if (g.wire == 2 && g.number == 44) {
          t.unk_surface_ = std::string(g.bytes);
        }
      }
    } else if (f.number == 3 && f.wire == 2) {  // NormalizerSpec
      std::string norm_name;
      bool charsmap = false;
      WireReader r(f.bytes, name);
      while (!r.done()) {
        const WireField g = r.next();
        if (g.number == 1 && g.wire == 2) norm_name = std::string(g.bytes);
        else if (g.number == 2 && g.wire == 2) charsmap = !g.bytes.empty();
        else if (g.number == 3 && g.wire == 0) t.add_dummy_prefix_ = g.varint != 0;
        else if (g.number == 4 && g.wire == 0) t.remove_extra_whitespaces_ = g.varint != 0;
        else if (g.number == 5 && g.wire == 0) t.escape_whitespaces_ = g.varint != 0;
      }
      RS_CHECK(!charsmap || norm_name == "identity", FormatError, "sentencepiece", name,
               ": normalizer '", norm_name,
               "' needs a precompiled charsmap, which is not supported (only 'identity')");
    }
  }
  RS_CHECK(!t.pieces_.empty(), FormatError, "sentencepiece", name,
           ": no pieces (not a SentencePiece model file?)");
  RS_CHECK(have_trainer, FormatError, "sentencepiece", name, ": no trainer_spec");
  RS_CHECK(model_type == 2, FormatError, "sentencepiece", name, ": model_type ", model_type,
           " is not BPE (2); only BPE models are supported");
  t.finalize();
  return t;
}

LlamaTokenizer LlamaTokenizer::from_llama2c(std::string_view bytes, const std::string& name) {
  LlamaTokenizer t;
  t.name_ = name;
  RS_CHECK(bytes.size() >= 4, FormatError, "llama2c-tokenizer", name, ": shorter than its header");
  int32_t max_len;
  std::memcpy(&max_len, bytes.data(), 4);
  RS_CHECK(max_len > 0 && max_len < (1 << 20), FormatError, "llama2c-tokenizer", name,
           ": implausible max_token_length ", max_len);
  size_t i = 4;
  while (i < bytes.size()) {
    RS_CHECK(bytes.size() - i >= 8, FormatError, "llama2c-tokenizer", name, ": token ",
             t.pieces_.size(), " truncated at byte ", i);
    float score;
    int32_t len;
    std::memcpy(&score, bytes.data() + i, 4);
    std::memcpy(&len, bytes.data() + i + 4, 4);
    i += 8;
    RS_CHECK(len > 0 && len <= max_len && static_cast<size_t>(len) <= bytes.size() - i, FormatError,
             "llama2c-tokenizer", name, ": token ", t.pieces_.size(), " has length ", len,
             " (max_token_length ", max_len, ", ", bytes.size() - i, " bytes left)");
    std::string_view p = bytes.substr(i, static_cast<size_t>(len));
    i += static_cast<size_t>(len);
    const int32_t id = static_cast<int32_t>(t.pieces_.size());
    PieceType type = PieceType::kNormal;
    std::string piece;
    // llama2.c's export wrote "▁" as " " and BOS/EOS as "\n<s>\n" / "\n</s>\n"; undo that.
    if (id == 0 && p == "<unk>") { type = PieceType::kUnknown; piece = "<unk>"; }
    else if (p == "\n<s>\n") { type = PieceType::kControl; piece = "<s>"; }
    else if (p == "\n</s>\n") { type = PieceType::kControl; piece = "</s>"; }
    else if (parse_byte_piece(p) >= 0) { type = PieceType::kByte; piece = std::string(p); }
    else piece = replace_all(p, " ", kSpace);
    t.pieces_.push_back(std::move(piece));
    t.scores_.push_back(score);
    t.types_.push_back(type);
  }
  RS_CHECK(t.pieces_.size() >= 3, FormatError, "llama2c-tokenizer", name, ": only ",
           t.pieces_.size(), " tokens");
  t.unk_id_ = t.types_[0] == PieceType::kUnknown ? 0 : -1;
  t.bos_id_ = -1;
  t.eos_id_ = -1;
  for (int32_t id = 0; id < static_cast<int32_t>(t.pieces_.size()); ++id) {
    if (t.pieces_[id] == "<s>" && t.types_[id] == PieceType::kControl) t.bos_id_ = id;
    if (t.pieces_[id] == "</s>" && t.types_[id] == PieceType::kControl) t.eos_id_ = id;
  }
  t.byte_fallback_ = true;
  t.finalize();
  return t;
}

LlamaTokenizer LlamaTokenizer::from_hf_json(std::string_view text, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cat("[tokenizer.json] ", name, ": not valid JSON: ", e.what()));
  }
  RS_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), FormatError,
           "tokenizer.json", name, ": no \"model\" object");
  const auto& m = j["model"];
  RS_CHECK(m.value("type", std::string("BPE")) == "BPE", FormatError, "tokenizer.json", name,
           ": model type '", m.value("type", std::string()), "' is not BPE");
  RS_CHECK(m.contains("vocab") && m["vocab"].is_object(), FormatError, "tokenizer.json", name,
           ": model.vocab is not an object");
  RS_CHECK(m.contains("merges") && m["merges"].is_array(), FormatError, "tokenizer.json", name,
           ": model.merges is not an array");
  LlamaTokenizer t;
  t.name_ = name;
  t.by_rank_ = true;
  t.byte_fallback_ = m.value("byte_fallback", false);
  t.fuse_unk_ = m.value("fuse_unk", false);
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const auto& [piece, id] : m["vocab"].items()) {
    RS_CHECK(id.is_number_integer(), FormatError, "tokenizer.json", name, ": vocab id of '", piece,
             "' is not an integer");
    entries.emplace_back(id.get<int64_t>(), piece);
  }
  const size_t model_size = entries.size();
  std::vector<std::pair<int64_t, std::string>> added;
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& a : j["added_tokens"]) {
      RS_CHECK(a.is_object() && a.contains("id") && a["id"].is_number_integer() &&
                   a.contains("content") && a["content"].is_string(),
               FormatError, "tokenizer.json", name, ": malformed added_tokens entry");
      added.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
    }
  }
  int64_t max_id = -1;
  for (const auto& e : entries) max_id = std::max(max_id, e.first);
  for (const auto& e : added) max_id = std::max(max_id, e.first);
  // Ids must be dense: checked before allocating, so a hostile max id cannot blow up memory.
  RS_CHECK(max_id >= 0 && static_cast<size_t>(max_id) < entries.size() + added.size(), FormatError,
           "tokenizer.json", name, ": vocabulary ids are not 0..n-1 (max ", max_id, " for ",
           entries.size() + added.size(), " entries)");
  t.pieces_.assign(static_cast<size_t>(max_id + 1), std::string());
  t.types_.assign(t.pieces_.size(), PieceType::kUnused);
  std::vector<bool> seen(t.pieces_.size(), false);
  for (auto& [id, piece] : entries) {
    RS_CHECK(id >= 0 && !seen[id], FormatError, "tokenizer.json", name, ": id ", id,
             " is negative or used twice");
    seen[id] = true;
    const bool is_byte = t.byte_fallback_ && parse_byte_piece(piece) >= 0;
    t.types_[id] = is_byte ? PieceType::kByte : PieceType::kNormal;
    t.pieces_[id] = std::move(piece);
  }
  const std::string unk = m.contains("unk_token") && m["unk_token"].is_string()
                              ? m["unk_token"].get<std::string>() : std::string();
  for (auto& [id, piece] : added) {
    RS_CHECK(id >= 0, FormatError, "tokenizer.json", name, ": negative added token id");
    if (!seen[id]) {
      t.types_[id] = PieceType::kAddedSpecial;
    } else {
      RS_CHECK(t.pieces_[id] == piece, FormatError, "tokenizer.json", name, ": added token ", id,
               " '", piece, "' differs from vocab '", t.pieces_[id], "'");
      t.types_[id] = piece == unk ? PieceType::kUnknown : PieceType::kControl;
    }
    seen[id] = true;
    t.pieces_[id] = std::move(piece);
  }
  for (size_t id = 0; id < seen.size(); ++id)
    RS_CHECK(seen[id], FormatError, "tokenizer.json", name, ": id ", id, " missing (vocab has ",
             model_size, " entries, ids up to ", max_id, ")");
  t.scores_.assign(t.pieces_.size(), 0.f);
  t.unk_id_ = t.bos_id_ = t.eos_id_ = -1;
  for (int32_t id = 0; id < static_cast<int32_t>(t.pieces_.size()); ++id) {
    if (!unk.empty() && t.pieces_[id] == unk) { t.unk_id_ = id; t.types_[id] = PieceType::kUnknown; }
    if (t.pieces_[id] == "<s>") t.bos_id_ = id;
    if (t.pieces_[id] == "</s>") t.eos_id_ = id;
  }
  // Dummy prefix and space escaping: legacy files spell them as normalizers (Prepend "▁",
  // Replace " " -> "▁"), newer ones as a Metaspace pre-tokenizer.
  t.add_dummy_prefix_ = false;
  t.escape_whitespaces_ = false;
  std::function<void(const nlohmann::json&)> scan = [&](const nlohmann::json& n) {
    if (!n.is_object()) return;
    const std::string type = n.value("type", std::string());
    if (type == "Sequence") {
      for (const char* key : {"normalizers", "pretokenizers"})
        if (n.contains(key) && n[key].is_array())
          for (const auto& c : n[key]) scan(c);
    } else if (type == "Prepend" && n.value("prepend", std::string()) == kSpace) {
      t.add_dummy_prefix_ = true;
    } else if (type == "Replace" && n.contains("pattern") && n["pattern"].is_object() &&
               n["pattern"].value("String", std::string()) == " " &&
               n.value("content", std::string()) == kSpace) {
      t.escape_whitespaces_ = true;
    } else if (type == "Metaspace") {
      t.escape_whitespaces_ = true;
      const std::string scheme = n.value("prepend_scheme", std::string());
      t.add_dummy_prefix_ = scheme.empty() ? n.value("add_prefix_space", true) : scheme != "never";
    }
  };
  if (j.contains("normalizer")) scan(j["normalizer"]);
  if (j.contains("pre_tokenizer")) scan(j["pre_tokenizer"]);

  t.finalize();
  // Merges: "a b" strings or ["a", "b"] pairs; rank = position in the list.
  int32_t rank = 0;
  for (const auto& mg : m["merges"]) {
    const auto [a, b] = parse_json_merge(mg, rank, "tokenizer.json", name);
    const int32_t ia = t.piece_to_id(a), ib = t.piece_to_id(b), iab = t.piece_to_id(a + b);
    RS_CHECK(ia >= 0 && ib >= 0 && iab >= 0, FormatError, "tokenizer.json", name, ": merge ", rank,
             " '", a, " ", b, "' names a piece that is not in the vocab");
    t.pair_ranks_.emplace(pair_key(ia, ib), std::make_pair(rank, iab));  // first rank wins
    ++rank;
  }
  return t;
}

void LlamaTokenizer::finalize() {
  const int32_t n = static_cast<int32_t>(pieces_.size());
  auto in_range = [&](int32_t id) { return id >= 0 && id < n; };
  RS_CHECK(unk_id_ < n, FormatError, "tokenizer", name_, ": unk id ", unk_id_, " >= vocab ", n);
  if (!in_range(bos_id_)) bos_id_ = -1;
  if (!in_range(eos_id_)) eos_id_ = -1;
  if (!in_range(unk_id_)) unk_id_ = -1;
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  byte_value_.assign(pieces_.size(), -1);
  mergeable_.clear();
  all_.clear();
  has_user_defined_ = false;
  for (int32_t id = 0; id < n; ++id) {
    const std::string& p = pieces_[id];
    const PieceType ty = types_[id];
    RS_CHECK(all_.emplace(p, id).second || ty == PieceType::kUnused, FormatError, "tokenizer",
             name_, ": piece '", p, "' appears twice (ids ", all_[p], " and ", id, ")");
    if (ty == PieceType::kNormal || ty == PieceType::kUserDefined) mergeable_.emplace(p, id);
    if (ty == PieceType::kUserDefined) has_user_defined_ = true;
    if (ty == PieceType::kByte) {
      const int v = parse_byte_piece(p);
      RS_CHECK(v >= 0, FormatError, "tokenizer", name_, ": byte piece ", id, " is '", p,
               "', not <0xNN>");
      byte_value_[id] = static_cast<int16_t>(v);
      if (byte_ids_[v] < 0) byte_ids_[v] = id;
    }
    if (ty == PieceType::kAddedSpecial) added_special_.push_back(id);
  }
}

int32_t LlamaTokenizer::add_special_token(const std::string& piece) {
  RS_CHECK(!piece.empty(), ValueError, "tokenizer", "a special token cannot be empty");
  const int32_t existing = piece_to_id(piece);
  if (existing >= 0) return existing;
  const int32_t id = vocab_size();
  pieces_.push_back(piece);
  scores_.push_back(0.f);
  types_.push_back(PieceType::kAddedSpecial);
  byte_value_.push_back(-1);
  all_.emplace(piece, id);
  added_special_.push_back(id);
  std::stable_sort(added_special_.begin(), added_special_.end(), [&](int32_t a, int32_t b) {
    return pieces_[a].size() > pieces_[b].size();
  });
  return id;
}

const std::string& LlamaTokenizer::piece(int32_t id) const {
  RS_CHECK(id >= 0 && id < vocab_size(), IndexError, "tokenizer", "id ", id,
           " out of range for vocab size ", vocab_size());
  return pieces_[id];
}

PieceType LlamaTokenizer::piece_type(int32_t id) const {
  piece(id);
  return types_[id];
}

float LlamaTokenizer::score(int32_t id) const {
  piece(id);
  return scores_[id];
}

int32_t LlamaTokenizer::piece_to_id(std::string_view p) const {
  const auto it = all_.find(p);
  return it == all_.end() ? -1 : it->second;
}

// ---------------------------------------------------------------- encoding

std::string LlamaTokenizer::normalize(std::string_view text, bool dummy_prefix) const {
  std::string out;
  out.reserve(text.size() + 8);
  const std::string_view space = escape_whitespaces_ ? kSpace : std::string_view(" ");
  size_t i = 0, end = text.size();
  if (remove_extra_whitespaces_) {
    while (i < end && text[i] == ' ') ++i;
    while (end > i && text[end - 1] == ' ') --end;
  }
  if (i == end) return out;
  if (dummy_prefix && add_dummy_prefix_) out.append(space);
  bool prev_space = false;
  while (i < end) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) < 0x80) {
      if (c == ' ') {
        if (!(remove_extra_whitespaces_ && prev_space)) out.append(space);
        prev_space = true;
      } else {
        out.push_back(c);
        prev_space = false;
      }
      ++i;
      continue;
    }
    prev_space = false;
    const size_t len = utf8_valid_length(text, i);
    if (len == 0) {  // malformed byte: U+FFFD, one byte consumed (as SentencePiece does)
      utf8_append(out, kReplacementChar);
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

void LlamaTokenizer::emit_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
  bool all_bytes = byte_fallback_;
  for (size_t k = 0; all_bytes && k < bytes.size(); ++k)
    all_bytes = byte_ids_[static_cast<unsigned char>(bytes[k])] >= 0;
  if (all_bytes) {
    for (const char c : bytes) out.push_back(byte_ids_[static_cast<unsigned char>(c)]);
    return;
  }
  RS_CHECK(unk_id_ >= 0, ValueError, "tokenizer", name_, ": text has a character with no piece, ",
           "and the model has neither byte pieces nor <unk>");
  if (fuse_unk_ && !out.empty() && out.back() == unk_id_) return;
  out.push_back(unk_id_);
}

void LlamaTokenizer::encode_segment(std::string_view text, bool dummy_prefix,
                                    std::vector<int32_t>& out) const {
  const std::string norm = normalize(text, dummy_prefix);
  if (norm.empty()) return;
  const std::string_view s = norm;

  // One symbol per code point (user-defined pieces are matched whole, longest first).
  std::vector<BpeSymbol> syms;
  syms.reserve(s.size());
  auto push = [&](size_t b, size_t e, int32_t id) {
    const auto idx = static_cast<int32_t>(syms.size());
    syms.push_back(BpeSymbol{static_cast<uint32_t>(b), static_cast<uint32_t>(e), id, idx - 1, idx + 1});
  };
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_valid_length(s, i);  // s is well-formed after normalize
    if (has_user_defined_) {
      for (size_t l = std::min<size_t>(s.size() - i, 64); l > len; --l) {
        const auto it = mergeable_.find(s.substr(i, l));
        if (it != mergeable_.end() && types_[it->second] == PieceType::kUserDefined) { len = l; break; }
      }
    }
    const auto it = mergeable_.find(s.substr(i, len));
    if (it != mergeable_.end()) {
      push(i, i + len, it->second);
    } else if (by_rank_) {  // tokenizer.json: unknown characters become byte symbols up front
      std::vector<int32_t> ids;
      emit_bytes(s.substr(i, len), ids);
      if (ids.size() == len) {
        for (size_t k = 0; k < len; ++k) push(i + k, i + k + 1, ids[k]);
      } else {
        push(i, i + len, ids.empty() ? unk_id_ : ids[0]);
      }
    } else {
      push(i, i + len, -1);
    }
    i += len;
  }
  syms.back().next = -1;

  if (by_rank_) {
    bpe_merge(syms, [&](const BpeSymbol& l, const BpeSymbol& r) -> BpeCandidate {
      if (l.id < 0 || r.id < 0) return {false, 0.f, -1};
      const auto it = pair_ranks_.find(pair_key(l.id, r.id));
      if (it == pair_ranks_.end()) return {false, 0.f, -1};
      return {true, -static_cast<float>(it->second.first), it->second.second};
    });
  } else {
    bpe_merge(syms, [&](const BpeSymbol& l, const BpeSymbol& r) -> BpeCandidate {
      const auto it = mergeable_.find(s.substr(l.begin, r.end - l.begin));
      if (it == mergeable_.end()) return {false, 0.f, -1};
      return {true, scores_[it->second], it->second};
    });
  }

  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    const BpeSymbol& sym = syms[i];
    if (sym.id >= 0) {
      if (fuse_unk_ && sym.id == unk_id_ && !out.empty() && out.back() == unk_id_) continue;
      out.push_back(sym.id);
    } else {
      emit_bytes(s.substr(sym.begin, sym.end - sym.begin), out);
    }
  }
}

std::vector<int32_t> LlamaTokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  encode_segment(text, true, out);
  if (add_eos && eos_id_ >= 0) out.push_back(eos_id_);
  return out;
}

std::vector<int32_t> LlamaTokenizer::encode_with_special(std::string_view text, bool add_bos,
                                                         bool add_eos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  size_t seg = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t hit = -1;
    for (const int32_t id : added_special_) {  // longest spelling first
      if (text.substr(i, pieces_[id].size()) == pieces_[id]) { hit = id; break; }
    }
    if (hit < 0) { ++i; continue; }
    encode_segment(text.substr(seg, i - seg), seg == 0, out);
    out.push_back(hit);
    i += pieces_[hit].size();
    seg = i;
  }
  encode_segment(text.substr(seg), seg == 0, out);
  if (add_eos && eos_id_ >= 0) out.push_back(eos_id_);
  return out;
}

// ---------------------------------------------------------------- decoding

std::string LlamaTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out, bytes;
  bool at_start = true;
  auto flush = [&] {
    if (!bytes.empty()) { out += utf8_sanitize(bytes); bytes.clear(); }
  };
  for (const int32_t id : ids) {
    RS_CHECK(id >= 0 && id < vocab_size(), IndexError, "tokenizer", "decode: id ", id,
             " out of range for vocab size ", vocab_size());
    const PieceType ty = types_[id];
    if (ty == PieceType::kByte) {
      bytes.push_back(static_cast<char>(byte_value_[id]));
      at_start = false;
      continue;
    }
    flush();
    if (ty == PieceType::kControl) continue;
    if (ty == PieceType::kAddedSpecial) {
      if (!skip_special) out += pieces_[id];
      continue;
    }
    if (ty == PieceType::kUnknown) {
      out += unk_surface_;
      at_start = false;
      continue;
    }
    std::string_view p = pieces_[id];
    if (at_start && add_dummy_prefix_ && p.substr(0, kSpace.size()) == kSpace) p.remove_prefix(kSpace.size());
    at_start = false;
    if (escape_whitespaces_) out += replace_all(p, kSpace, " ");
    else out += p;
  }
  flush();
  return out;
}

}  // namespace rscapret::tokenizers
