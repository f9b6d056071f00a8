#include "eval/retrieval.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace rscapret::eval {

namespace {
// Rank (0-based) of candidate `target` among `n` scores at stride `stride` (stable descending).
size_t rank_of(const float* scores, size_t n, size_t stride, size_t target) {
  const float t = scores[target * stride];
  size_t r = 0;
  for (size_t k = 0; k < n; ++k) {
    const float s = scores[k * stride];
    r += s > t || (s == t && k < target);
  }
  return r;
}

RetrievalScores from_ranks(const std::vector<size_t>& ranks) {
  RetrievalScores s;
  for (size_t r : ranks) {
    s.r1 += r < 1;
    s.r5 += r < 5;
    s.r10 += r < 10;
  }
  const double n = static_cast<double>(ranks.size());
  s.r1 /= n;
  s.r5 /= n;
  s.r10 /= n;
  s.mr = (s.r1 + s.r5 + s.r10) / 3;
  return s;
}
}  // namespace

RetrievalResult retrieval_from_similarity(const std::vector<float>& sim, size_t num_images, size_t cpi) {
  RS_CHECK(num_images > 0 && cpi > 0, ValueError, "retrieval", "need >= 1 image and >= 1 caption per image");
  const size_t T = num_images * cpi;
  RS_CHECK(sim.size() == T * num_images, ValueError, "retrieval", "similarity has ", sim.size(),
           " values, expected (", T, " captions x ", num_images, " images)");
  for (float v : sim) RS_CHECK(!std::isnan(v), ValueError, "retrieval", "similarity contains NaN");
  std::vector<size_t> t2i(T), i2t(num_images);
  for (size_t t = 0; t < T; ++t) t2i[t] = rank_of(&sim[t * num_images], num_images, 1, t / cpi);
  for (size_t i = 0; i < num_images; ++i) {
    size_t best = T;
    for (size_t c = i * cpi; c < (i + 1) * cpi; ++c) best = std::min(best, rank_of(&sim[i], T, num_images, c));
    i2t[i] = best;
  }
  return {from_ranks(t2i), from_ranks(i2t)};
}

RetrievalResult retrieval_from_embeddings(const std::vector<float>& text, const std::vector<float>& image,
                                          size_t dim, size_t cpi) {
  RS_CHECK(dim > 0 && image.size() % dim == 0 && text.size() % dim == 0, ValueError, "retrieval",
           "embedding sizes ", text.size(), " and ", image.size(), " are not multiples of dim ", dim);
  const size_t I = image.size() / dim, T = text.size() / dim;
  RS_CHECK(T == I * cpi, ValueError, "retrieval", T, " captions for ", I, " images, expected ", cpi, " each");
  auto normalized = [dim](const std::vector<float>& x) {
    std::vector<double> out(x.begin(), x.end());
    for (size_t r = 0; r < x.size() / dim; ++r) {
      double n = 0;
      for (size_t d = 0; d < dim; ++d) n += out[r * dim + d] * out[r * dim + d];
      n = std::sqrt(n);
      RS_CHECK(n > 0, ValueError, "retrieval", "zero embedding at row ", r);
      for (size_t d = 0; d < dim; ++d) out[r * dim + d] /= n;
    }
    return out;
  };
  const auto tn = normalized(text), in = normalized(image);
  std::vector<float> sim(T * I);
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < I; ++i) {
      double s = 0;
      for (size_t d = 0; d < dim; ++d) s += tn[t * dim + d] * in[i * dim + d];
      sim[t * I + i] = static_cast<float>(s);
    }
  return retrieval_from_similarity(sim, I, cpi);
}

}  // namespace rscapret::eval
