// The parity forward behind `rscapret forward`: runs whatever a checkpoint supports on the inputs
// named in a reference dump and returns every output under the reference's names, so any
// transformers dump can be compared with us.
//
// Inputs (floats f32 or f64, ids i32 or i64):
//   CLIP:  pixel_values [B, 3, S, S]; input_ids [B, T] with optional attention_mask [B, T].
//   LLaMA: input_ids [B, T]; inputs_embeds [B, T, C]; labels [B, T] (with inputs_embeds);
//          greedy_prompt [1, T].
// Outputs (f32; ids i64):
//   CLIP:  vision_hidden_states.{0..L}, vision_last_hidden_state, vision_pooler_output,
//          image_embeds, text_last_hidden_state, text_pooler_output, text_embeds, logits_per_image.
//   LLaMA: logits, hidden_states.{0..L}; logits_from_embeds; loss_from_embeds [1] and
//          grad_inputs_embeds (autograd through the frozen decoder); greedy_output (prompt + new
//          tokens, KV cache, no EOS stop) and greedy_full_logits (recomputed without a cache).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "tensor/tensor.h"

namespace rscapret::models {

struct ForwardOptions {
  int64_t max_new_tokens = 10;  // greedy tokens generated after greedy_prompt
  Device device = Device::cpu();  // where the model runs; outputs always come back to the host
  bool quantize_q8 = false;       // a LLaMA's Linears as q8_0 (nn::quantize_linears_q8); CLIP is left as it is
};

// `model`: a Hugging Face folder, or a llama2.c .bin file.
std::map<std::string, Tensor> run_forward(const std::filesystem::path& model,
                                          const std::map<std::string, Tensor>& inputs,
                                          const ForwardOptions& opt = {});

}  // namespace rscapret::models
