// Multi-head self-attention with grouped-query heads, optional rotary embedding, causal and padding
// masks, and a KV cache for incremental decoding. One class serves CLIP (biases, out_proj, no rope)
// and LLaMA (no biases, o_proj, rope); the projection names are configurable so parameter names
// equal the Hugging Face ones.
//
// Dimensions: B batch, T new tokens, Tk keys (cached + new), C channels, H query heads,
// Hkv key/value heads (H % Hkv == 0), D head dim.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "autograd/ops.h"
#include "nn/kv_cache.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace rscapret::nn {

struct AttentionConfig {
  int64_t hidden_size = 0;   // C
  int64_t num_heads = 0;     // H
  int64_t num_kv_heads = 0;  // Hkv; 0 means H (plain multi-head)
  int64_t head_dim = 0;      // D; 0 means C / H
  bool bias = true;          // on all four projections (CLIP true, LLaMA false)
  std::optional<double> scale;  // softmax scale; default 1 / sqrt(D)

  // Rotary position embedding of q and k (LLaMA); off for CLIP, which adds learned positions.
  bool rope = false;
  double rope_theta = 10000.0;
  ops::RopeLayout rope_layout = ops::RopeLayout::half_split;  // HF checkpoints; interleaved for Meta's
  int64_t rotary_dim = -1;                                    // -1: all of D

  // Hugging Face names: CLIP uses out_proj, LLaMA o_proj.
  std::string q_name = "q_proj", k_name = "k_proj", v_name = "v_proj", out_name = "o_proj";

  // Use ops::attention_composed instead of the fused kernel (debugging, oracle checks).
  bool composed = false;
};

// Per-call inputs besides x.
// i64 [T] on the host: past, past + 1, ..., past + T - 1 (the rotary positions after `past` cached ones).
Tensor consecutive_positions(int64_t past, int64_t T);

struct AttentionArgs {
  bool causal = false;
  Tensor key_keep = {};   // bool [B, Tk]: false masks a key (padding). With a cache, Tk = cached + T.
  Tensor positions = {};  // i64 [T] or [B, T] rotary positions; default cached .. cached + T - 1
  LayerKVCache* cache = nullptr;  // appends this call's k/v and attends over all of them
  Tensor residual = {};           // [B, T, C]: when given, forward returns residual + attention
                                  // (added in o_proj's epilogue at decode, Linear::forward_add)
  // When given, x is this norm's input and the projections take input_norm(x) (at decode on a GPU
  // normalised as the q/k/v kernel loads x, ops::InputRmsNorm; elsewhere by the norm's forward).
  const RMSNorm* input_norm = nullptr;
};

class Attention : public Module {
 public:
  explicit Attention(const AttentionConfig& config, const Init& init = {});

  // x [B, T, C] -> [B, T, C].
  Tensor forward(const Tensor& x, const AttentionArgs& args = {}) const;
  Tensor operator()(const Tensor& x, const AttentionArgs& args = {}) const { return forward(x, args); }

  const AttentionConfig& config() const { return cfg_; }
  // Whether q_proj, k_proj and v_proj round an input like x (made from x by a producer with
  // producer_params) to bf16 as they read it, so the producer may write it in bf16.
  bool takes_bf16_input(const Tensor& x, std::initializer_list<const Tensor*> producer_params) const;

  std::shared_ptr<Linear> q_proj;  // C -> H * D
  std::shared_ptr<Linear> k_proj;  // C -> Hkv * D
  std::shared_ptr<Linear> v_proj;  // C -> Hkv * D
  std::shared_ptr<Linear> o_proj;  // H * D -> C (registered as cfg.out_name)

 private:
  // Whether q, k and v go to the attention in bf16 straight from their GEMMs (the bf16 handoff).
  bool bf16_projections(const Tensor& x, const AttentionArgs& args) const;
  AttentionConfig cfg_;  // with num_kv_heads and head_dim resolved
};

}  // namespace rscapret::nn
