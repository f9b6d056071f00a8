// LLaMA (LlamaForCausalLM) on nn modules, with Hugging Face parameter names, so a checkpoint loads
// by plain name lookup: model.embed_tokens, model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head (absent when tied).
//
// Dimensions: B batch, T new tokens, Tk keys (cached + new), C channels (hidden_size), H query
// heads, Hkv key/value heads, D head dim, F intermediate size, V vocab, L layers.
//
// Pre-norm blocks: x += attn(rms(x)); x += swiglu(rms(x)); then the final RMSNorm and lm_head.
// RoPE is half-split (HF's rotate_half); llama2.c checkpoints are permuted at load (llama2c.h).
// Weights keep their checkpoint dtype (f32/f16/bf16, zero-copy from the mapping); activations are f32.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "models/config/model_config.h"
#include "models/generate/generate.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/kv_cache.h"
#include "nn/mlp.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace rscapret {
class SafetensorsCheckpoint;
}

namespace rscapret::models {

class LlamaDecoderLayer : public nn::Module {
 public:
  LlamaDecoderLayer(const LlamaConfig& config, const nn::Init& init);
  Tensor forward(const Tensor& x, const nn::AttentionArgs& args) const;  // [B, T, C] -> [B, T, C]

  std::shared_ptr<nn::RMSNorm> input_layernorm;
  std::shared_ptr<nn::Attention> self_attn;
  std::shared_ptr<nn::RMSNorm> post_attention_layernorm;
  std::shared_ptr<nn::SwiGLU> mlp;
};

class LlamaModel : public nn::Module {
 public:
  LlamaModel(const LlamaConfig& config, const nn::Init& init);

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::ModuleList<LlamaDecoderLayer>> layers;
  std::shared_ptr<nn::RMSNorm> norm;
};

struct LlamaInput {
  Tensor input_ids;       // i32/i64 [B, T]; or
  Tensor inputs_embeds;   // float [B, T, C] (e.g. a visual prefix followed by token embeddings)
  Tensor attention_mask;  // optional bool/int [B, Tk] (Tk = cached + T): 0 masks a padded key
  Tensor position_ids;    // optional i64 [B, T] or [T] rotary positions (default: cached .. cached + T - 1)
  nn::KVCache* cache = nullptr;  // appends this call's keys/values; positions continue after it
  bool output_hidden_states = false;
  bool logits = true;            // false: skip lm_head (hidden states only)
  bool last_logits_only = false; // logits of the last position only, [B, 1, V] (decoding)
};

struct LlamaOutput {
  Tensor logits;             // f32 [B, T, V] (or [B, 1, V])
  Tensor last_hidden_state;  // f32 [B, T, C], after the final norm
  // With output_hidden_states, HF's convention: L + 1 entries, the embeddings, then each layer's
  // output, the last one after the final norm (so it equals last_hidden_state).
  std::vector<Tensor> hidden_states;
};

class LlamaForCausalLM : public nn::Module {
 public:
  // init.deferred registers shapes only (a checkpoint fills them), so a 7B skeleton is free.
  explicit LlamaForCausalLM(const LlamaConfig& config, const nn::Init& init = {});

  // A Hugging Face folder (config.json + safetensors): frozen, eval mode, weights zero-copy in
  // their stored dtype. Throws StateDictError listing missing/unexpected/mis-shaped tensors.
  static std::shared_ptr<LlamaForCausalLM> from_pretrained(const std::filesystem::path& dir);
  // A llama2.c legacy .bin (q/k permuted to the half-split layout).
  static std::shared_ptr<LlamaForCausalLM> from_llama2c(const std::filesystem::path& path);
  // Loads a frozen, zero-copy state (checkpoint names; ignorable buffers skipped).
  void load_frozen(const SafetensorsCheckpoint& ckpt);
  void load_frozen(const nn::StateDict& state);

  LlamaOutput forward(const LlamaInput& in) const;
  Tensor embed(const Tensor& ids) const;  // [B, T] -> f32 [B, T, C]
  Tensor lm_head_forward(const Tensor& h) const;  // [..., C] -> [..., V] (tied: embed_tokens^T)
  nn::KVCache new_cache() const { return nn::KVCache(int(config_.num_hidden_layers)); }
  const LlamaConfig& config() const { return config_; }

  std::shared_ptr<LlamaModel> model;
  std::shared_ptr<nn::Linear> lm_head;  // null when tie_word_embeddings

 private:
  LlamaConfig config_;
};

// Causal-LM cross-entropy: logits[:, :-1] against labels[:, 1:], mean over targets != -100
// (HF's shift). logits [B, T, V], labels i32/i64 [B, T] -> 0-d.
Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels);

// Decoder for generation: a model plus its KV cache.
//
// Batched prompts of different lengths are left-padded (set_left_padding): row b's first pads[b]
// positions are masked out as keys, and its rotary positions start at 0 on its first real token,
// so every row computes what it would alone (HF's position_ids = cumsum(mask) - 1).
class LlamaDecoder : public Decoder {
 public:
  explicit LlamaDecoder(const LlamaForCausalLM& model) : model_(model), cache_(model.new_cache()) {}
  Tensor step(const Tensor& ids) override;
  // Feeds embeddings [B, T, C] (a visual prefix) and returns the last position's logits [B, V].
  Tensor step_embeds(const Tensor& embeds);
  void select_rows(const std::vector<int64_t>& rows) override;
  // Before the first step: per row, how many leading positions are padding.
  void set_left_padding(std::vector<int64_t> pads);
  nn::KVCache& cache() { return cache_; }

 private:
  Tensor run(LlamaInput in, int64_t T);
  const LlamaForCausalLM& model_;
  nn::KVCache cache_;
  std::vector<int64_t> pads_;  // empty: no padding
  int64_t fed_ = 0;            // positions fed so far (the cache length)
};

// Greedy / sampled / beam generation for prompts of different lengths in one batch: left-padded
// with pad_id (never attended to). Row b of the result continues prompts[b].
GenerateResult generate_batch(const LlamaForCausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                              const GenerateOptions& opt, int64_t pad_id = 0);

}  // namespace rscapret::models
