// `rscapret retrieve "QUERY" --index FILE [-k 10] [--model DIR]`: text-to-image retrieval. The query
// "BOS QUERY [RET]" goes through the frozen LLaMA; W_t of the hidden state at [RET], normalised,
// ranks the index's image embeddings by cosine similarity. The model defaults to the one recorded
// in the index, and must match its hash.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "app/commands.h"
#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "nn/losses.h"
#include "tensor/safetensors.h"

namespace rscapret::app {

void add_retrieve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("retrieve", "text-to-image retrieval over an index made by `rscapret index`");
  struct Opts {
    std::string query, index, model;
    int64_t k = 10;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("query", o->query, "text query")->required();
  cmd->add_option("--index", o->index, "index file")->required();
  cmd->add_option("-k", o->k, "results (default 10)");
  cmd->add_option("--model", o->model, "model folder (default: the one recorded in the index)");
  cmd->callback([o] {
    autograd::NoGradGuard no_grad;
    const SafetensorsFile idx(o->index);
    const auto& meta = idx.metadata();
    RS_CHECK(meta.count("paths") && meta.count("model_xxh3") && idx.contains("embeddings"), FormatError, "retrieve",
             o->index, " is not an index written by `rscapret index`");
    const std::string model_dir = o->model.empty() ? meta.at("model") : o->model;
    const models::RsCapRetBundle b = models::load_rscapret_dir(model_dir);
    RS_CHECK(models::module_xxh3(*b.model) == meta.at("model_xxh3"), ValueError, "retrieve", "the index was built by another model (",
             meta.at("model_xxh3"), ") than ", model_dir);
    const auto paths = nlohmann::json::parse(meta.at("paths"));
    const models::CaptionTokens t = models::tokenize_captions(*b.tokenizer, {o->query}, 0, b.model->ret_id(),
                                                              b.model->options().pad_id);
    const std::vector<float> q = nn::l2_normalize(b.model->text_embeddings(t)).to_vector<float>();  // [Q]
    const Tensor e = idx.get("embeddings");  // [N, Q]
    const int64_t N = e.shape()[0], Q = e.shape()[1];
    RS_CHECK(Q == int64_t(q.size()), ShapeError, "retrieve", "index width ", Q, " vs model width ", q.size());
    const std::vector<float> ev = e.to_vector<float>();
    std::vector<double> score(static_cast<size_t>(N), 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < Q; ++j) score[size_t(n)] += double(ev[size_t(n * Q + j)]) * q[size_t(j)];
    std::vector<int64_t> order(static_cast<size_t>(N));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return score[size_t(a)] > score[size_t(c)]; });
    for (int64_t r = 0; r < std::min(o->k, N); ++r)
      std::printf("%lld\t%.6f\t%s\n", (long long)(r + 1), score[size_t(order[size_t(r)])],
                  paths.at(size_t(order[size_t(r)])).get<std::string>().c_str());
  });
}

}  // namespace rscapret::app
