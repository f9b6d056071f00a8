#include "models/tokenizers/clip_tokenizer.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "models/tokenizers/bpe.h"
#include "models/tokenizers/io.h"
#include "models/tokenizers/text_clean.h"
#include "models/tokenizers/unicode.h"
#include "tensor/error.h"

namespace rscapret::tokenizers {
namespace {

constexpr std::string_view kStart = "<|startoftext|>";
constexpr std::string_view kEnd = "<|endoftext|>";
constexpr std::string_view kEow = "</w>";
constexpr size_t kCacheLimit = 1 << 17;  // words; cleared when full so hostile input stays bounded

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// bytes_to_unicode's order: printable Latin-1 bytes first (they spell themselves), then the rest.
std::vector<uint8_t> byte_order() {
  std::vector<uint8_t> bs;
  for (int b = 0; b < 256; ++b)
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) bs.push_back(static_cast<uint8_t>(b));
  for (int b = 0; b < 256; ++b)
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) bs.push_back(static_cast<uint8_t>(b));
  return bs;
}

std::string byte_spelling(uint8_t b) {
  std::string s;
  utf8_append(s, clip_byte_to_unicode(b));
  return s;
}

}  // namespace

uint32_t clip_byte_to_unicode(uint8_t b) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t n = 0;
    for (int v = 0; v < 256; ++v) {
      const bool printable = (v >= 33 && v <= 126) || (v >= 161 && v <= 172) || (v >= 174 && v <= 255);
      t[v] = printable ? static_cast<uint32_t>(v) : 256 + n++;
    }
    return t;
  }();
  return table[b];
}

struct ClipTokenizer::Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

ClipTokenizer::ClipTokenizer() : cache_(std::make_unique<Cache>()) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(const ClipTokenizer& o)
    : name_(o.name_), tokens_(o.tokens_), token_bytes_(o.token_bytes_), vocab_(o.vocab_),
      merges_(o.merges_), start_id_(o.start_id_), end_id_(o.end_id_),
      cache_(std::make_unique<Cache>()) {
  std::copy(std::begin(o.byte_id_), std::end(o.byte_id_), std::begin(byte_id_));
  std::copy(std::begin(o.byte_eow_id_), std::end(o.byte_eow_id_), std::begin(byte_eow_id_));
}

// ---------------------------------------------------------------- loading

ClipTokenizer ClipTokenizer::load(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".json") {
    const std::string text = read_file_bytes(path);
    if (text.find("\"model\"") != std::string::npos) {
      return from_hf_json(text, path.string());
    }
    const auto merges = path.parent_path() / "merges.txt";
    return from_hf_vocab_merges(text, read_file_bytes(merges), path.string());
  }
  return from_merges_text(read_gzip_file(path), path.string());
}

void ClipTokenizer::add_merge(int32_t rank, std::string_view a, std::string_view b,
                              const std::string& where) {
  auto find = [&](std::string_view s) {
    const auto it = vocab_.find(std::string(s));
    return it == vocab_.end() ? -1 : it->second;
  };
  const int32_t ia = find(a), ib = find(b), iab = find(std::string(a) + std::string(b));
  RS_CHECK(ia >= 0 && ib >= 0 && iab >= 0, FormatError, "clip-tokenizer", where, ": merge ", rank,
           " '", a, " ", b, "' names a token that is not in the vocabulary");
  merges_.insert_or_assign(pair_key(ia, ib), std::make_pair(rank, iab));  // later rank wins, as in CLIP
}

ClipTokenizer ClipTokenizer::from_merges_text(std::string_view text, const std::string& name,
                                              size_t n_merges) {
  RS_CHECK(utf8_is_valid(text), FormatError, "clip-tokenizer", name, ": merges file is not UTF-8");
  // Lines 1..n_merges after the header; each "a b" (split on whitespace, as Python's str.split()).
  std::vector<std::pair<std::string_view, std::string_view>> merges;
  size_t pos = text.find('\n');
  RS_CHECK(pos != std::string_view::npos, FormatError, "clip-tokenizer", name,
           ": no header line (not a CLIP merges file?)");
  ++pos;
  while (merges.size() < n_merges) {
    RS_CHECK(pos < text.size(), FormatError, "clip-tokenizer", name, ": only ", merges.size(),
             " merges, expected ", n_merges);
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::vector<std::string_view> parts;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      size_t j = i;
      while (j < line.size() && !(line[j] == ' ' || line[j] == '\t' || line[j] == '\r')) ++j;
      if (j > i) parts.push_back(line.substr(i, j - i));
      i = j;
    }
    RS_CHECK(parts.size() == 2, FormatError, "clip-tokenizer", name, ": merge line ",
             merges.size() + 2, " has ", parts.size(), " fields, expected 2");
    merges.emplace_back(parts[0], parts[1]);
  }
  ClipTokenizer t;
  t.name_ = name;
  for (const uint8_t b : byte_order()) t.tokens_.push_back(byte_spelling(b));
  for (const uint8_t b : byte_order()) t.tokens_.push_back(byte_spelling(b) + std::string(kEow));
  for (const auto& [a, b] : merges) t.tokens_.push_back(std::string(a) + std::string(b));
  t.tokens_.emplace_back(kStart);
  t.tokens_.emplace_back(kEnd);
  for (size_t i = 0; i < t.tokens_.size(); ++i) t.vocab_.insert_or_assign(t.tokens_[i], static_cast<int32_t>(i));
  for (size_t r = 0; r < merges.size(); ++r) t.add_merge(static_cast<int32_t>(r), merges[r].first, merges[r].second, name);
  t.finalize();
  return t;
}

ClipTokenizer ClipTokenizer::from_hf_vocab_merges(std::string_view vocab_json,
                                                  std::string_view merges_txt, const std::string& name) {
  nlohmann::json v;
  try {
    v = nlohmann::json::parse(vocab_json);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cat("[clip-tokenizer] ", name, ": not valid JSON: ", e.what()));
  }
  nlohmann::json merges = nlohmann::json::array();
  size_t pos = 0;
  while (pos < merges_txt.size()) {
    size_t eol = merges_txt.find('\n', pos);
    if (eol == std::string_view::npos) eol = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && !(pos == 0 && line.starts_with("#version"))) merges.push_back(std::string(line));
    pos = eol + 1;
  }
  nlohmann::json j = {{"model", {{"type", "BPE"}, {"vocab", v}, {"merges", merges}}}};
  return from_hf_json(j.dump(), name);
}

ClipTokenizer ClipTokenizer::from_hf_json(std::string_view text, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cat("[clip-tokenizer] ", name, ": not valid JSON: ", e.what()));
  }
  RS_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), FormatError,
           "clip-tokenizer", name, ": no \"model\" object");
  const auto& m = j["model"];
  RS_CHECK(m.value("type", std::string("BPE")) == "BPE", FormatError, "clip-tokenizer", name,
           ": model type is not BPE");
  RS_CHECK(m.contains("vocab") && m["vocab"].is_object(), FormatError, "clip-tokenizer", name,
           ": vocab is not a JSON object of token -> id");
  RS_CHECK(m.contains("merges") && m["merges"].is_array(), FormatError, "clip-tokenizer", name,
           ": merges is not an array");
  ClipTokenizer t;
  t.name_ = name;
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const auto& [tok, id] : m["vocab"].items()) {
    RS_CHECK(id.is_number_integer(), FormatError, "clip-tokenizer", name, ": id of '", tok,
             "' is not an integer");
    entries.emplace_back(id.get<int64_t>(), tok);
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"])
      if (a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
          a["content"].is_string())
        entries.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
  int64_t max_id = -1;
  for (const auto& e : entries) {
    RS_CHECK(e.first >= 0 && e.first < (1 << 24), FormatError, "clip-tokenizer", name, ": id ",
             e.first, " of '", e.second, "' out of range");
    max_id = std::max(max_id, e.first);
  }
  RS_CHECK(max_id >= 0, FormatError, "clip-tokenizer", name, ": empty vocabulary");
  RS_CHECK(static_cast<size_t>(max_id) < entries.size(), FormatError, "clip-tokenizer", name,
           ": vocabulary ids are not 0..n-1 (max ", max_id, " for ", entries.size(), " entries)");
  t.tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  std::vector<bool> seen(t.tokens_.size(), false);
  for (auto& [id, tok] : entries) {
    RS_CHECK(!seen[id] || t.tokens_[id] == tok, FormatError, "clip-tokenizer", name, ": id ", id,
             " used by '", t.tokens_[id], "' and '", tok, "'");
    seen[id] = true;
    t.tokens_[id] = std::move(tok);
  }
  for (size_t id = 0; id < seen.size(); ++id)
    RS_CHECK(seen[id], FormatError, "clip-tokenizer", name, ": id ", id, " missing from vocab");
  for (size_t i = 0; i < t.tokens_.size(); ++i) t.vocab_.insert_or_assign(t.tokens_[i], static_cast<int32_t>(i));
  int32_t rank = 0;
  for (const auto& mg : m["merges"]) {
    const auto [a, b] = parse_json_merge(mg, rank, "clip-tokenizer", name);
    t.add_merge(rank++, a, b, name);
  }
  t.finalize();
  return t;
}

void ClipTokenizer::finalize() {
  for (int b = 0; b < 256; ++b) {
    const std::string s = byte_spelling(static_cast<uint8_t>(b));
    const auto it = vocab_.find(s), it_eow = vocab_.find(s + std::string(kEow));
    RS_CHECK(it != vocab_.end() && it_eow != vocab_.end(), FormatError, "clip-tokenizer", name_,
             ": byte ", b, " ('", s, "' and '", s, "</w>') missing from the vocabulary");
    byte_id_[b] = it->second;
    byte_eow_id_[b] = it_eow->second;
  }
  const auto s = vocab_.find(std::string(kStart)), e = vocab_.find(std::string(kEnd));
  RS_CHECK(s != vocab_.end() && e != vocab_.end(), FormatError, "clip-tokenizer", name_,
           ": <|startoftext|> or <|endoftext|> missing from the vocabulary");
  start_id_ = s->second;
  end_id_ = e->second;
  // Raw bytes of each token: the byte-level spelling mapped back (other characters kept as is).
  std::unordered_map<uint32_t, uint8_t> decoder;
  for (int b = 0; b < 256; ++b) decoder[clip_byte_to_unicode(static_cast<uint8_t>(b))] = static_cast<uint8_t>(b);
  token_bytes_.clear();
  token_bytes_.reserve(tokens_.size());
  for (const std::string& tok : tokens_) {
    std::string raw;
    for (size_t i = 0; i < tok.size();) {
      uint32_t cp;
      const size_t n = utf8_next(tok, i, &cp);
      const auto it = decoder.find(cp);
      if (it != decoder.end()) raw.push_back(static_cast<char>(it->second));
      else raw.append(tok, i, n);
      i += n;
    }
    token_bytes_.push_back(std::move(raw));
  }
}

const std::string& ClipTokenizer::token(int32_t id) const {
  RS_CHECK(id >= 0 && id < vocab_size(), IndexError, "clip-tokenizer", "id ", id,
           " out of range for vocab size ", vocab_size());
  return tokens_[id];
}

int32_t ClipTokenizer::token_to_id(std::string_view tok) const {
  const auto it = vocab_.find(std::string(tok));
  return it == vocab_.end() ? -1 : it->second;
}

// ---------------------------------------------------------------- encoding

std::string ClipTokenizer::clean_text(std::string_view text) { return clip_clean_text(text); }

std::vector<std::string_view> ClipTokenizer::split_words(std::string_view s) {
  // <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
  // tried in that order at each position; positions where none matches (whitespace) are skipped.
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    const std::string_view rest = s.substr(i);
    if (rest.starts_with(kStart)) { words.push_back(rest.substr(0, kStart.size())); i += kStart.size(); continue; }
    if (rest.starts_with(kEnd)) { words.push_back(rest.substr(0, kEnd.size())); i += kEnd.size(); continue; }
    if (rest[0] == '\'' && rest.size() >= 2) {
      size_t n = 0;
      for (const std::string_view c : {"s", "t", "re", "ve", "m", "ll", "d"}) {
        // IGNORECASE in CLIP's pattern; the text is lowercased already, but stay faithful.
        if (rest.size() >= 1 + c.size()) {
          bool eq = true;
          for (size_t k = 0; k < c.size(); ++k) eq = eq && (rest[1 + k] | 0x20) == c[k];
          if (eq) { n = 1 + c.size(); break; }
        }
      }
      if (n > 0) { words.push_back(rest.substr(0, n)); i += n; continue; }
    }
    uint32_t cp;
    size_t len = utf8_next(s, i, &cp);
    if (is_letter(cp)) {
      size_t j = i + len;
      while (j < s.size()) {
        const size_t l = utf8_next(s, j, &cp);
        if (!is_letter(cp)) break;
        j += l;
      }
      words.push_back(s.substr(i, j - i));
      i = j;
    } else if (is_number(cp)) {
      words.push_back(s.substr(i, len));
      i += len;
    } else if (is_space(cp)) {
      i += len;
    } else {
      size_t j = i + len;
      while (j < s.size()) {
        const size_t l = utf8_next(s, j, &cp);
        if (is_letter(cp) || is_number(cp) || is_space(cp)) break;
        j += l;
      }
      words.push_back(s.substr(i, j - i));
      i = j;
    }
  }
  return words;
}

void ClipTokenizer::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  const std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_->mu);
    const auto it = cache_->words.find(key);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<BpeSymbol> syms(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto b = static_cast<uint8_t>(word[i]);
    const int32_t idx = static_cast<int32_t>(i);
    syms[i] = BpeSymbol{static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1),
                        i + 1 == word.size() ? byte_eow_id_[b] : byte_id_[b], idx - 1,
                        i + 1 == word.size() ? -1 : idx + 1};
  }
  bpe_merge(syms, [&](const BpeSymbol& l, const BpeSymbol& r) -> BpeCandidate {
    const auto it = merges_.find(pair_key(l.id, r.id));
    if (it == merges_.end()) return {false, 0.f, -1};
    return {true, -static_cast<float>(it->second.first), it->second.second};
  });
  std::vector<int32_t> ids;
  for (int32_t i = 0; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mu);
  if (cache_->words.size() >= kCacheLimit) cache_->words.clear();
  cache_->words.emplace(key, std::move(ids));
}

void ClipTokenizer::clear_cache() const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  cache_->words.clear();
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  const std::string cleaned = clean_text(text);
  std::vector<int32_t> out;
  out.reserve(cleaned.size() / 3 + 2);
  out.push_back(start_id_);
  for (const std::string_view w : split_words(cleaned)) {
    if (w == kStart) out.push_back(start_id_);
    else if (w == kEnd) out.push_back(end_id_);
    else bpe_word(w, out);
  }
  out.push_back(end_id_);
  return out;
}

std::vector<int32_t> ClipTokenizer::encode_padded(std::string_view text, int context) const {
  RS_CHECK(context >= 2, ValueError, "clip-tokenizer", "context length ", context, " < 2");
  std::vector<int32_t> ids = encode(text);
  if (static_cast<int>(ids.size()) > context) {
    ids.resize(static_cast<size_t>(context));
    ids.back() = end_id_;
  }
  ids.resize(static_cast<size_t>(context), 0);
  return ids;
}

std::string ClipTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string raw;
  for (const int32_t id : ids) {
    RS_CHECK(id >= 0 && id < vocab_size(), IndexError, "clip-tokenizer", "decode: id ", id,
             " out of range for vocab size ", vocab_size());
    if (skip_special && id == end_id_) break;  // what follows is padding
    if (skip_special && id == start_id_) continue;
    raw += token_bytes_[id];
  }
  const std::string text = utf8_sanitize(raw);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kEow.size(), kEow) == 0) { out.push_back(' '); i += kEow.size(); }
    else out.push_back(text[i++]);
  }
  return out;
}

}  // namespace rscapret::tokenizers
