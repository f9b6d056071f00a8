#include "eval/meteor.h"

#include <algorithm>
#include <cmath>

#include "eval/meteor_normalizer.h"
#include "eval/text_util.h"

namespace rscapret::eval {

namespace {
// English, task "rank" (Constants / METRICS.md §6.2).
constexpr double kAlpha = 0.85, kBeta = 0.20, kGamma = 0.60, kDelta = 0.75;
constexpr double kWeights[kMeteorModules] = {1.0, 0.6, 0.8, 0.6};

// What coco-caption's meteor.py and the jar's stdio mode do to one field before normalising:
// the hypothesis loses '|||' and has each double space replaced once; every field is trimmed.
std::string java_trim(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && static_cast<unsigned char>(s[b]) <= ' ') ++b;
  while (e > b && static_cast<unsigned char>(s[e - 1]) <= ' ') --e;
  return s.substr(b, e - b);
}
std::string replace_once_pass(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t p; (p = s.find(from, pos)) != std::string::npos; pos = p + from.size()) out += s.substr(pos, p - pos) += to;
  return out + s.substr(pos);
}
}  // namespace

MeteorStats meteor_stats_of(const MeteorAlignment& a) {
  MeteorStats s{};
  s[0] = a.test_length;
  s[1] = a.ref_length;
  s[2] = a.test_function;
  s[3] = a.ref_function;
  for (int m = 0; m < kMeteorModules; ++m) {
    s[4 + 4 * m] = a.test_content[m];
    s[5 + 4 * m] = a.ref_content[m];
    s[6 + 4 * m] = a.test_func_matches[m];
    s[7 + 4 * m] = a.ref_func_matches[m];
  }
  s[20] = a.chunks;
  s[21] = a.test_word_matches;
  s[22] = a.ref_word_matches;
  return s;
}

double meteor_score_from_stats(const MeteorStats& s) {
  double test_total = 0, ref_total = 0;
  for (int m = 0; m < kMeteorModules; ++m) {
    test_total += s[4 + 4 * m];
    ref_total += s[5 + 4 * m];
    test_total += s[6 + 4 * m];
    ref_total += s[7 + 4 * m];
  }
  const double test_len_w = (kDelta * (s[0] - s[2])) + ((1.0 - kDelta) * s[2]);
  const double ref_len_w = (kDelta * (s[1] - s[3])) + ((1.0 - kDelta) * s[3]);
  double test_m = 0, ref_m = 0;
  for (int m = 0; m < kMeteorModules; ++m) test_m += s[4 + 4 * m] * kWeights[m] * kDelta;
  for (int m = 0; m < kMeteorModules; ++m) ref_m += s[5 + 4 * m] * kWeights[m] * kDelta;
  for (int m = 0; m < kMeteorModules; ++m) test_m += s[6 + 4 * m] * kWeights[m] * (1.0 - kDelta);
  for (int m = 0; m < kMeteorModules; ++m) ref_m += s[7 + 4 * m] * kWeights[m] * (1.0 - kDelta);
  const double precision = test_m / test_len_w, recall = ref_m / ref_len_w;
  const double fmean = 1.0 / (((1.0 - kAlpha) / precision) + (kAlpha / recall));
  double frag;
  if (test_total == s[0] && ref_total == s[1] && s[20] == 1) frag = 0;
  else frag = s[20] / ((s[21] + s[22]) / 2);
  const double score = fmean * (1.0 - kGamma * std::pow(frag, kBeta));
  if (std::isnan(score)) return 0;
  return std::max(score, 0.0);
}

void meteor_add_stats(MeteorStats& total, const MeteorStats& s) {
  double test_total = 0, ref_total = 0;
  for (int m = 0; m < kMeteorModules; ++m) {
    test_total += s[4 + 4 * m] + s[6 + 4 * m];
    ref_total += s[5 + 4 * m] + s[7 + 4 * m];
  }
  const bool perfect = test_total == s[0] && ref_total == s[1] && s[20] == 1.0;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != 20 || !perfect) total[i] += s[i];  // a perfect one-chunk segment adds no chunk
}

MeteorResult MeteorScorer::score(const CaptionCorpus& corpus, bool use_paraphrase) {
  check_corpus(corpus, "meteor");
  const size_t n = corpus.size();
  std::vector<std::vector<std::string>> test(n);
  std::vector<std::vector<std::vector<std::string>>> refs(n);
  StringSet vocab;
  for (size_t i = 0; i < n; ++i) {
    std::string hyp = replace_once_pass(replace_once_pass(corpus.candidates[i], "|||", ""), "  ", " ");
    test[i] = split_ws(meteor_normalize(java_trim(hyp), data_->nonbreaking));
    for (const auto& r : corpus.references[i])
      refs[i].push_back(split_ws(meteor_normalize(java_trim(r), data_->nonbreaking)));
    for (const auto& w : test[i]) vocab.insert(w);
    for (const auto& r : refs[i]) for (const auto& w : r) vocab.insert(w);
  }
  MeteorResult res;
  ParaphraseTable table;
  const ParaphraseTable* para = nullptr;
  if (use_paraphrase && !data_->paraphrase_file.empty()) {
    table.load(data_->paraphrase_file, vocab);
    para = &table;
    res.paraphrase_used = true;
  }
  MeteorAligner aligner(*data_, para);
  MeteorStats total{};
  for (size_t i = 0; i < n; ++i) {
    MeteorStats best{};
    double best_score = -1;
    for (const auto& r : refs[i]) {
      const MeteorStats st = meteor_stats_of(aligner.align(test[i], r));
      const double sc = meteor_score_from_stats(st);
      if (sc > best_score) {
        best_score = sc;
        best = st;
      }
    }
    res.stats.push_back(best);
    res.scores.images.push_back(best_score);
    meteor_add_stats(total, best);
  }
  res.scores.corpus = meteor_score_from_stats(total);
  return res;
}

}  // namespace rscapret::eval
