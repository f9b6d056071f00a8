// CLIP (CLIPModel, CLIPVisionModel, CLIPVisionModelWithProjection) on nn modules, with Hugging
// Face parameter names: vision_model.{embeddings.{class_embedding, patch_embedding.weight,
// position_embedding.weight}, pre_layrnorm (sic), encoder.layers.{i}.{layer_norm1,
// self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}, post_layernorm}, text_model.{embeddings.
// {token_embedding, position_embedding}, encoder..., final_layer_norm}, visual_projection,
// text_projection, logit_scale.
//
// Dimensions: B batch, P patches (+1 class token), T text tokens, C channels, H heads, D head dim,
// E projection dim, V vocab, S image side, p patch side.
//
// Vision: patches as a matmul ([B, P, 3 p p] @ W^T), class token, learned positions, pre_layrnorm,
// pre-LN blocks (no mask), post_layernorm of the class token -> pooler_output, visual_projection.
// Text: causal + padding mask, final_layer_norm, pooling at the first EOS token (the argmax id when
// eos_token_id == 2, HF's legacy rule), text_projection. logits_per_image = exp(logit_scale) *
// cos(image_embeds, text_embeds).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "models/config/model_config.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace rscapret {
class SafetensorsCheckpoint;
}

namespace rscapret::models {

class ClipEncoderLayer : public nn::Module {
 public:
  ClipEncoderLayer(int64_t hidden, int64_t intermediate, int64_t heads, Activation act, double eps,
                   const nn::Init& init);
  Tensor forward(const Tensor& x, const nn::AttentionArgs& args) const;  // [B, T, C] -> [B, T, C]

  std::shared_ptr<nn::LayerNorm> layer_norm1;
  std::shared_ptr<nn::Attention> self_attn;
  std::shared_ptr<nn::LayerNorm> layer_norm2;
  std::shared_ptr<nn::MLP> mlp;
};

class ClipEncoder : public nn::Module {
 public:
  ClipEncoder(int64_t n_layers, int64_t hidden, int64_t intermediate, int64_t heads, Activation act, double eps,
              const nn::Init& init);
  // Appends each layer's output to `hidden_states` when given.
  Tensor forward(Tensor x, const nn::AttentionArgs& args, std::vector<Tensor>* hidden_states) const;

  std::shared_ptr<nn::ModuleList<ClipEncoderLayer>> layers;
};

// Conv2d(3, C, p, stride p, no bias) as a matmul over non-overlapping patches.
class ClipPatchEmbedding : public nn::Module {
 public:
  ClipPatchEmbedding(int64_t channels_in, int64_t hidden, int64_t patch, const nn::Init& init);
  Tensor forward(const Tensor& pixels) const;  // [B, 3, S, S] -> [B, (S/p)^2, C]
  Tensor weight;                                // [C, 3, p, p]

 private:
  int64_t cin_, hidden_, patch_;
};

class ClipVisionEmbeddings : public nn::Module {
 public:
  ClipVisionEmbeddings(const ClipVisionConfig& c, const nn::Init& init);
  Tensor forward(const Tensor& pixels) const;  // [B, 3, S, S] -> [B, P + 1, C]

  Tensor class_embedding;  // [C]
  std::shared_ptr<ClipPatchEmbedding> patch_embedding;
  std::shared_ptr<nn::Embedding> position_embedding;  // [P + 1, C]
};

struct ClipVisionOutput {
  Tensor last_hidden_state;           // [B, P + 1, C]
  Tensor pooler_output;               // [B, C]: post_layernorm of the class token
  std::vector<Tensor> hidden_states;  // L + 1: after pre_layrnorm, then each layer's output
  Tensor image_embeds;                // [B, E] (visual_projection; undefined without one)
};

class ClipVisionTransformer : public nn::Module {
 public:
  ClipVisionTransformer(const ClipVisionConfig& c, const nn::Init& init);
  ClipVisionOutput forward(const Tensor& pixels, bool output_hidden_states = false) const;

  std::shared_ptr<ClipVisionEmbeddings> embeddings;
  std::shared_ptr<nn::LayerNorm> pre_layrnorm;
  std::shared_ptr<ClipEncoder> encoder;
  std::shared_ptr<nn::LayerNorm> post_layernorm;

 private:
  ClipVisionConfig cfg_;
};

class ClipTextEmbeddings : public nn::Module {
 public:
  ClipTextEmbeddings(const ClipTextConfig& c, const nn::Init& init);
  Tensor forward(const Tensor& ids) const;  // [B, T] -> [B, T, C]

  std::shared_ptr<nn::Embedding> token_embedding;     // [V, C]
  std::shared_ptr<nn::Embedding> position_embedding;  // [max_positions, C]
};

struct ClipTextOutput {
  Tensor last_hidden_state;  // [B, T, C], after final_layer_norm
  Tensor pooler_output;      // [B, C] at the EOS position
  Tensor text_embeds;        // [B, E] (text_projection; undefined without one)
};

class ClipTextTransformer : public nn::Module {
 public:
  ClipTextTransformer(const ClipTextConfig& c, const nn::Init& init);
  // attention_mask: optional bool/int [B, T], 0 at padding.
  ClipTextOutput forward(const Tensor& ids, const Tensor& attention_mask = Tensor()) const;
  // The pooled position of each row: first EOS, or the argmax id (legacy eos_token_id == 2).
  std::vector<int64_t> eos_positions(const Tensor& ids) const;

  std::shared_ptr<ClipTextEmbeddings> embeddings;
  std::shared_ptr<ClipEncoder> encoder;
  std::shared_ptr<nn::LayerNorm> final_layer_norm;

 private:
  ClipTextConfig cfg_;
};

class ClipModel : public nn::Module {
 public:
  explicit ClipModel(const ClipConfig& config, const nn::Init& init = {});
  // CLIPModel / CLIPVisionModel(WithProjection) from a Hugging Face folder: frozen, eval mode,
  // zero-copy weights in their stored dtype.
  static std::shared_ptr<ClipModel> from_pretrained(const std::filesystem::path& dir);
  void load_frozen(const SafetensorsCheckpoint& ckpt);

  // pixels [B, 3, S, S] (S must be the config's image_size).
  ClipVisionOutput encode_image(const Tensor& pixels, bool output_hidden_states = false) const;
  ClipTextOutput encode_text(const Tensor& ids, const Tensor& attention_mask = Tensor()) const;
  // exp(logit_scale) * normalize(image_embeds) @ normalize(text_embeds)^T: [Bi, Bt].
  Tensor logits_per_image(const Tensor& image_embeds, const Tensor& text_embeds) const;
  const ClipConfig& config() const { return cfg_; }

  std::shared_ptr<ClipVisionTransformer> vision_model;  // null without a vision tower
  std::shared_ptr<ClipTextTransformer> text_model;      // null without a text tower
  std::shared_ptr<nn::Linear> visual_projection;        // C_vision -> E (no bias), or null
  std::shared_ptr<nn::Linear> text_projection;          // C_text -> E (no bias), or null
  Tensor logit_scale;                                   // [] log(1 / temperature), or undefined

 private:
  ClipConfig cfg_;
};

// x / ||x|| over the last dim.
Tensor l2_normalize(const Tensor& x);

}  // namespace rscapret::models
