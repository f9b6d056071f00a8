#include "eval/cider.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "eval/text_util.h"

namespace rscapret::eval {

namespace {
constexpr int kN = 4;
constexpr double kSigma = 6.0;

// n-gram counts in first-occurrence order (all unigrams, then bigrams, ...), as Python's dict
// keeps them; the order fixes the summation order of the norms. Key = words joined by ' '.
struct Counts {
  std::vector<std::pair<std::string, double>> items;
  std::unordered_map<std::string, size_t> index;
};

Counts precook(const std::string& s) {
  Counts c;
  const auto w = split_ws(s);
  for (int k = 1; k <= kN; ++k)
    for (size_t i = 0; i + k <= w.size(); ++i) {
      std::string g = w[i];
      for (int j = 1; j < k; ++j) g += ' ' + w[i + j];
      auto [it, fresh] = c.index.emplace(g, c.items.size());
      if (fresh) c.items.emplace_back(std::move(g), 0.0);
      c.items[it->second].second += 1;
    }
  return c;
}

int order_of(const std::string& g) {
  int k = 1;
  for (char ch : g) k += ch == ' ';
  return k;
}

struct Vec {
  std::array<std::unordered_map<std::string, double>, kN> v;
  std::array<std::vector<const std::string*>, kN> keys;  // iteration order of v
  std::array<double, kN> norm{};
  double length = 0;  // number of bigrams (pycocoevalcap's quirk)
};

Vec counts2vec(const Counts& c, const std::unordered_map<std::string, double>& df, double ref_len) {
  Vec out;
  for (const auto& [g, tf] : c.items) {
    auto it = df.find(g);
    const double d = std::log(std::max(1.0, it == df.end() ? 0.0 : it->second));
    const int n = order_of(g) - 1;
    const double val = tf * (ref_len - d);
    auto [pos, _] = out.v[n].emplace(g, val);
    out.keys[n].push_back(&pos->first);
    out.norm[n] += std::pow(val, 2);
    if (n == 1) out.length += tf;
  }
  for (auto& x : out.norm) x = std::sqrt(x);
  return out;
}

std::array<double, kN> sim(const Vec& h, const Vec& r) {
  const double delta = h.length - r.length;
  std::array<double, kN> val{};
  for (int n = 0; n < kN; ++n) {
    for (const std::string* g : h.keys[n]) {
      const double vh = h.v[n].at(*g);
      auto it = r.v[n].find(*g);
      const double vr = it == r.v[n].end() ? 0.0 : it->second;
      val[n] += std::min(vh, vr) * vr;
    }
    if (h.norm[n] != 0 && r.norm[n] != 0) val[n] /= (h.norm[n] * r.norm[n]);
    // np.e ** x is C pow(e, x), which differs from exp(x) in the last bit.
    val[n] *= std::pow(M_E, -(std::pow(delta, 2)) / (2 * std::pow(kSigma, 2)));
  }
  return val;
}
}  // namespace

MetricScores cider_d_score(const CaptionCorpus& corpus) {
  check_corpus(corpus, "cider");
  const size_t N = corpus.size();
  std::vector<std::vector<Counts>> refs(N);
  std::unordered_map<std::string, double> df;
  for (size_t i = 0; i < N; ++i) {
    std::unordered_set<std::string> seen;
    for (const auto& r : corpus.references[i]) {
      refs[i].push_back(precook(r));
      for (const auto& [g, _] : refs[i].back().items) seen.insert(g);
    }
    for (const auto& g : seen) df[g] += 1;
  }
  const double ref_len = std::log(static_cast<double>(N));
  MetricScores s;
  for (size_t i = 0; i < N; ++i) {
    const Vec h = counts2vec(precook(corpus.candidates[i]), df, ref_len);
    std::array<double, kN> score{};
    for (const auto& rc : refs[i]) {
      const auto v = sim(h, counts2vec(rc, df, ref_len));
      for (int n = 0; n < kN; ++n) score[n] += v[n];
    }
    double avg = np_mean(std::vector<double>(score.begin(), score.end()));
    avg /= static_cast<double>(refs[i].size());
    avg *= 10.0;
    s.images.push_back(avg);
  }
  s.corpus = np_mean(s.images);
  return s;
}

}  // namespace rscapret::eval
