#include "eval/meteor_aligner.h"

#include <libstemmer.h>

#include <algorithm>
#include <cstdlib>

#include "eval/text_util.h"
#include "tensor/error.h"

namespace rscapret::eval {

SnowballStemmer::SnowballStemmer() : st_(sb_stemmer_new("english", "UTF_8")) {
  RS_CHECK(st_ != nullptr, ValueError, "meteor", "libstemmer has no English stemmer");
}
SnowballStemmer::~SnowballStemmer() { sb_stemmer_delete(st_); }
std::string SnowballStemmer::stem(const std::string& word) {
  const sb_symbol* s = sb_stemmer_stem(st_, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  return std::string(reinterpret_cast<const char*>(s), static_cast<size_t>(sb_stemmer_length(st_)));
}

namespace {

struct Match {
  int start, length;            // reference (line 2)
  int match_start, match_length;  // test (line 1)
  int module;
};

// Candidate matches per reference start index, with coverage counts (Meteor's Stage).
struct Stage {
  std::vector<std::vector<Match>> matches;
  std::vector<int> cov1, cov2;
  void add(const Match& m) {
    matches[m.start].push_back(m);
    for (int k = 0; k < m.match_length; ++k) ++cov1[m.match_start + k];
    for (int k = 0; k < m.length; ++k) ++cov2[m.start + k];
  }
};

struct Path {  // Meteor's PartialAlignment
  std::vector<const Match*> matches;  // by reference index
  int matches1 = 0, matches2 = 0;     // ints on purpose: Java's `int += double` truncates
  int chunks = 0, idx = 0, last_match_end = -1, distance = 0;
  std::vector<char> used1, used2;
  bool is_used(const Match& m) const {
    for (int i = 0; i < m.length; ++i) if (used2[m.start + i]) return true;
    for (int i = 0; i < m.match_length; ++i) if (used1[m.match_start + i]) return true;
    return false;
  }
  void set_used(const Match& m) {
    for (int i = 0; i < m.length; ++i) used2[m.start + i] = 1;
    for (int i = 0; i < m.match_length; ++i) used1[m.match_start + i] = 1;
  }
  // The aligner ranks with weights 1 (exact) and 0.5 (other stages), not the scoring weights.
  void take(const Match& m) {
    const double w = m.module == 0 ? 1.0 : 0.5;
    matches1 = static_cast<int>(matches1 + m.match_length * w);
    matches2 = static_cast<int>(matches2 + m.length * w);
    if (last_match_end != -1 && m.match_start != last_match_end) ++chunks;
    idx = m.start + m.length;
    last_match_end = m.match_start + m.match_length;
  }
};

// Constants.PARTIAL_COMPARE_TOTAL as a strict "x before y".
bool path_before(const Path& x, const Path& y) {
  const int diff = (y.matches1 + y.matches2) - (x.matches1 + x.matches2);
  if (diff != 0) return diff < 0;
  if (x.chunks != y.chunks) return x.chunks < y.chunks;
  return x.distance < y.distance;
}

constexpr int kBeam = 40;

Path resolve(const Stage& s, Path start, int n2) {
  std::vector<Path> paths, next;
  next.push_back(std::move(start));
  for (int current = 0; current <= n2; ++current) {
    paths = std::move(next);
    next.clear();
    std::stable_sort(paths.begin(), paths.end(), path_before);
    const size_t keep = std::min<size_t>(kBeam, paths.size());
    for (size_t rank = 0; rank < keep; ++rank) {
      Path& path = paths[rank];
      if (current == n2) {
        if (path.last_match_end != -1) ++path.chunks;
        next.push_back(std::move(path));
        continue;
      }
      if (path.used2[current]) {
        if (current < path.idx) {
          next.push_back(std::move(path));
        } else if (path.matches[path.idx] != nullptr) {  // a fixed match starts here
          const Match& m = *path.matches[path.idx];
          path.take(m);
          path.distance += std::abs(m.start - m.match_start);
          next.push_back(std::move(path));
        }
        continue;
      }
      for (const Match& m : s.matches[current]) {
        if (path.is_used(m)) continue;
        Path np = path;
        np.set_used(m);
        np.matches[current] = &m;
        np.take(m);
        path.distance += std::abs(m.start - m.match_start);  // sic: the parent, as in Meteor
        next.push_back(std::move(np));
      }
      if (path.last_match_end != -1) {
        ++path.chunks;
        path.last_match_end = -1;
      }
      ++path.idx;
      next.push_back(std::move(path));
    }
    if (next.empty()) next.push_back(paths[0]);
  }
  std::stable_sort(next.begin(), next.end(), path_before);
  return std::move(next[0]);
}

}  // namespace

MeteorAlignment MeteorAligner::align(const std::vector<std::string>& w1, const std::vector<std::string>& w2) {
  const int n1 = static_cast<int>(w1.size()), n2 = static_cast<int>(w2.size());
  Stage s;
  s.matches.resize(n2);
  s.cov1.assign(n1, 0);
  s.cov2.assign(n2, 0);
  std::vector<int32_t> k1(n1), k2(n2);  // word identity = Java String.hashCode
  for (int i = 0; i < n1; ++i) k1[i] = java_hash(w1[i]);
  for (int j = 0; j < n2; ++j) k2[j] = java_hash(w2[j]);
  const bool identical = k1 == k2;  // then only the exact stage runs
  // 1. exact
  for (int j = 0; j < n2; ++j)
    for (int i = 0; i < n1; ++i)
      if (k1[i] == k2[j]) s.add({j, 1, i, 1, 0});
  if (!identical) {
    // 2. stem
    std::vector<int32_t> s1(n1), s2(n2);
    for (int i = 0; i < n1; ++i) s1[i] = java_hash(stemmer_.stem(w1[i]));
    for (int j = 0; j < n2; ++j) s2[j] = java_hash(stemmer_.stem(w2[j]));
    for (int j = 0; j < n2; ++j)
      for (int i = 0; i < n1; ++i)
        if (s1[i] == s2[j] && k1[i] != k2[j]) s.add({j, 1, i, 1, 1});
    // 3. synonym
    std::vector<std::vector<int32_t>> y1(n1), y2(n2);
    for (int i = 0; i < n1; ++i) y1[i] = data_.synonyms.word_sets(w1[i]);
    for (int j = 0; j < n2; ++j) y2[j] = data_.synonyms.word_sets(w2[j]);
    for (int j = 0; j < n2; ++j)
      for (int i = 0; i < n1; ++i) {
        bool syn = false;
        for (int32_t id : y1[i])
          if (std::binary_search(y2[j].begin(), y2[j].end(), id)) { syn = true; break; }
        if (syn && k1[i] != k2[j]) s.add({j, 1, i, 1, 2});
      }
    // 4. paraphrase, both directions
    if (para_ != nullptr && para_->size() > 0) {
      std::vector<int32_t> l1(n1), l2(n2), pars;
      for (int i = 0; i < n1; ++i) l1[i] = para_->translate(w1[i]);
      for (int j = 0; j < n2; ++j) l2[j] = para_->translate(w2[j]);
      auto occurs_at = [](const std::vector<int32_t>& line, int at, const std::vector<int32_t>& words) {
        for (size_t k = 0; k < words.size(); ++k)
          if (at + static_cast<int>(k) >= static_cast<int>(line.size()) || line[at + k] != words[k]) return false;
        return true;
      };
      for (int j = 0; j < n2; ++j) {
        para_->paths(l2, j, pars);
        for (size_t p = 0; p < pars.size(); p += 2) {
          const auto& words = para_->paraphrase(pars[p + 1]);
          for (int i = 0; i < n1; ++i)
            if (occurs_at(l1, i, words)) s.add({j, pars[p], i, static_cast<int>(words.size()), 3});
        }
      }
      for (int i = 0; i < n1; ++i) {
        para_->paths(l1, i, pars);
        for (size_t p = 0; p < pars.size(); p += 2) {
          const auto& words = para_->paraphrase(pars[p + 1]);
          for (int j = 0; j < n2; ++j)
            if (occurs_at(l2, j, words)) s.add({j, static_cast<int>(words.size()), i, pars[p], 3});
        }
      }
    }
  }
  // Fix the matches that are the only candidate and cover words nothing else covers.
  Path start;
  start.matches.assign(n2, nullptr);
  start.used1.assign(n1, 0);
  start.used2.assign(n2, 0);
  for (int i = 0; i < n2; ++i) {
    if (s.matches[i].size() != 1) continue;
    const Match& m = s.matches[i][0];
    bool overlap = false;
    for (int j = 0; j < m.length; ++j) overlap |= s.cov2[i + j] != 1;
    for (int j = 0; j < m.match_length; ++j) overlap |= s.cov1[m.match_start + j] != 1;
    if (!overlap) {
      start.matches[i] = &m;
      start.set_used(m);
    }
  }
  const Path best = resolve(s, std::move(start), n2);

  MeteorAlignment a;
  a.test_length = n1;
  a.ref_length = n2;
  std::vector<char> f1(n1), f2(n2);
  for (int i = 0; i < n1; ++i) a.test_function += (f1[i] = data_.function_words.count(w1[i]) > 0);
  for (int j = 0; j < n2; ++j) a.ref_function += (f2[j] = data_.function_words.count(w2[j]) > 0);
  for (const Match* m : best.matches) {
    if (m == nullptr) continue;
    for (int j = 0; j < m->match_length; ++j)
      (f1[m->match_start + j] ? a.test_func_matches : a.test_content)[m->module] += 1;
    for (int j = 0; j < m->length; ++j) (f2[m->start + j] ? a.ref_func_matches : a.ref_content)[m->module] += 1;
  }
  // Chunks: maximal runs contiguous and in order on both sides.
  int idx = 0, last = -1, chunks = 0, m1 = 0, m2 = 0;
  while (idx < n2) {
    const Match* m = best.matches[idx];
    if (m == nullptr) {
      if (last != -1) { ++chunks; last = -1; }
      ++idx;
    } else {
      m1 += m->match_length;
      m2 += m->length;
      if (last != -1 && m->match_start != last) ++chunks;
      idx = m->start + m->length;
      last = m->match_start + m->match_length;
    }
  }
  if (last != -1) ++chunks;
  a.chunks = chunks;
  a.test_word_matches = m1;
  a.ref_word_matches = m2;
  return a;
}

}  // namespace rscapret::eval
