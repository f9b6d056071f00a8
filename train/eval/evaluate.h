// Evaluation of an RS-CapRet model on a caption dataset split, as the paper reports it (poster
// tables; METHOD.md §5):
//   captioning  one caption per image (batched greedy, or beam), scored against all its references
//               with eval/score_report (BLEU-1..4, METEOR, ROUGE-L, CIDEr; SPICE through its jar,
//               else null = not computed);
//   text->image every caption of the split is a query over all the split's images, through the
//               [RET] path (W_t of the hidden state at [RET]); images through W_i; both normalised;
//               R@1, R@5, R@10 and mR = their mean, in percent;
//   image->text every image ranks all captions; a hit when any of its own captions is in the top k.
// Ranks follow eval/retrieval.h's tie rule (equal similarity: the lower index first), but images
// may have any number of captions (>= 1).
// Images that fail to load are reported, counted and left out of both tasks (with their captions).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/retrieval.h"
#include "eval/score_report.h"
#include "models/rscapret/bundle.h"
#include "train/data/caption_dataset.h"

namespace rscapret::train {

struct EvalOptions {
  int64_t batch = 16;           // images per CLIP forward / caption batch
  int64_t text_batch = 32;      // queries per LLaMA forward
  int64_t beam = 1;             // 1: greedy
  int64_t max_new_tokens = 32;  // FROMAGe's num_words
  int64_t max_images = 0;       // > 0: the first max_images images of the dataset
  eval::ScoreOptions score;     // METEOR data, SPICE jar
  std::string method = "RS-CapRet";  // the Method column of the tables
  bool progress = false;        // one line per batch on stderr
};

struct EvalImage {
  std::string path;
  int64_t image_id = 0;         // "imgid" of the dataset
  std::string dataset;
  std::string caption;          // generated
  std::vector<std::string> references;
  nlohmann::json scores;        // per-image metrics (score_report keys, null when not computed)
  std::vector<int64_t> t2i_ranks;  // 1-based rank of this image for each of its captions as a query
  int64_t i2t_rank = 0;            // 1-based best rank of any of its captions for this image
};

struct EvalReport {
  std::string dataset;          // the samples' dataset names, joined by '+'
  std::string split;
  std::vector<EvalImage> images;
  std::vector<std::pair<std::string, std::string>> skipped;  // (path, why)
  nlohmann::json captioning;    // corpus scores: Bleu_1..4, METEOR, ROUGE_L, CIDEr, SPICE (null: not computed)
  std::vector<std::string> notes;
  eval::RetrievalResult retrieval;  // fractions in [0, 1]
  int64_t num_queries = 0;
  nlohmann::json decoding;      // {"strategy", "beam", "max_new_tokens"}
  std::string model_xxh3;
};

// Ranks of a retrieval problem (pure; the metric core of evaluate_split).
// text [T, D] and image [I, D] row-major, already normalised; owner[t] = the image of caption t.
struct RetrievalRanks {
  std::vector<int64_t> t2i;  // [T] 0-based rank of owner[t] among the images for query t
  std::vector<int64_t> i2t;  // [I] 0-based best rank of any own caption among all T captions
  eval::RetrievalResult scores;  // fractions
};
RetrievalRanks rank_retrieval(const std::vector<float>& text, const std::vector<float>& image, int64_t dim,
                              const std::vector<int64_t>& owner);

// Runs both tasks on every sample of `ds` (already filtered to the split; `split` only names it).
EvalReport evaluate_split(const models::RsCapRetBundle& b, const data::CaptionDataset& ds, const std::string& split,
                          const EvalOptions& opt);

// {"dataset", "split", "model_xxh3", "num_images", "num_queries", "skipped": [{"path", "error"}],
//  "num_skipped", "decoding", "captioning": {...}, "retrieval": {"units": "percent",
//  "text_to_image": {"R@1", "R@5", "R@10", "mR"}, "image_to_text": {...}}, "notes", "images": [...]}
nlohmann::json eval_report_json(const EvalReport& r);
// The captioning and retrieval tables laid out as the poster's (metrics to 3 decimals, recalls in
// percent to 2 decimals, NA for a metric not computed).
std::string format_eval_tables(const EvalReport& r, const std::string& method = "RS-CapRet");

}  // namespace rscapret::train
