// `rscapret chat --model DIR [--index FILE] [--image IMG]...`: FROMAGe's interleaved dialogue
// (models/rscapret/chat.h). Turns come from stdin, one per line, interactive or piped:
//   /image PATH      attach an image (its visual prefix goes into the conversation now)
//   /retrieve TEXT   ask TEXT and force [RET]: the answer retrieves images from the index
//   /reset           forget the conversation (say, when it outgrows the model's context)
//   /quit            end (so does end of input)
//   anything else    a question; the answer is printed as "A: ..." followed by one line per
//                    retrieved image: "[RET] RANK SCORE PATH"
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "models/rscapret/chat.h"
#include "train/bridge/dataset_batches.h"

namespace rscapret::app {

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "interleaved image/text dialogue with [RET] image retrieval (reads stdin)");
  struct Opts {
    std::string model, index;
    std::vector<std::string> images;
    models::ChatOptions chat;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "model folder written by `rscapret train bridge`")->required();
  cmd->add_option("--index", o->index, "image index from `rscapret index` (made by the same model) for [RET]");
  cmd->add_option("--image", o->images, "image(s) attached to the first turn");
  cmd->add_option("--temperature", o->chat.temperature, "sampling temperature (default 0: greedy)");
  cmd->add_option("--top-p", o->chat.top_p, "nucleus sampling mass (default 1)");
  cmd->add_option("--seed", o->chat.seed, "sampling seed (default 0)");
  cmd->add_option("--max-new-tokens", o->chat.max_new_tokens, "answer length limit in tokens (default 32)");
  cmd->add_option("-k,--top-k", o->chat.top_k_images, "images per retrieval (default 3)");
  cmd->add_option("--ret-scale", o->chat.ret_scale_factor, "multiplies the [RET] logit (FROMAGe's ret_scale_factor)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    const models::RsCapRetBundle b = load_model_option(o->model, device, o->quantize);
    models::RsCapRetChat chat(b, o->chat);
    if (!o->index.empty())
      chat.set_index(std::make_shared<models::ImageIndex>(models::ImageIndex::load(o->index)), o->model);
    const int size = int(b.model->clip().config().vision.image_size);
    for (const auto& img : o->images) chat.add_image(train::load_clip_image(img, size));  // errors end the run

    const bool interactive = ::isatty(STDIN_FILENO);
    if (interactive)
      std::fprintf(stderr, "RS-CapRet chat: a question per line; /image PATH, /retrieve TEXT, /reset, /quit\n");
    std::string line;
    while (true) {
      if (interactive) std::fprintf(stderr, "Q: ");
      if (!std::getline(std::cin, line)) break;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      if (line == "/quit" || line == "/exit") break;
      if (line == "/reset") {
        chat.reset();
        continue;
      }
      if (line.rfind("/image ", 0) == 0) {
        const std::string path = line.substr(7);
        try {
          chat.add_image(train::load_clip_image(path, size));
        } catch (const Error& e) {
          // A bad attachment should not end the conversation.
          std::fprintf(stderr, "rscapret chat: cannot use image %s: %s\n", path.c_str(), e.what());
        }
        continue;
      }
      const bool force = line.rfind("/retrieve ", 0) == 0;
      const models::ChatReply r = chat.ask(force ? line.substr(10) : line, force);
      if (r.over_context)
        std::fprintf(stderr, "rscapret chat: the conversation (%lld positions) is longer than the model's context; "
                             "/reset starts a new one\n", (long long)r.positions);
      std::printf("A: %s\n", r.text.c_str());
      if (r.retrieved_requested && !chat.index())
        std::fprintf(stderr, "rscapret chat: the model asked for an image ([RET]) but no --index was given\n");
      for (size_t i = 0; i < r.retrieved.size(); ++i)
        std::printf("[RET] %zu %.6f %s\n", i + 1, r.retrieved[i].score, r.retrieved[i].path.c_str());
      std::fflush(stdout);
    }
  });
}

}  // namespace rscapret::app
