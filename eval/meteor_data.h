// The language data METEOR 1.5 (English) aligns with, loaded from a folder laid out as Meteor's
// resources: function/english.words, synonym/english.{synsets,exceptions}, optionally
// nonbreaking/english.prefixes, and optionally the paraphrase table paraphrase-en.gz (from the
// official package; looked up as <dir>/paraphrase-en.gz or <dir>/data/paraphrase-en.gz unless a path
// is given). Without the table the paraphrase stage matches nothing (= METEOR_nopara).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "eval/meteor_normalizer.h"

namespace rscapret::eval {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// WordNet synonym sets as Meteor's SynonymDictionary uses them.
class SynonymDictionary {
 public:
  void load(const std::string& exceptions_file, const std::string& synsets_file);
  // synsets(word) U synsets of its base forms (exception list, else the first morphological rule).
  std::vector<int32_t> word_sets(const std::string& word) const;

 private:
  std::string morph(const std::string& word) const;
  const std::vector<int32_t>* synsets(const std::string& word) const;
  std::unordered_map<std::string, std::vector<std::string>> bases_;
  std::unordered_map<std::string, std::vector<int32_t>> synsets_;
};

// Meteor's ParaphraseTransducer restricted to the entries whose words all occur in `vocab` (only
// those can ever match; file order, and so match order, is kept).
class ParaphraseTable {
 public:
  void load(const std::string& gz_file, const StringSet& vocab);
  int32_t translate(const std::string& w) const;  // -1 if absent
  // [length, paraphrase index] pairs of reference phrases starting at words[start], shortest first.
  void paths(const std::vector<int32_t>& words, size_t start, std::vector<int32_t>& out) const;
  const std::vector<int32_t>& paraphrase(int32_t idx) const { return paraphrases_[idx]; }
  size_t size() const { return paraphrases_.size(); }

 private:
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocab_;
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 32 | word) -> child node
  std::vector<std::vector<int32_t>> emits_;       // per node
  std::vector<std::vector<int32_t>> paraphrases_;
};

struct MeteorData {
  std::unordered_set<std::string> function_words;
  SynonymDictionary synonyms;
  NonbreakingPrefixes nonbreaking;
  std::string paraphrase_file;  // empty: no paraphrase stage
  std::optional<ParaphraseTable> paraphrase;  // loaded on demand for a vocabulary

  // Loads from `dir`; throws IOError naming the missing file. `paraphrase_file` overrides the lookup.
  static std::shared_ptr<MeteorData> load(const std::string& dir, const std::string& paraphrase_file = "");
};

// The data folder for METEOR when none is given: $RSCAPRET_METEOR_DATA, else "meteor-data" next to
// the running program. Empty with `why` set when neither holds function/english.words.
std::string find_meteor_data(std::string* why);

}  // namespace rscapret::eval
