// METEOR 1.5's aligner (METRICS.md §6.4): candidate matches from the exact, stem, synonym and
// paraphrase stages, fixed unambiguous matches, then a beam search (beam 40) over reference
// positions, with the Java code's ranking quirks kept (int match counters, distance on the parent).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "eval/meteor_data.h"

struct sb_stemmer;

namespace rscapret::eval {

constexpr int kMeteorModules = 4;  // exact, stem, synonym, paraphrase

struct MeteorAlignment {
  double test_length = 0, ref_length = 0;  // words
  double test_function = 0, ref_function = 0;
  std::array<double, kMeteorModules> test_content{}, ref_content{}, test_func_matches{}, ref_func_matches{};
  double chunks = 0;
  double test_word_matches = 0, ref_word_matches = 0;
};

// Snowball English stemmer (libstemmer), one per aligner (it is not thread-safe).
class SnowballStemmer {
 public:
  SnowballStemmer();
  ~SnowballStemmer();
  SnowballStemmer(const SnowballStemmer&) = delete;
  SnowballStemmer& operator=(const SnowballStemmer&) = delete;
  std::string stem(const std::string& word);

 private:
  ::sb_stemmer* st_;
};

class MeteorAligner {
 public:
  // `paraphrase` may be null (no paraphrase stage matches).
  MeteorAligner(const MeteorData& data, const ParaphraseTable* paraphrase) : data_(data), para_(paraphrase) {}
  // test (hypothesis) and reference words, already normalised.
  MeteorAlignment align(const std::vector<std::string>& test, const std::vector<std::string>& ref);

 private:
  const MeteorData& data_;
  const ParaphraseTable* para_;
  SnowballStemmer stemmer_;
};

}  // namespace rscapret::eval
