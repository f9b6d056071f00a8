#include "models/tokenizers/bpe_trainer.h"

#include "tensor/atomic_file.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/unicode.h"
#include "tensor/error.h"

namespace rscapret::tokenizers {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space
constexpr uint32_t kSpaceCp = 0x2581;
constexpr std::string_view kEow = "</w>";
constexpr std::string_view kClipStart = "<|startoftext|>";
constexpr std::string_view kClipEnd = "<|endoftext|>";
constexpr int64_t kLlamaFixed = 3 + 256;  // <unk> <s> </s> + byte pieces
constexpr int64_t kClipFixed = 512 + 2;   // byte symbols (plain and </w>) + start/end

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Distinct words with their counts, in first-occurrence order (so everything after is
// deterministic no matter how the hash map iterates).
struct WordCounts {
  std::unordered_map<std::string, int32_t> index;
  std::vector<std::string> words;
  std::vector<int64_t> freq;
  int64_t occurrences = 0;

  void add(std::string_view w) {
    auto [it, fresh] = index.try_emplace(std::string(w), static_cast<int32_t>(words.size()));
    if (fresh) {
      words.emplace_back(w);
      freq.push_back(0);
    }
    ++freq[it->second];
    ++occurrences;
  }
};

// The merge learner on a word-frequency table.
//   syms[w]: word w as symbol ids (into `spell`), freq[w] its count.
//   spell:   symbol id -> spelling; merged symbols are appended (their id = position).
//   taken:   spellings that exist in the output vocabulary (specials, bytes, base symbols); a pair
//            whose concatenation is already taken is never merged, so every merge adds exactly one
//            new piece (one id per merge, as CLIP's layout requires).
// Returns the merges as (left, right) in order; merge i created symbol id first_new + i.
struct Learner {
  std::vector<std::vector<int32_t>>& syms;
  const std::vector<int64_t>& freq;
  std::vector<std::string>& spell;
  std::unordered_set<std::string>& taken;

  struct Entry {
    int64_t count;
    int32_t a, b;
  };

  std::vector<std::pair<int32_t, int32_t>> run(int64_t max_merges, int64_t min_count) {
    std::unordered_map<uint64_t, int64_t> counts;
    std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that had it (may be stale)
    for (int32_t w = 0; w < static_cast<int32_t>(syms.size()); ++w) {
      const auto& s = syms[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        counts[k] += freq[w];
        auto& list = where[k];
        if (list.empty() || list.back() != w) list.push_back(w);
      }
    }
    // Max-heap with lazy deletion: an entry is live when its count equals the pair's current count.
    // Order: higher count first, then (left, right) spellings bytewise ascending: a strict total
    // order over distinct pairs, so the result never depends on hash-map iteration order.
    auto worse = [this](const Entry& x, const Entry& y) {
      if (x.count != y.count) return x.count < y.count;
      if (x.a != y.a) {
        const int c = spell[x.a].compare(spell[y.a]);
        if (c != 0) return c > 0;
      }
      return spell[x.b].compare(spell[y.b]) > 0;
    };
    std::vector<Entry> heap;
    heap.reserve(counts.size());
    for (const auto& [k, c] : counts)
      heap.push_back(Entry{c, static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFFu)});
    std::make_heap(heap.begin(), heap.end(), worse);

    std::vector<std::pair<int32_t, int32_t>> merges;
    std::unordered_set<uint64_t> banned;
    std::unordered_map<uint64_t, int64_t> delta;
    std::vector<int64_t> visited(syms.size(), -1);  // word -> last merge step that touched it
    while (!heap.empty() && (max_merges < 0 || static_cast<int64_t>(merges.size()) < max_merges)) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      const Entry top = heap.back();
      heap.pop_back();
      const uint64_t key = pair_key(top.a, top.b);
      const auto cit = counts.find(key);
      if (cit == counts.end() || cit->second != top.count) continue;  // stale
      if (top.count < min_count) break;  // the best live pair is too rare: done
      if (banned.count(key)) continue;
      std::string joined = spell[top.a] + spell[top.b];
      if (taken.count(joined)) {
        banned.insert(key);
        continue;
      }
      const auto new_id = static_cast<int32_t>(spell.size());
      taken.insert(joined);
      spell.push_back(std::move(joined));
      const int64_t step = static_cast<int64_t>(merges.size());
      merges.emplace_back(top.a, top.b);

      std::vector<int32_t> affected = std::move(where[key]);
      where.erase(key);
      delta.clear();
      for (const int32_t w : affected) {
        if (visited[w] == step) continue;
        visited[w] = step;
        auto& s = syms[w];
        bool has = false;
        for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == top.a && s[i + 1] == top.b;
        if (!has) continue;
        const int64_t f = freq[w];
        for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= f;
        // Left to right, non-overlapping ("a a a" with (a,a) -> "aa a"), which is what rank-ordered,
        // leftmost-first encoding produces too.
        size_t j = 0;
        for (size_t i = 0; i < s.size();) {
          if (i + 1 < s.size() && s[i] == top.a && s[i + 1] == top.b) {
            s[j++] = new_id;
            i += 2;
          } else {
            s[j++] = s[i++];
          }
        }
        s.resize(j);
        for (size_t i = 0; i + 1 < s.size(); ++i) {
          const uint64_t k = pair_key(s[i], s[i + 1]);
          delta[k] += f;
          // Only pairs with the new symbol are new to this word; the others already list it.
          if (s[i] == new_id || s[i + 1] == new_id) {
            auto& list = where[k];
            if (list.empty() || list.back() != w) list.push_back(w);
          }
        }
      }
      for (const auto& [k, d] : delta) {
        if (d == 0) continue;
        int64_t& c = counts[k];
        c += d;
        RS_ASSERT(c >= 0, "bpe_trainer: negative pair count");
        if (c == 0) {
          counts.erase(k);
        } else {
          heap.push_back(Entry{c, static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFFu)});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
      RS_ASSERT(!counts.count(key), "bpe_trainer: merged pair still counted");
    }
    return merges;
  }
};

// Coverage and tokens per text from the final segmentation of every distinct word.
void fill_segmentation_stats(BpeTrainStats& st, const std::vector<std::vector<int32_t>>& syms,
                             const std::vector<int64_t>& freq, size_t n_texts) {
  int64_t single = 0, tokens = 0, words = 0;
  for (size_t w = 0; w < syms.size(); ++w) {
    words += freq[w];
    tokens += freq[w] * static_cast<int64_t>(syms[w].size());
    if (syms[w].size() == 1) single += freq[w];
  }
  st.texts = static_cast<int64_t>(n_texts);
  st.words = words;
  st.distinct_words = static_cast<int64_t>(syms.size());
  st.coverage = words > 0 ? static_cast<double>(single) / static_cast<double>(words) : 0.0;
  st.tokens_per_text = n_texts > 0 ? static_cast<double>(tokens) / static_cast<double>(n_texts) : 0.0;
}

// Merge budget from the options, given the pieces that exist before any merge.
int64_t merge_budget(const BpeTrainOptions& o, int64_t base_pieces) {
  int64_t budget = o.max_merges;
  if (o.vocab_size > 0) {
    const int64_t room = o.vocab_size - base_pieces;
    budget = budget < 0 ? room : std::min(budget, room);
  }
  return budget;
}

void check_options(const BpeTrainOptions& o, const char* who) {
  RS_CHECK(o.vocab_size >= 0, ValueError, who, "vocab size ", o.vocab_size, " is negative (0 = no limit)");
  RS_CHECK(o.max_merges >= -1, ValueError, who, "max merges ", o.max_merges, " is invalid (-1 = no limit)");
  RS_CHECK(o.min_pair_count >= 1, ValueError, who, "min pair count ", o.min_pair_count, " must be >= 1");
}

// ---------------------------------------------------------------- LLaMA

enum class CharClass { kNone, kLetter, kDigit, kOther };

CharClass char_class(uint32_t cp) {
  if (is_letter(cp)) return CharClass::kLetter;
  if (is_number(cp)) return CharClass::kDigit;
  return CharClass::kOther;
}

// LlamaTokenizer's normalization (identity, spaces -> "▁", dummy prefix, ill-formed bytes ->
// U+FFFD), then the word split described in the header. Calls add(word) per word.
template <typename Add>
void llama_words(std::string_view text, Add&& add) {
  if (text.empty()) return;
  std::string word(kSpace);  // the dummy prefix starts the first word
  CharClass cls = CharClass::kNone;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    const size_t n = utf8_next(text, i, &cp);  // ill-formed: 1 byte, U+FFFD
    i += n;
    if (cp == ' ' || cp == kSpaceCp) {  // "▁" in the input reads as a space, as when encoding
      add(word);
      word.assign(kSpace);
      cls = CharClass::kNone;
      continue;
    }
    const CharClass c = char_class(cp);
    if (cls != CharClass::kNone && (c != cls || c == CharClass::kDigit)) {
      add(word);
      word.clear();
    }
    utf8_append(word, cp);
    cls = c;
  }
  add(word);
}

std::string byte_piece(int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

// ---------------------------------------------------------------- CLIP

// The 256 byte symbols in bytes_to_unicode order: printable Latin-1 bytes map to themselves and
// the rest to 256+, both ascending, so sorting bytes by their code point gives CLIP's order.
std::vector<uint8_t> clip_byte_order() {
  std::vector<uint8_t> order(256);
  for (int b = 0; b < 256; ++b) order[b] = static_cast<uint8_t>(b);
  std::sort(order.begin(), order.end(),
            [](uint8_t x, uint8_t y) { return clip_byte_to_unicode(x) < clip_byte_to_unicode(y); });
  return order;
}

std::string clip_spelling(uint8_t b) {
  std::string s;
  utf8_append(s, clip_byte_to_unicode(b));
  return s;
}

}  // namespace

// ---------------------------------------------------------------- training

LlamaTokenizerFiles train_llama_tokenizer(std::span<const std::string> texts, const BpeTrainOptions& options) {
  constexpr const char* kWho = "train_llama_tokenizer";
  check_options(options, kWho);
  WordCounts wc;
  for (const std::string& t : texts) llama_words(t, [&](std::string_view w) { wc.add(w); });
  RS_CHECK(!wc.words.empty(), ValueError, kWho, "empty corpus: ", texts.size(),
           " texts and not one word to learn from");

  // Characters, weighted by word frequency: most frequent first, code point on ties.
  std::unordered_map<uint32_t, int64_t> char_freq;
  for (size_t w = 0; w < wc.words.size(); ++w) {
    const std::string& s = wc.words[w];
    for (size_t i = 0; i < s.size();) {
      uint32_t cp;
      i += utf8_next(s, i, &cp);
      char_freq[cp] += wc.freq[w];
    }
  }
  std::vector<std::pair<uint32_t, int64_t>> chars(char_freq.begin(), char_freq.end());
  std::sort(chars.begin(), chars.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  });
  const auto n_chars = static_cast<int64_t>(chars.size());
  RS_CHECK(options.vocab_size == 0 || options.vocab_size >= kLlamaFixed + n_chars, ValueError, kWho,
           "vocab size ", options.vocab_size, " is smaller than the base alphabet: 3 special + 256 byte ",
           "pieces + ", n_chars, " characters in the training text = ", kLlamaFixed + n_chars);

  // Internal symbol ids: characters 0..C-1, then one per merge.
  std::vector<std::string> spell;
  std::unordered_map<uint32_t, int32_t> char_id;
  std::unordered_set<std::string> taken = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) taken.insert(byte_piece(b));
  for (const auto& [cp, f] : chars) {
    char_id.emplace(cp, static_cast<int32_t>(spell.size()));
    std::string s;
    utf8_append(s, cp);
    taken.insert(s);
    spell.push_back(std::move(s));
  }
  std::vector<std::vector<int32_t>> syms(wc.words.size());
  for (size_t w = 0; w < wc.words.size(); ++w) {
    const std::string& s = wc.words[w];
    for (size_t i = 0; i < s.size();) {
      uint32_t cp;
      i += utf8_next(s, i, &cp);
      syms[w].push_back(char_id.at(cp));
    }
  }
  Learner learner{syms, wc.freq, spell, taken};
  const auto merges = learner.run(merge_budget(options, kLlamaFixed + n_chars), options.min_pair_count);
  const auto n_merges = static_cast<int64_t>(merges.size());

  // Output ids: specials, bytes, merged pieces (merge order), characters.
  auto out_id = [&](int32_t sym) -> int64_t {
    return sym < n_chars ? kLlamaFixed + n_merges + sym : kLlamaFixed + (sym - n_chars);
  };
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) vocab[byte_piece(b)] = 3 + b;
  for (int64_t m = 0; m < n_merges; ++m) vocab[spell[static_cast<size_t>(n_chars + m)]] = kLlamaFixed + m;
  for (int64_t c = 0; c < n_chars; ++c) vocab[spell[static_cast<size_t>(c)]] = out_id(static_cast<int32_t>(c));
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (const auto& [a, b] : merges) {
    // "a b" strings as Llama 2's file has them: pieces never hold a plain space (it became "▁").
    RS_ASSERT(spell[a].find(' ') == std::string::npos && spell[b].find(' ') == std::string::npos,
              "bpe_trainer: a LLaMA piece holds a space");
    merge_list.push_back(spell[a] + " " + spell[b]);
  }

  auto special = [](int id, const char* content) {
    return nlohmann::ordered_json{{"id", id},           {"content", content}, {"single_word", false},
                                  {"lstrip", false},    {"rstrip", false},    {"normalized", false},
                                  {"special", true}};
  };
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = {special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")};
  j["normalizer"] = nullptr;
  // The newer Hugging Face spelling of SentencePiece's normalization: "▁" for spaces and a dummy
  // prefix on the first segment only; split=false keeps the text one sequence, as SentencePiece.
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", std::string(kSpace)},
                        {"prepend_scheme", "first"}, {"split", false}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", std::string(kSpace)}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", "<unk>"},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", true},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merge_list)}};

  LlamaTokenizerFiles out;
  out.tokenizer_json = j.dump(2) + "\n";
  fill_segmentation_stats(out.stats, syms, wc.freq, texts.size());
  out.stats.pieces = kLlamaFixed + n_merges + n_chars;
  out.stats.merges = n_merges;
  out.stats.base_symbols = n_chars;
  return out;
}

ClipTokenizerFiles train_clip_tokenizer(std::span<const std::string> texts, const BpeTrainOptions& options) {
  constexpr const char* kWho = "train_clip_tokenizer";
  check_options(options, kWho);
  RS_CHECK(options.vocab_size == 0 || options.vocab_size >= kClipFixed, ValueError, kWho, "vocab size ",
           options.vocab_size, " is smaller than CLIP's base alphabet: 256 byte symbols + 256 byte+</w> ",
           "symbols + <|startoftext|> + <|endoftext|> = ", kClipFixed);
  WordCounts wc;
  for (const std::string& t : texts) {
    const std::string cleaned = ClipTokenizer::clean_text(t);
    for (const std::string_view w : ClipTokenizer::split_words(cleaned))
      if (w != kClipStart && w != kClipEnd) wc.add(w);  // those two encode as their special ids
  }
  RS_CHECK(!wc.words.empty(), ValueError, kWho, "empty corpus: ", texts.size(),
           " texts and not one word to learn from");

  // Symbol ids are CLIP's ids: byte symbols 0..255, byte+</w> 256..511, merge i = 512 + i.
  const std::vector<uint8_t> order = clip_byte_order();
  int32_t index_of[256];
  std::vector<std::string> spell;
  for (int i = 0; i < 256; ++i) {
    index_of[order[i]] = i;
    spell.push_back(clip_spelling(order[i]));
  }
  for (int i = 0; i < 256; ++i) spell.push_back(clip_spelling(order[i]) + std::string(kEow));
  std::unordered_set<std::string> taken(spell.begin(), spell.end());
  taken.emplace(kClipStart);
  taken.emplace(kClipEnd);
  std::vector<std::vector<int32_t>> syms(wc.words.size());
  for (size_t w = 0; w < wc.words.size(); ++w) {
    const std::string& s = wc.words[w];
    for (size_t i = 0; i < s.size(); ++i) {
      const int32_t id = index_of[static_cast<uint8_t>(s[i])];
      syms[w].push_back(i + 1 == s.size() ? 256 + id : id);
    }
  }
  Learner learner{syms, wc.freq, spell, taken};
  const auto merges = learner.run(merge_budget(options, kClipFixed), options.min_pair_count);
  const auto n_merges = static_cast<int64_t>(merges.size());

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t id = 0; id < spell.size(); ++id) vocab[spell[id]] = id;
  vocab[std::string(kClipStart)] = spell.size();
  vocab[std::string(kClipEnd)] = spell.size() + 1;
  ClipTokenizerFiles out;
  out.vocab_json = vocab.dump() + "\n";
  // Byte-level spellings never hold whitespace (bytes_to_unicode maps it to Ġ, Ċ, ...), so one
  // space separates the two sides unambiguously.
  out.merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : merges) out.merges_txt += spell[a] + " " + spell[b] + "\n";
  fill_segmentation_stats(out.stats, syms, wc.freq, texts.size());
  out.stats.pieces = kClipFixed + n_merges;
  out.stats.merges = n_merges;
  out.stats.base_symbols = 512;
  return out;
}

// ---------------------------------------------------------------- writing

void write_llama_tokenizer(const LlamaTokenizerFiles& files, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "tokenizer.json", files.tokenizer_json, "train tokenizer");
}

void write_clip_tokenizer(const ClipTokenizerFiles& files, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  // merges.txt first: a reader that finds the new vocab.json then finds its merges too.
  write_file_atomic(dir / "merges.txt", files.merges_txt, "train tokenizer");
  write_file_atomic(dir / "vocab.json", files.vocab_json, "train tokenizer");
}

}  // namespace rscapret::tokenizers
