// `rscapret forward --model DIR --inputs IN.safetensors --output OUT.safetensors [--max-new-tokens N]
// [--device cuda]`:
// our parity tool. Runs a Hugging Face checkpoint (CLIP or LLaMA, any size, f32/f16/bf16) or a
// llama2.c .bin on the inputs of a reference dump and writes every output under the reference's
// names (models/checkpoint/forward_dump.h lists them), as float32 (int64 for ids).
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.h"
#include "app/device_option.h"
#include "models/checkpoint/forward_dump.h"
#include "tensor/safetensors.h"

namespace rscapret::app {

void add_forward_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("forward", "run a checkpoint on reference inputs and write its outputs (parity dumps)");
  struct Opts {
    std::string model, inputs, output;
    models::ForwardOptions fwd;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face model folder (config.json + safetensors) or llama2.c .bin")
      ->required();
  cmd->add_option("--inputs", o->inputs, "safetensors with pixel_values, input_ids, attention_mask, "
                                         "inputs_embeds, labels, greedy_prompt (any subset)")
      ->required();
  cmd->add_option("--output", o->output, "safetensors to write the outputs to")->required();
  cmd->add_option("--max-new-tokens", o->fwd.max_new_tokens, "greedy tokens after greedy_prompt (default 10)");
  add_device_option(cmd, o->device);
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->callback([o] {
    o->fwd.device = parse_device_option(o->device);
    check_quantize_option(o->quantize, o->fwd.device);
    o->fwd.quantize_q8 = o->quantize == "q8_0";
    const auto inputs = load_safetensors(o->inputs);
    const auto outputs = models::run_forward(o->model, inputs, o->fwd);
    std::vector<std::pair<std::string, Tensor>> list(outputs.begin(), outputs.end());
    save_safetensors(o->output, list);
    for (const auto& [name, t] : outputs) std::fprintf(stderr, "%s %s\n", name.c_str(), t.describe().c_str());
  });
}

}  // namespace rscapret::app
