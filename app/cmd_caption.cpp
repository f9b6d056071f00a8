// `rscapret caption IMG... --model DIR [--beam N] [--max-new-tokens N]`: one caption per image,
// from the visual prefix alone, [RET] forbidden, cut at the first period (FROMAGe's evaluation).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "models/rscapret/bundle.h"
#include "train/bridge/dataset_batches.h"

namespace rscapret::app {

void add_caption_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("caption", "caption remote-sensing images with an RS-CapRet model");
  struct Opts {
    std::vector<std::string> images;
    std::string model;
    int64_t beam = 1, max_new_tokens = 32;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("images", o->images, "image files")->required();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--beam", o->beam, "beam width (default 1: greedy)");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "tokens to generate (default 32)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    check_quantize_option(o->quantize, device);
    const models::RsCapRetBundle b = models::load_rscapret_dir(o->model);
    b.model->to(device);
    apply_quantize_option(o->quantize, b.model->llm(), device);
    const int size = int(b.model->clip().config().vision.image_size);
    models::GenerateOptions g;
    g.max_new_tokens = o->max_new_tokens;
    g.stop_tokens = {b.tokenizer->eos_id()};
    if (o->beam > 1) {
      g.strategy = models::DecodeStrategy::beam;
      g.num_beams = o->beam;
    }
    for (const auto& path : o->images) {
      const Tensor px = train::load_clip_image(path, size).unsqueeze(0);  // [1, 3, S, S]
      const auto caps = b.model->caption(b.model->encode_images(px), *b.tokenizer, g);
      std::printf("%s\t%s\n", path.c_str(), caps.at(0).c_str());
    }
  });
}

}  // namespace rscapret::app
