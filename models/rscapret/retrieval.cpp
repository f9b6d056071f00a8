#include "models/rscapret/retrieval.h"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "autograd/autograd.h"
#include "nn/losses.h"
#include "tensor/safetensors.h"

namespace rscapret::models {
namespace fs = std::filesystem;

std::vector<float> embed_texts(const RsCapRetBundle& b, const std::vector<std::string>& texts, int64_t batch,
                               int64_t max_len) {
  autograd::NoGradGuard no_grad;
  RS_CHECK(batch >= 1, ValueError, "retrieval", "batch must be >= 1, got ", batch);
  const RsCapRet& m = *b.model;
  const int64_t L = max_len < 0 ? m.options().max_len : max_len;
  std::vector<float> out;
  for (size_t i0 = 0; i0 < texts.size(); i0 += size_t(batch)) {
    const std::vector<std::string> chunk(texts.begin() + std::ptrdiff_t(i0),
                                         texts.begin() + std::ptrdiff_t(std::min(texts.size(), i0 + size_t(batch))));
    // Right padding is harmless: attention is causal, so the [RET] state never sees the pads.
    const CaptionTokens t = tokenize_captions(*b.tokenizer, chunk, L, m.ret_id(),
                                              m.options().pad_id);  // tokens i64 [n, L]
    const std::vector<float> e = nn::l2_normalize(m.text_embeddings(t)).to_vector<float>();  // [n, Q]
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<float> embed_pooled(const RsCapRet& model, const Tensor& pooled) {
  autograd::NoGradGuard no_grad;
  return nn::l2_normalize(model.image_embeddings(pooled)).to_vector<float>();  // [B, Q]
}

std::vector<RetrievalHit> top_k(const std::vector<float>& cand, const std::vector<float>& q, int64_t dim, int64_t k) {
  RS_CHECK(dim > 0 && int64_t(q.size()) == dim, ShapeError, "retrieval", "query has ", q.size(),
           " values, expected ", dim);
  RS_CHECK(cand.size() % size_t(dim) == 0, ShapeError, "retrieval", "candidates hold ", cand.size(),
           " values, not a multiple of ", dim);
  const int64_t N = int64_t(cand.size()) / dim;
  std::vector<RetrievalHit> hits(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t j = 0; j < dim; ++j) s += double(cand[size_t(n * dim + j)]) * double(q[size_t(j)]);
    hits[size_t(n)] = {n, s};
  }
  // Stable: equal scores keep the lower index first, as eval/retrieval.h ranks ties.
  std::stable_sort(hits.begin(), hits.end(), [](const RetrievalHit& a, const RetrievalHit& b) { return a.score > b.score; });
  if (k > 0 && k < N) hits.resize(size_t(k));
  return hits;
}

ImageIndex ImageIndex::load(const fs::path& path) {
  RS_CHECK(fs::exists(path), IOError, "index", "no index file ", path.string());
  std::unique_ptr<SafetensorsFile> file;
  try {
    file = std::make_unique<SafetensorsFile>(path);
  } catch (const Error& e) {
    throw FormatError(cat("[index] ", path.string(), " is not an index written by `rscapret index`: ", e.what()));
  }
  const auto& meta = file->metadata();
  RS_CHECK(meta.count("paths") && meta.count("model_xxh3") && file->contains("embeddings"), FormatError, "index",
           path.string(), " is not an index written by `rscapret index` (needs \"embeddings\" and the metadata "
           "\"paths\" and \"model_xxh3\")");
  ImageIndex idx;
  const Tensor e = file->get("embeddings");
  RS_CHECK(e.dim() == 2, FormatError, "index", path.string(), ": embeddings must be [N, Q], got ",
           format_shape(e.shape()));
  idx.dim = e.shape()[1];
  idx.embeddings = e.to(DType::f32).to_vector<float>();
  nlohmann::json paths;
  try {
    paths = nlohmann::json::parse(meta.at("paths"));
  } catch (const nlohmann::json::exception& ex) {
    throw FormatError(cat("[index] ", path.string(), ": metadata \"paths\" is not JSON: ", ex.what()));
  }
  RS_CHECK(paths.is_array() && int64_t(paths.size()) == e.shape()[0], FormatError, "index", path.string(),
           ": metadata \"paths\" must list the ", e.shape()[0], " images");
  for (const auto& p : paths) {
    RS_CHECK(p.is_string(), FormatError, "index", path.string(), ": metadata \"paths\" must hold strings");
    idx.paths.push_back(p.get<std::string>());
  }
  idx.model_xxh3 = meta.at("model_xxh3");
  if (meta.count("model")) idx.model_dir = meta.at("model");
  return idx;
}

void ImageIndex::check_model(const RsCapRet& model, const std::string& model_desc) const {
  const std::string h = module_xxh3(model);
  RS_CHECK(h == model_xxh3, ValueError, "index", "the index was built by another model (bridge hash ", model_xxh3,
           (model_dir.empty() ? "" : ", from " + model_dir), ") than ", model_desc, " (bridge hash ", h,
           "); rebuild it with `rscapret index --model ", model_desc, "`");
  RS_CHECK(dim == model.options().retrieval_dim, ValueError, "index", "index width ", dim, " differs from the model's ",
           model.options().retrieval_dim);
}

std::vector<RetrievalHit> ImageIndex::search(const std::vector<float>& query, int64_t k) const {
  return top_k(embeddings, query, dim, k);
}

void save_image_index(const fs::path& path, const std::vector<float>& embeddings, int64_t dim,
                      const std::vector<std::string>& paths, const std::string& model_xxh3, const std::string& model_dir,
                      int64_t skipped) {
  const int64_t N = int64_t(paths.size());
  RS_CHECK(N > 0 && dim > 0 && int64_t(embeddings.size()) == N * dim, ShapeError, "index", embeddings.size(),
           " values for ", N, " images of width ", dim);
  nlohmann::json p = paths;
  save_safetensors(path, {{"embeddings", Tensor::from_vector(embeddings, {N, dim})}},
                   {{"paths", p.dump()}, {"model_xxh3", model_xxh3}, {"model", model_dir},
                    {"skipped", std::to_string(skipped)}});
}

}  // namespace rscapret::models
