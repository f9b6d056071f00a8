// Embedding: a table of V rows of C features, looked up by integer ids.
#pragma once

#include "nn/module.h"

namespace rscapret::nn {

class Embedding : public Module {
 public:
  // Rows start N(0, 1) as in PyTorch (models re-initialise with their initializer_range).
  Embedding(int64_t num_embeddings, int64_t embedding_dim, const Init& init = {});
  Tensor forward(const Tensor& ids) const;  // ids i32/i64 [...] -> [..., C]
  Tensor operator()(const Tensor& ids) const { return forward(ids); }
  int64_t num_embeddings() const { return v_; }
  int64_t embedding_dim() const { return c_; }

  Tensor weight;  // [V, C]

 private:
  int64_t v_, c_;
};

}  // namespace rscapret::nn
