// Text<->image retrieval metrics as the RS-CapRet paper reports them: R@1, R@5, R@10 and
// mR = (R@1 + R@5 + R@10) / 3 per direction, as fractions in [0, 1] (papers print x100).
// Layout: captions_per_image (5) consecutive captions per image; caption t belongs to image
// t / captions_per_image. Similarity matrix: (T captions, I images), row-major.
//
// Ties: an item's rank is the number of candidates with a strictly higher similarity plus the
// number with an equal similarity and a lower index (a stable sort by decreasing similarity).
// So a constant matrix ranks the lowest index first - no optimistic tie credit.
// i2t: an image's rank is the best rank among its captions.
#pragma once

#include <cstddef>
#include <vector>

namespace rscapret::eval {

struct RetrievalScores {
  double r1 = 0, r5 = 0, r10 = 0, mr = 0;
};

struct RetrievalResult {
  RetrievalScores t2i, i2t;
};

// sim: T x I row-major, T = I * captions_per_image.
RetrievalResult retrieval_from_similarity(const std::vector<float>& sim, size_t num_images,
                                          size_t captions_per_image = 5);

// Cosine similarity of L2-normalised embeddings: text (T, D), image (I, D), row-major.
RetrievalResult retrieval_from_embeddings(const std::vector<float>& text, const std::vector<float>& image,
                                          size_t dim, size_t captions_per_image = 5);

}  // namespace rscapret::eval
