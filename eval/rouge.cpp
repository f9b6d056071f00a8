#include "eval/rouge.h"

#include <algorithm>
#include <cmath>

#include "eval/text_util.h"

namespace rscapret::eval {

namespace {
size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

double rouge_l_image(const std::string& candidate, const std::vector<std::string>& refs) {
  const double beta = 1.2;
  const auto c = split_space(candidate);
  double p_max = 0, r_max = 0;
  for (const auto& ref : refs) {
    const auto r = split_space(ref);
    const double lcs = static_cast<double>(lcs_length(r, c));
    p_max = std::max(p_max, lcs / static_cast<double>(c.size()));
    r_max = std::max(r_max, lcs / static_cast<double>(r.size()));
  }
  if (p_max == 0 || r_max == 0) return 0.0;
  const double b2 = std::pow(beta, 2);
  return ((1 + b2) * p_max * r_max) / (r_max + b2 * p_max);
}

MetricScores rouge_l_score(const CaptionCorpus& corpus) {
  check_corpus(corpus, "rouge_l");
  MetricScores s;
  for (size_t i = 0; i < corpus.size(); ++i)
    s.images.push_back(rouge_l_image(corpus.candidates[i], corpus.references[i]));
  s.corpus = np_mean(s.images);
  return s;
}

}  // namespace rscapret::eval
