#include "nn/embedding.h"

#include "autograd/ops.h"

namespace rscapret::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, const Init& init)
    : Module("Embedding"), v_(num_embeddings), c_(embedding_dim) {
  register_parameter("weight", &weight, {num_embeddings, embedding_dim}, Fill::normal(0.0, 1.0), init);
}

Tensor Embedding::forward(const Tensor& ids) const { return ops::embedding(weight, ids); }

}  // namespace rscapret::nn
