// `rscapret index DIR -o FILE --model DIR`: the normalised retrieval embeddings W_i(CLIP(image)) of
// every image in DIR (sorted by path, recursively), in one atomic safetensors file:
//   "embeddings" f32 [N, Q]; metadata "paths" (JSON list), "model_xxh3" (the bridge's hash),
//   "model" (the model folder), "skipped" (unreadable images).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "autograd/autograd.h"
#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"
#include "train/bridge/dataset_batches.h"
#include "train/data/clip_preprocess.h"

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
  cmd->add_option("--batch", o->batch, "images per forward (default 16)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  cmd->callback([o] {
    autograd::NoGradGuard no_grad;
    const Device device = parse_device_option(o->device);
    const models::RsCapRetBundle b = models::load_rscapret_dir(o->model);
    b.model->to(device);
    const int size = int(b.model->clip().config().vision.image_size);
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(o->dir)) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".tif" ||
                                  ext == ".tiff" || ext == ".bmp"))
        files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    RS_CHECK(!files.empty(), ValueError, "index", "no images in ", o->dir);
    std::vector<float> embs;  // [N, Q] row-major, normalised
    std::vector<std::string> paths;
    int64_t skipped = 0;
    for (size_t i0 = 0; i0 < files.size(); i0 += size_t(o->batch)) {
      std::vector<Tensor> px;
      for (size_t i = i0; i < std::min(files.size(), i0 + size_t(o->batch)); ++i) {
        try {
          px.push_back(train::load_clip_image(files[i], size));
          paths.push_back(files[i].string());
        } catch (const Error& e) {
          ++skipped;
          std::fprintf(stderr, "skipping %s: %s\n", files[i].string().c_str(), e.what());
        }
      }
      if (px.empty()) continue;
      const Tensor pooled = b.model->encode_images(data::stack_images(px));
      const std::vector<float> e = models::embed_pooled(*b.model, pooled);  // [n, Q]
      embs.insert(embs.end(), e.begin(), e.end());
    }
    RS_CHECK(!embs.empty(), IOError, "index", "no image in ", o->dir, " could be read");
    models::save_image_index(o->out, embs, b.model->options().retrieval_dim, paths, models::module_xxh3(*b.model),
                             fs::absolute(o->model).string(), skipped);
    std::fprintf(stderr, "indexed %zu images (%lld skipped) -> %s\n", paths.size(), (long long)skipped, o->out.c_str());
  });
}

}  // namespace rscapret::app
