#include "train/eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/rscapret/retrieval.h"
#include "train/bridge/dataset_batches.h"
#include "train/data/clip_preprocess.h"

namespace rscapret::train {
namespace {

eval::RetrievalScores scores_from_ranks(const std::vector<int64_t>& ranks) {
  eval::RetrievalScores s;
  for (int64_t r : ranks) {
    s.r1 += r < 1;
    s.r5 += r < 5;
    s.r10 += r < 10;
  }
  const double n = double(std::max<size_t>(ranks.size(), 1));
  s.r1 /= n;
  s.r5 /= n;
  s.r10 /= n;
  s.mr = (s.r1 + s.r5 + s.r10) / 3;
  return s;
}

nlohmann::json percent(const eval::RetrievalScores& s) {
  return {{"R@1", 100 * s.r1}, {"R@5", 100 * s.r5}, {"R@10", 100 * s.r10}, {"mR", 100 * s.mr}};
}

}  // namespace

RetrievalRanks rank_retrieval(const std::vector<float>& text, const std::vector<float>& image, int64_t dim,
                              const std::vector<int64_t>& owner) {
  RS_CHECK(dim > 0 && text.size() % size_t(dim) == 0 && image.size() % size_t(dim) == 0, ShapeError, "eval",
           "embedding sizes ", text.size(), " and ", image.size(), " are not multiples of the width ", dim);
  const int64_t T = int64_t(text.size()) / dim, I = int64_t(image.size()) / dim;
  RS_CHECK(T > 0 && I > 0, ValueError, "eval", "retrieval needs >= 1 caption and >= 1 image, got ", T, " and ", I);
  RS_CHECK(int64_t(owner.size()) == T, ValueError, "eval", owner.size(), " caption owners for ", T, " captions");
  std::vector<std::vector<int64_t>> captions_of(static_cast<size_t>(I));
  for (int64_t t = 0; t < T; ++t) {
    RS_CHECK(owner[size_t(t)] >= 0 && owner[size_t(t)] < I, IndexError, "eval", "caption ", t, " belongs to image ",
             owner[size_t(t)], " of ", I);
    captions_of[size_t(owner[size_t(t)])].push_back(t);
  }
  std::vector<float> sim;  // [T, I] cosine similarities
  {
    autograd::NoGradGuard no_grad;
    const Tensor s = ops::matmul(Tensor::from_vector(text, {T, dim}),
                                 ops::transpose(Tensor::from_vector(image, {I, dim}), 0, 1));  // [T, I]
    sim = s.to_vector<float>();
  }
  for (float v : sim) RS_CHECK(!std::isnan(v), ValueError, "eval", "a similarity is NaN");
  RetrievalRanks r;
  r.t2i.resize(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    const float* row = &sim[size_t(t * I)];
    const int64_t own = owner[size_t(t)];
    int64_t rank = 0;
    for (int64_t i = 0; i < I; ++i) rank += row[i] > row[own] || (row[i] == row[own] && i < own);
    r.t2i[size_t(t)] = rank;
  }
  r.i2t.assign(size_t(I), T);
  for (int64_t i = 0; i < I; ++i) {
    RS_CHECK(!captions_of[size_t(i)].empty(), ValueError, "eval", "image ", i, " has no caption");
    for (int64_t c : captions_of[size_t(i)]) {
      const float sc = sim[size_t(c * I + i)];
      int64_t rank = 0;
      for (int64_t t = 0; t < T; ++t) {
        const float st = sim[size_t(t * I + i)];
        rank += st > sc || (st == sc && t < c);
      }
      r.i2t[size_t(i)] = std::min(r.i2t[size_t(i)], rank);
    }
  }
  r.scores.t2i = scores_from_ranks(r.t2i);
  r.scores.i2t = scores_from_ranks(r.i2t);
  return r;
}

EvalReport evaluate_split(const models::RsCapRetBundle& b, const data::CaptionDataset& ds, const std::string& split,
                          const EvalOptions& opt) {
  autograd::NoGradGuard no_grad;
  RS_CHECK(opt.batch >= 1 && opt.text_batch >= 1, ValueError, "eval", "batch sizes must be >= 1");
  RS_CHECK(opt.beam >= 1, ValueError, "eval", "beam must be >= 1, got ", opt.beam);
  RS_CHECK(!ds.empty(), ValueError, "eval", "no images in split \"", split, "\"");
  const models::RsCapRet& m = *b.model;
  const int size = int(m.clip().config().vision.image_size);
  const size_t n_total = opt.max_images > 0 ? std::min(ds.size(), size_t(opt.max_images)) : ds.size();

  EvalReport r;
  r.split = split;
  r.model_xxh3 = models::module_xxh3(m);
  std::set<std::string> names;
  for (size_t i = 0; i < n_total; ++i) names.insert(ds[i].dataset);
  for (const auto& n : names) r.dataset += (r.dataset.empty() ? "" : "+") + n;

  models::GenerateOptions g;
  g.max_new_tokens = opt.max_new_tokens;
  g.stop_tokens = {b.tokenizer->eos_id()};
  if (opt.beam > 1) {
    g.strategy = models::DecodeStrategy::beam;
    g.num_beams = opt.beam;
  }
  r.decoding = {{"strategy", opt.beam > 1 ? "beam" : "greedy"}, {"beam", opt.beam},
                {"max_new_tokens", opt.max_new_tokens}};

  std::vector<float> image_emb;  // [I, Q]
  for (size_t i0 = 0; i0 < n_total; i0 += size_t(opt.batch)) {
    std::vector<Tensor> px;     // each [3, S, S]
    std::vector<size_t> which;  // sample index of each loaded image
    for (size_t i = i0; i < std::min(n_total, i0 + size_t(opt.batch)); ++i) {
      try {
        px.push_back(load_clip_image(ds[i].image_path, size));
        which.push_back(i);
      } catch (const Error& e) {
        r.skipped.emplace_back(ds[i].image_path.string(), e.what());
        std::fprintf(stderr, "eval: skipping %s: %s\n", ds[i].image_path.string().c_str(), e.what());
      }
    }
    if (px.empty()) continue;
    const Tensor pooled = m.encode_images(data::stack_images(px));  // [n, Cv]
    const std::vector<float> e = models::embed_pooled(m, pooled);   // [n, Q]
    image_emb.insert(image_emb.end(), e.begin(), e.end());
    const std::vector<std::string> caps = m.caption(pooled, *b.tokenizer, g);
    for (size_t k = 0; k < which.size(); ++k) {
      const data::CaptionSample& s = ds[which[k]];
      EvalImage im;
      im.path = s.image_path.string();
      im.image_id = s.image_id;
      im.dataset = s.dataset;
      im.caption = caps.at(k);
      im.references = s.captions;
      r.images.push_back(std::move(im));
    }
    if (opt.progress)
      std::fprintf(stderr, "eval: %zu / %zu images captioned\n", std::min(n_total, i0 + size_t(opt.batch)), n_total);
  }
  RS_CHECK(!r.images.empty(), IOError, "eval", "none of the ", n_total, " images of split \"", split,
           "\" could be read");

  // Captioning metrics; ids are the evaluation order (imgid may repeat across datasets).
  std::vector<nlohmann::json> ids;
  eval::CaptionCorpus raw;
  for (size_t i = 0; i < r.images.size(); ++i) {
    ids.push_back(int64_t(i));
    raw.candidates.push_back(r.images[i].caption);
    raw.references.push_back(r.images[i].references);
  }
  const nlohmann::json scores = eval::score_report(ids, raw, opt.score, r.notes);
  r.captioning = scores["corpus"];
  for (size_t i = 0; i < r.images.size(); ++i) {
    nlohmann::json s = scores["images"][i];
    s.erase("id");
    r.images[i].scores = std::move(s);
  }

  // Retrieval: every reference caption of a loaded image is a query.
  std::vector<std::string> queries;
  std::vector<int64_t> owner;
  for (size_t i = 0; i < r.images.size(); ++i)
    for (const auto& c : r.images[i].references) {
      queries.push_back(c);
      owner.push_back(int64_t(i));
    }
  if (opt.progress) std::fprintf(stderr, "eval: embedding %zu queries\n", queries.size());
  const std::vector<float> text_emb = models::embed_texts(b, queries, opt.text_batch);  // [T, Q]
  const RetrievalRanks ranks = rank_retrieval(text_emb, image_emb, m.options().retrieval_dim, owner);
  r.retrieval = ranks.scores;
  r.num_queries = int64_t(queries.size());
  for (size_t t = 0; t < owner.size(); ++t) r.images[size_t(owner[t])].t2i_ranks.push_back(ranks.t2i[t] + 1);
  for (size_t i = 0; i < r.images.size(); ++i) r.images[i].i2t_rank = ranks.i2t[i] + 1;
  return r;
}

nlohmann::json eval_report_json(const EvalReport& r) {
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& [p, why] : r.skipped) skipped.push_back({{"path", p}, {"error", why}});
  nlohmann::json images = nlohmann::json::array();
  for (const EvalImage& im : r.images)
    images.push_back({{"image", im.path},
                      {"imgid", im.image_id},
                      {"dataset", im.dataset},
                      {"caption", im.caption},
                      {"references", im.references},
                      {"scores", im.scores},
                      {"t2i_ranks", im.t2i_ranks},
                      {"i2t_rank", im.i2t_rank}});
  return {{"dataset", r.dataset},
          {"split", r.split},
          {"model_xxh3", r.model_xxh3},
          {"num_images", r.images.size()},
          {"num_queries", r.num_queries},
          {"num_skipped", r.skipped.size()},
          {"skipped", skipped},
          {"decoding", r.decoding},
          {"captioning", r.captioning},
          {"retrieval",
           {{"units", "percent"},
            {"text_to_image", percent(r.retrieval.t2i)},
            {"image_to_text", percent(r.retrieval.i2t)}}},
          {"notes", r.notes},
          {"images", images}};
}

std::string format_eval_tables(const EvalReport& r, const std::string& method) {
  char buf[64];
  auto cell = [&](const nlohmann::json& v) -> std::string {
    if (!v.is_number()) return "NA";  // the poster's mark for a metric not reported
    std::snprintf(buf, sizeof buf, "%.3f", v.get<double>());
    return buf;
  };
  auto pct = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.2f", 100 * v);
    return std::string(buf);
  };
  // Columns padded to their widest cell, two spaces apart.
  auto aligned = [](const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> w;
    for (const auto& row : rows)
      for (size_t c = 0; c < row.size(); ++c) {
        if (w.size() <= c) w.push_back(0);
        w[c] = std::max(w[c], row[c].size());
      }
    std::string out;
    for (const auto& row : rows) {
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) line += row[c] + std::string(c + 1 < row.size() ? w[c] - row[c].size() + 2 : 0, ' ');
      out += line + "\n";
    }
    return out;
  };
  const std::string ds = r.dataset.empty() ? "?" : r.dataset;
  std::ostringstream o;
  o << "Image Captioning (" << r.images.size() << " images, split " << r.split << ")\n";
  std::vector<std::string> cap_row = {ds, method};
  for (const char* k : {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE"})
    cap_row.push_back(cell(r.captioning.contains(k) ? r.captioning[k] : nlohmann::json()));
  o << aligned({{"Evaluation Dataset", "Method", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
                 "SPICE"},
                cap_row});
  auto table = [&](const char* title, const eval::RetrievalScores& s, size_t queries) {
    o << "\n" << title << " (" << queries << " queries over " << (title[0] == 'T' ? r.images.size() : size_t(r.num_queries))
      << (title[0] == 'T' ? " images" : " captions") << "; percent)\n";
    o << aligned({{"Dataset", "Method", "R@1", "R@5", "R@10", "mR"},
                  {ds, method, pct(s.r1), pct(s.r5), pct(s.r10), pct(s.mr)}});
  };
  table("Text-Image Retrieval", r.retrieval.t2i, size_t(r.num_queries));
  table("Image-Text Retrieval", r.retrieval.i2t, r.images.size());
  return o.str();
}

}  // namespace rscapret::train
