// `rscapret eval --model DIR --data JSON:IMAGE_ROOT [--split test] [--json OUT.json] [--beam N]
//  [--batch B] [--meteor-data DIR] [--spice-jar JAR] [--max-images N]`: captioning metrics and
// text<->image retrieval on a dataset split, printed as the paper's tables (train/eval/evaluate.h).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "tensor/atomic_file.h"
#include "models/rscapret/bundle.h"
#include "train/eval/evaluate.h"

namespace rscapret::app {
namespace fs = std::filesystem;

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "caption a dataset split and score it; text<->image retrieval R@1/5/10");
  struct Opts {
    std::string model, split = "test", json;
    std::vector<std::string> data;
    train::EvalOptions eval;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--data", o->data, "JSON:IMAGE_ROOT Karpathy caption file and its images (repeatable)")->required();
  cmd->add_option("--split", o->split, "split to evaluate (default test; \"all\" for every sample)");
  cmd->add_option("--json", o->json, "write the report (scores, retrieval, per-image captions) here");
  cmd->add_option("--beam", o->eval.beam, "beam width (default 1: greedy)");
  cmd->add_option("--batch", o->eval.batch, "images per batch (default 16)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->add_option("--text-batch", o->eval.text_batch, "retrieval queries per batch (default 32)");
  cmd->add_option("--max-new-tokens", o->eval.max_new_tokens, "caption length limit in tokens (default 32)");
  cmd->add_option("--max-images", o->eval.max_images, "evaluate only the first N images of the split");
  cmd->add_option("--meteor-data", o->eval.score.meteor_data,
                  "METEOR data folder (default $RSCAPRET_METEOR_DATA or meteor-data/ next to the program)");
  cmd->add_option("--spice-jar", o->eval.score.spice_jar, "spice-1.0.jar; without it SPICE is not computed");
  cmd->add_option("--method", o->eval.method, "the Method column of the tables (default RS-CapRet)");
  cmd->add_flag("--progress", o->eval.progress, "progress on stderr");
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    check_quantize_option(o->quantize, device);
    std::vector<data::CaptionSource> sources;
    for (const auto& d : o->data) sources.push_back(data::parse_caption_source(d));
    const std::vector<std::string> splits = o->split == "all" ? std::vector<std::string>{}
                                                              : std::vector<std::string>{o->split};
    const data::CaptionDataset ds = data::CaptionDataset::load(sources, splits);
    RS_CHECK(!ds.empty(), ValueError, "eval", "no images in split \"", o->split, "\" of the given data");
    const models::RsCapRetBundle b = load_model_option(o->model, device, o->quantize);
    const train::EvalReport r = train::evaluate_split(b, ds, o->split, o->eval);
    for (const auto& n : r.notes) std::fprintf(stderr, "rscapret eval: %s\n", n.c_str());
    if (!r.skipped.empty())
      std::fprintf(stderr, "rscapret eval: %zu image(s) could not be read and were skipped\n", r.skipped.size());
    std::fputs(train::format_eval_tables(r, o->eval.method).c_str(), stdout);
    if (!o->json.empty()) {
      write_file_atomic(o->json, train::eval_report_json(r).dump(1) + "\n", "eval");
      std::fprintf(stderr, "rscapret eval: report -> %s\n", o->json.c_str());
    }
  });
}

}  // namespace rscapret::app
