// Retrieval with an RS-CapRet model, in both directions (METHOD.md §1.4, §4.2, §4.3):
//   text  -> "BOS text [RET]" through the frozen LLaMA, W_t of the final-norm hidden state at [RET]
//   image -> W_i(CLIP pooler)
// both L2-normalised, so a dot product is the cosine similarity (exp(logit_scale) does not change a
// ranking and is left out).
//
// An image index on disk (written by `rscapret index`, or save_image_index) is one safetensors:
//   "embeddings" f32 [N, Q] (normalised rows); metadata "paths" (JSON list of N strings),
//   "model_xxh3" (module_xxh3 of the bridge that made it), "model" (its folder), "skipped".
// The hash is what ties an index to a model: embeddings of another bridge live in another space.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "models/rscapret/bundle.h"

namespace rscapret::models {

// Normalised text embeddings, f32 [T, Q] row-major, computed `batch` texts at a time. max_len < 0:
// texts longer than the model's max_len are cut as in training (the last kept token becomes [RET]);
// 0: never cut; > 0: that limit.
std::vector<float> embed_texts(const RsCapRetBundle& b, const std::vector<std::string>& texts, int64_t batch = 32,
                               int64_t max_len = -1);
// Normalised image embeddings of CLIP pooled features [B, Cv] -> f32 [B, Q] row-major.
std::vector<float> embed_pooled(const RsCapRet& model, const Tensor& pooled);

struct RetrievalHit {
  int64_t index = 0;  // row in the candidate set
  double score = 0;   // cosine similarity
};

// The top k rows of candidates [N, dim] by dot product with query [dim], best first; ties keep the
// lower index first (the same rule as eval/retrieval.h). k <= 0 or k > N: all N.
std::vector<RetrievalHit> top_k(const std::vector<float>& candidates, const std::vector<float>& query, int64_t dim,
                                int64_t k);

struct ImageIndex {
  std::vector<float> embeddings;  // [N, Q] row-major, normalised
  int64_t dim = 0;                // Q
  std::vector<std::string> paths; // N
  std::string model_xxh3;         // the bridge that made it
  std::string model_dir;          // where that bridge was (informative; may be moved since)
  int64_t size() const { return int64_t(paths.size()); }

  // FormatError when the file is not an index (names what is missing); IOError when unreadable.
  static ImageIndex load(const std::filesystem::path& path);
  // ValueError unless `model` is the bridge that built the index (same hash and width).
  void check_model(const RsCapRet& model, const std::string& model_desc) const;
  // Best k images for a normalised query [Q].
  std::vector<RetrievalHit> search(const std::vector<float>& query, int64_t k) const;
};

// Writes an index in the format above (atomically); embeddings [N, Q] normalised, N == paths.size().
void save_image_index(const std::filesystem::path& path, const std::vector<float>& embeddings, int64_t dim,
                      const std::vector<std::string>& paths, const std::string& model_xxh3,
                      const std::string& model_dir, int64_t skipped = 0);

}  // namespace rscapret::models
