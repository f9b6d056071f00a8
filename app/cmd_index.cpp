// `rscapret index DIR -o FILE --model DIR`: the normalised retrieval embeddings W_i(CLIP(image)) of
// every image in DIR (sorted by path, recursively), in one atomic safetensors file:
//   "embeddings" f32 [N, Q]; metadata "paths" (JSON list), "model_xxh3" (the bridge's hash),
//   "model" (the model folder), "skipped" (unreadable images).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "api/pipeline.h"
#include "app/commands.h"
#include "app/device_option.h"
#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"

namespace rscapret::app {
namespace fs = std::filesystem;

void add_index_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "embed an image folder for text-to-image retrieval");
  struct Opts {
    std::string dir, out, model;
    int64_t batch = 16;
    std::string device = "cpu";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("dir", o->dir, "folder of images")->required();
  cmd->add_option("-o,--output", o->out, "index file (.safetensors)")->required();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--batch", o->batch, "images per forward (default 16)")->check(CLI::PositiveNumber);
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  cmd->callback([o] {
    autograd::NoGradGuard no_grad;
    const Device device = parse_device_option(o->device);
    const models::RsCapRetBundle b = models::load_rscapret_dir(o->model);
    b.model->to(device);
    const std::vector<fs::path> files = api::list_image_files(o->dir);
    RS_CHECK(!files.empty(), ValueError, "index", "no images in ", o->dir);
    const auto report = [](const std::string& path, const std::string& why) {
      std::fprintf(stderr, "skipping %s: %s\n", path.c_str(), why.c_str());
    };
    const api::IndexedImages idx = api::embed_image_files(b, files, o->batch, report);
    models::save_image_index(o->out, idx.embeddings, b.model->options().retrieval_dim, idx.paths,
                             models::module_xxh3(*b.model), fs::absolute(o->model).string(), idx.skipped);
    std::fprintf(stderr, "indexed %zu images (%lld skipped) -> %s\n", idx.paths.size(), (long long)idx.skipped,
                 o->out.c_str());
  });
}

}  // namespace rscapret::app
