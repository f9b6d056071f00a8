#include "eval/bleu.h"

#include <cmath>
#include <cstdlib>
#include <map>

#include "eval/text_util.h"

namespace rscapret::eval {

namespace {
using NgramCounts = std::map<std::vector<std::string>, int>;

NgramCounts count_ngrams(const std::vector<std::string>& w, int n) {
  NgramCounts c;
  for (int k = 1; k <= n; ++k)
    for (size_t i = 0; i + k <= w.size(); ++i)
      ++c[std::vector<std::string>(w.begin() + i, w.begin() + i + k)];
  return c;
}
}  // namespace

BleuStats bleu_image_stats(const std::string& candidate, const std::vector<std::string>& refs) {
  BleuStats s;
  NgramCounts maxref;
  bool have_len = false;
  double best_diff = 0;
  const auto cw = split_ws(candidate);
  s.testlen = static_cast<double>(cw.size());
  for (const auto& r : refs) {
    const auto rw = split_ws(r);
    for (const auto& [g, cnt] : count_ngrams(rw, 4)) {
      int& m = maxref[g];
      if (cnt > m) m = cnt;
    }
    // 'closest': minimise (|len - testlen|, len)
    double len = static_cast<double>(rw.size()), diff = std::abs(len - s.testlen);
    if (!have_len || diff < best_diff || (diff == best_diff && len < s.reflen)) {
      s.reflen = len;
      best_diff = diff;
      have_len = true;
    }
  }
  for (int k = 0; k < 4; ++k) s.guess[k] = std::max(0.0, s.testlen - k);
  for (const auto& [g, cnt] : count_ngrams(cw, 4)) {
    auto it = maxref.find(g);
    if (it != maxref.end()) s.correct[g.size() - 1] += std::min(cnt, it->second);
  }
  return s;
}

std::array<double, 4> bleu_from_stats(const BleuStats& s) {
  constexpr double tiny = 1e-15, small = 1e-9;  // pycocoevalcap's smoothing constants
  std::array<double, 4> out{};
  double b = 1.0;
  for (int k = 0; k < 4; ++k) {
    b *= (s.correct[k] + tiny) / (s.guess[k] + small);
    out[k] = std::pow(b, 1.0 / (k + 1));
  }
  const double ratio = (s.testlen + tiny) / (s.reflen + small);
  if (ratio < 1)
    for (auto& v : out) v *= std::exp(1 - 1 / ratio);
  return out;
}

BleuScores bleu_score(const CaptionCorpus& corpus) {
  check_corpus(corpus, "bleu");
  BleuScores r;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const BleuStats s = bleu_image_stats(corpus.candidates[i], corpus.references[i]);
    const auto b = bleu_from_stats(s);
    for (int k = 0; k < 4; ++k) r.bleu[k].images.push_back(b[k]);
    r.total.testlen += s.testlen;
    r.total.reflen += s.reflen;
    for (int k = 0; k < 4; ++k) {
      r.total.guess[k] += s.guess[k];
      r.total.correct[k] += s.correct[k];
    }
  }
  const auto b = bleu_from_stats(r.total);
  for (int k = 0; k < 4; ++k) r.bleu[k].corpus = b[k];
  return r;
}

}  // namespace rscapret::eval
