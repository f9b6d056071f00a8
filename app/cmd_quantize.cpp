// `rscapret quantize --model DIR --out DIR`: a LLaMA folder with its Linear weights stored as q8_0
// (codes and scales, kQ8CodesSuffix), every other tensor in the source's own dtype, the tokenizer
// files copied. Loading it maps the codes as they are: no quantization at start-up, and only the
// q8_0 bytes are read. It serves wherever a LLaMA folder does (--llama, forward, the bundle spec).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/commands.h"
#include "models/checkpoint/save_pretrained.h"
#include "models/llama/llama.h"
#include "nn/linear.h"
#include "tensor/error.h"

namespace rscapret::app {

namespace fs = std::filesystem;

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "store a LLaMA folder's linear weights as q8_0 (about half of bf16)");
  struct Opts {
    std::string model, out;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face LLaMA folder (config.json + safetensors)")->required();
  cmd->add_option("--out", o->out, "folder to write (config.json, model.safetensors, tokenizer files)")->required();
  cmd->callback([o] {
    RS_CHECK(fs::absolute(o->model).lexically_normal() != fs::absolute(o->out).lexically_normal(), ValueError,
             "quantize", "--out must differ from --model (the source stays mapped while the result is written)");
    const auto model = models::LlamaForCausalLM::from_pretrained(o->model);
    const int64_t n = nn::quantize_linears_q8(*model);
    // Norms and the embedding keep the source's dtype (the embedding's: bf16 for most checkpoints).
    const DType storage = model->model->embed_tokens->weight.dtype();
    models::save_pretrained(o->out, *model, storage);
    int copied = 0;
    for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                          "generation_config.json"})
      if (fs::exists(fs::path(o->model) / f)) {
        const fs::path to = fs::path(o->out) / f;
        fs::copy_file(fs::path(o->model) / f, to, fs::copy_options::overwrite_existing);
        fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
        ++copied;
      }
    std::fprintf(stderr, "quantized %lld linear layers to q8_0 -> %s (%.1f MB; %d tokenizer files copied)\n",
                 (long long)n, o->out.c_str(), double(fs::file_size(fs::path(o->out) / "model.safetensors")) / 1e6,
                 copied);
  });
}

}  // namespace rscapret::app
