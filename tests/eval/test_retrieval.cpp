// Retrieval metrics on hand-computed cases.
#include <gtest/gtest.h>

#include "eval/retrieval.h"
#include "tensor/error.h"

using namespace rscapret::eval;

// 12 images, 1 caption each: caption t's own image is placed at rank t (0-based) by giving the
// other images higher similarity; so R@1 = 1/12, R@5 = 5/12, R@10 = 10/12.
TEST(Retrieval, RanksPlacedByHand) {
  const size_t I = 12;
  std::vector<float> sim(I * I, 0.f);
  for (size_t t = 0; t < I; ++t) {
    sim[t * I + t] = 0.5f;
    for (size_t k = 0, placed = 0; k < I && placed < t; ++k)
      if (k != t) { sim[t * I + k] = 1.f; ++placed; }
  }
  const auto r = retrieval_from_similarity(sim, I, 1);
  EXPECT_DOUBLE_EQ(r.t2i.r1, 1.0 / 12);
  EXPECT_DOUBLE_EQ(r.t2i.r5, 5.0 / 12);
  EXPECT_DOUBLE_EQ(r.t2i.r10, 10.0 / 12);
  EXPECT_DOUBLE_EQ(r.t2i.mr, (1.0 + 5 + 10) / 36);
}

// 2 images x 5 captions. t2i: captions 0-4 -> image 0 correct for 0,1,2 (rank 0), wrong for 3,4
// (rank 1); captions 5-9 all correct. i2t: image 0's best caption is rank 0; image 1's own
// captions (0.7) are beaten by captions 3 and 4 (0.8) -> rank 2.
TEST(Retrieval, FiveCaptionsPerImage) {
  std::vector<float> sim = {
      0.9f, 0.1f, 0.9f, 0.1f, 0.9f, 0.1f, 0.2f, 0.8f, 0.2f, 0.8f,  // captions 0-4 (rows), images 0-1
      0.3f, 0.7f, 0.3f, 0.7f, 0.3f, 0.7f, 0.3f, 0.7f, 0.3f, 0.7f,  // captions 5-9
  };
  // rows above are written two per line: row t = {sim(t,0), sim(t,1)}
  const auto r = retrieval_from_similarity(sim, 2, 5);
  EXPECT_DOUBLE_EQ(r.t2i.r1, 8.0 / 10);
  EXPECT_DOUBLE_EQ(r.t2i.r5, 1.0);
  EXPECT_DOUBLE_EQ(r.i2t.r1, 0.5);
  EXPECT_DOUBLE_EQ(r.i2t.r5, 1.0);
  EXPECT_DOUBLE_EQ(r.i2t.mr, (0.5 + 1 + 1) / 3);
}

// Ties: a constant matrix ranks by index, so only caption/image 0 is found at rank 0.
TEST(Retrieval, TiesFavourLowerIndex) {
  const size_t I = 4;
  std::vector<float> sim(I * I, 0.5f);
  const auto r = retrieval_from_similarity(sim, I, 1);
  EXPECT_DOUBLE_EQ(r.t2i.r1, 0.25);
  EXPECT_DOUBLE_EQ(r.i2t.r1, 0.25);
  EXPECT_DOUBLE_EQ(r.t2i.r5, 1.0);
}

TEST(Retrieval, EmbeddingsAndErrors) {
  // Image i's embedding = e_i; captions equal to their image's embedding scaled (cosine 1).
  std::vector<float> img = {1, 0, 0, 1}, txt = {2, 0, 0, 3};
  const auto r = retrieval_from_embeddings(txt, img, 2, 1);
  EXPECT_DOUBLE_EQ(r.t2i.r1, 1.0);
  EXPECT_DOUBLE_EQ(r.i2t.r1, 1.0);
  EXPECT_THROW(retrieval_from_similarity(std::vector<float>(7), 2, 5), rscapret::ValueError);
  EXPECT_THROW(retrieval_from_embeddings(txt, img, 3, 1), rscapret::ValueError);
}
