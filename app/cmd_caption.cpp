// `rscapret caption IMG... --model DIR [--beam N] [--max-new-tokens N] [--batch N]`: one caption per
// image, from the visual prefix alone, [RET] forbidden, cut at the first period (FROMAGe's
// evaluation). Images are captioned --batch at a time (api/pipeline.h: up to 8 the captions equal
// one-at-a-time ones). An unreadable image is reported on stderr and skipped; the exit status is then 1.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/pipeline.h"
#include "app/commands.h"
#include "app/device_option.h"

namespace rscapret::app {

void add_caption_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("caption", "caption remote-sensing images with an RS-CapRet model");
  struct Opts {
    std::vector<std::string> images;
    std::string model;
    int64_t beam = 1, max_new_tokens = 32, batch = 8;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("images", o->images, "image files")->required();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--beam", o->beam, "beam width (default 1: greedy)")->check(CLI::PositiveNumber);
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "tokens to generate (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch,
                  "images captioned together (default 8: on a CPU a decode step for 8 rows costs about twice one "
                  "row's, and up to 8 the captions equal one-at-a-time ones)")
      ->check(CLI::PositiveNumber);
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    const models::RsCapRetBundle b = load_model_option(o->model, device, o->quantize);
    const int size = int(b.model->clip().config().vision.image_size);
    const models::GenerateOptions g = api::caption_options(b, o->beam, o->max_new_tokens);
    const std::vector<std::filesystem::path> files(o->images.begin(), o->images.end());
    int64_t failed = 0;
    for (size_t i0 = 0; i0 < files.size(); i0 += size_t(o->batch)) {
      const api::LoadedImages part = api::load_image_files(
          files, i0, i0 + size_t(o->batch), size, [](const std::string& path, const std::string& why) {
            std::fprintf(stderr, "skipping %s: %s\n", path.c_str(), why.c_str());
          });
      failed += part.skipped;
      const std::vector<std::string> caps = api::caption_images(b, part.pixels, g, o->batch);
      for (size_t i = 0; i < caps.size(); ++i) std::printf("%s\t%s\n", part.paths[i].c_str(), caps[i].c_str());
      std::fflush(stdout);
    }
    if (failed > 0) throw IOError(cat("[caption] ", failed, " of ", o->images.size(), " images could not be read"));
  });
}

}  // namespace rscapret::app
