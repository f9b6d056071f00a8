// `rscapret retrieve "QUERY" --index FILE [-k 10] [--model DIR]`: text-to-image retrieval. The query
// "BOS QUERY [RET]" goes through the frozen LLaMA; W_t of the hidden state at [RET], normalised,
// ranks the index's image embeddings by cosine similarity. The model defaults to the one recorded
// in the index, and must match its hash.
//
// `rscapret retrieve --image IMG --model DIR --texts FILE [-k 10] [--split S]`: image-to-text
// retrieval. W_i(CLIP(IMG)), normalised, ranks candidate captions embedded through the same [RET]
// path; FILE is one caption per line, or a Karpathy dataset JSON (every caption of every image,
// optionally of one split). Output lines: RANK \t SCORE \t TEXT (or PATH).
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"
#include "train/bridge/dataset_batches.h"
#include "train/data/caption_dataset.h"

namespace rscapret::app {
namespace {

// Candidate captions: a Karpathy JSON (by extension) or a text file, one non-empty line each.
std::vector<std::string> read_texts(const std::string& path, const std::string& split) {
  std::vector<std::string> out;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    // Image files are not needed, only captions: the root is never read.
    const auto ds = data::CaptionDataset::load(data::CaptionSource{path, ".", ""},
                                               split.empty() ? std::vector<std::string>{} : std::vector<std::string>{split});
    for (const auto& s : ds.samples()) out.insert(out.end(), s.captions.begin(), s.captions.end());
  } else {
    std::ifstream f(path);
    RS_CHECK(f.good(), IOError, "retrieve", "cannot read ", path);
    std::string line;
    while (std::getline(f, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) out.push_back(line);
    }
  }
  RS_CHECK(!out.empty(), ValueError, "retrieve", "no candidate texts in ", path);
  return out;
}

}  // namespace

void add_retrieve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("retrieve", "text-to-image retrieval over an index made by `rscapret index`, or "
                                             "image-to-text over candidate captions (--image, --texts)");
  struct Opts {
    std::string query, index, model, image, texts, split;
    int64_t k = 10, batch = 32;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("query", o->query, "text query (text-to-image)");
  cmd->add_option("--index", o->index, "index file (text-to-image)");
  cmd->add_option("-k", o->k, "results (default 10)");
  cmd->add_option("--model", o->model, "model folder (text-to-image default: the one recorded in the index)");
  cmd->add_option("--image", o->image, "query image (image-to-text; needs --texts and --model)");
  cmd->add_option("--texts", o->texts, "candidate captions: one per line, or a dataset JSON (image-to-text)");
  cmd->add_option("--split", o->split, "with a dataset JSON: only this split's captions");
  cmd->add_option("--batch", o->batch, "captions embedded per forward (default 32)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    autograd::NoGradGuard no_grad;
    const Device device = parse_device_option(o->device);
    check_quantize_option(o->quantize, device);
    if (!o->image.empty()) {
      RS_CHECK(o->query.empty() && o->index.empty(), ValueError, "retrieve",
               "give either a text QUERY with --index, or --image with --texts, not both");
      RS_CHECK(!o->texts.empty(), ValueError, "retrieve", "--image needs --texts FILE (the candidate captions)");
      RS_CHECK(!o->model.empty(), ValueError, "retrieve", "--image needs --model DIR");
      const std::vector<std::string> texts = read_texts(o->texts, o->split);
      const models::RsCapRetBundle b = load_model_option(o->model, device, o->quantize);
      const int size = int(b.model->clip().config().vision.image_size);
      const Tensor px = train::load_clip_image(o->image, size).unsqueeze(0);                 // [1, 3, S, S]
      const std::vector<float> q = models::embed_pooled(*b.model, b.model->encode_images(px));  // [Q]
      const std::vector<float> t = models::embed_texts(b, texts, o->batch);                   // [T, Q]
      const auto hits = models::top_k(t, q, b.model->options().retrieval_dim, o->k);
      for (size_t r = 0; r < hits.size(); ++r)
        std::printf("%zu\t%.6f\t%s\n", r + 1, hits[r].score, texts[size_t(hits[r].index)].c_str());
      return;
    }
    RS_CHECK(!o->query.empty(), ValueError, "retrieve", "give a text QUERY (with --index) or --image IMG (with --texts)");
    RS_CHECK(!o->index.empty(), ValueError, "retrieve", "text-to-image retrieval needs --index FILE");
    const models::ImageIndex idx = models::ImageIndex::load(o->index);
    const std::string model_dir = o->model.empty() ? idx.model_dir : o->model;
    RS_CHECK(!model_dir.empty(), ValueError, "retrieve", o->index, " records no model folder; give --model DIR");
    const models::RsCapRetBundle b = models::load_rscapret_dir(model_dir);
    idx.check_model(*b.model, model_dir);
    b.model->to(device);
    apply_quantize_option(o->quantize, b.model->llm(), device);
    // Not cut to the training max_len: a long query keeps all its words.
    const std::vector<float> q = models::embed_texts(b, {o->query}, 1, /*max_len=*/0);  // [Q]
    const auto hits = idx.search(q, o->k);
    for (size_t r = 0; r < hits.size(); ++r)
      std::printf("%zu\t%.6f\t%s\n", r + 1, hits[r].score, idx.paths[size_t(hits[r].index)].c_str());
  });
}

}  // namespace rscapret::app
