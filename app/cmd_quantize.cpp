// `rscapret quantize --model DIR --out DIR`: a LLaMA folder with its Linear weights stored as q8_0
// (codes and scales, kQ8CodesSuffix), every other tensor in the source's own dtype, the tokenizer
// files copied. Loading it maps the codes as they are: no quantization at start-up, and only the
// q8_0 bytes are read. It serves wherever a LLaMA folder does (--llama, forward, the bundle spec).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "app/commands.h"
#include "models/checkpoint/save_pretrained.h"
#include "models/llama/llama.h"
#include "nn/linear.h"
#include "tensor/atomic_file.h"
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
    // A new or empty folder: writing into the source (however spelled) would replace its weights,
    // and a folder with an older sharded index would shadow the new file.
    RS_CHECK(!fs::exists(o->out) || (fs::is_directory(o->out) && fs::is_empty(o->out)), ValueError, "quantize",
             "--out ", o->out, " must be a new or empty folder");
    const auto model = models::LlamaForCausalLM::from_pretrained(o->model);
    const int64_t n = nn::quantize_linears_q8(*model);
    // The tensors left (embedding, norms) keep their dtype when they share one (bf16 for most
    // checkpoints); mixed dtypes are all stored in f32, which loses nothing.
    DType storage = DType::f32;
    bool first = true, mixed = false;
    for (const auto& [name, t] : model->named_state()) {
      if (!is_floating(t.dtype())) continue;
      mixed = mixed || (!first && t.dtype() != storage);
      storage = t.dtype();
      first = false;
    }
    if (mixed) storage = DType::f32;
    models::save_pretrained(o->out, *model, storage);
    int copied = 0;
    for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                          "generation_config.json"})
      if (fs::exists(fs::path(o->model) / f)) {
        std::ifstream in(fs::path(o->model) / f, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        RS_CHECK(in.good() || in.eof(), IOError, "quantize", "cannot read ", (fs::path(o->model) / f).string());
        write_file_atomic(fs::path(o->out) / f, bytes, "quantize");
        ++copied;
      }
    std::fprintf(stderr, "quantized %lld linear layers to q8_0 -> %s (%.1f MB; %d tokenizer files copied)\n",
                 (long long)n, o->out.c_str(), double(fs::file_size(fs::path(o->out) / "model.safetensors")) / 1e6,
                 copied);
  });
}

}  // namespace rscapret::app
