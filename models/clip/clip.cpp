#include "models/clip/clip.h"

#include "autograd/ops.h"
#include "models/checkpoint/hf_checkpoint.h"
#include "tensor/safetensors.h"

namespace rscapret::models {

ClipEncoderLayer::ClipEncoderLayer(int64_t hidden, int64_t intermediate, int64_t heads, Activation act, double eps,
                                   const nn::Init& init)
    : Module("CLIPEncoderLayer") {
  nn::AttentionConfig ac;
  ac.hidden_size = hidden;
  ac.num_heads = heads;
  ac.bias = true;
  ac.out_name = "out_proj";
  layer_norm1 = register_module("layer_norm1", std::make_shared<nn::LayerNorm>(hidden, eps, true, true, init));
  self_attn = register_module("self_attn", std::make_shared<nn::Attention>(ac, init));
  layer_norm2 = register_module("layer_norm2", std::make_shared<nn::LayerNorm>(hidden, eps, true, true, init));
  mlp = register_module("mlp", std::make_shared<nn::MLP>(hidden, intermediate, act, true, init));
}

Tensor ClipEncoderLayer::forward(const Tensor& x, const nn::AttentionArgs& args) const {
  // The bf16 handoff (GPU inference): where the projections after a LayerNorm round their input to
  // bf16 anyway, the LayerNorm writes bf16 itself (same bits, no f32 pass and no cast pass).
  const bool attn16 = self_attn->takes_bf16_input(x, {&layer_norm1->weight, &layer_norm1->bias});
  const Tensor a = attn16 ? layer_norm1->forward_bf16(x) : layer_norm1->forward(x);  // [B, T, C]
  // The residual adds ride in the output projections' epilogues on a GPU (Linear::forward_add).
  nn::AttentionArgs with_residual = args;
  with_residual.residual = x;
  const Tensor h = self_attn->forward(a, with_residual);                             // [B, T, C]
  const bool mlp16 = mlp->takes_bf16_input(h, {&layer_norm2->weight, &layer_norm2->bias});
  const Tensor m = mlp16 ? layer_norm2->forward_bf16(h) : layer_norm2->forward(h);   // [B, T, C]
  return mlp->forward(m, h);                                                         // [B, T, C]
}

ClipEncoder::ClipEncoder(int64_t n_layers, int64_t hidden, int64_t intermediate, int64_t heads, Activation act,
                         double eps, const nn::Init& init)
    : Module("CLIPEncoder") {
  layers = register_module("layers", std::make_shared<nn::ModuleList<ClipEncoderLayer>>());
  for (int64_t i = 0; i < n_layers; ++i)
    layers->push_back(std::make_shared<ClipEncoderLayer>(hidden, intermediate, heads, act, eps, init));
}

Tensor ClipEncoder::forward(Tensor x, const nn::AttentionArgs& args, std::vector<Tensor>* hidden_states) const {
  for (const auto& layer : *layers) {
    x = layer->forward(x, args);  // [B, T, C]
    if (hidden_states) hidden_states->push_back(x);
  }
  return x;
}

ClipPatchEmbedding::ClipPatchEmbedding(int64_t channels_in, int64_t hidden, int64_t patch, const nn::Init& init)
    : Module("CLIPPatchEmbedding"), cin_(channels_in), hidden_(hidden), patch_(patch) {
  register_parameter("weight", &weight, {hidden, channels_in, patch, patch}, nn::Fill::normal(0.0, 0.02), init);
}

Tensor ClipPatchEmbedding::forward(const Tensor& pixels) const {
  const int64_t B = pixels.shape()[0], S = pixels.shape()[2], p = patch_, g = S / p;
  // Images made on the host go to the model's device here, so every caller may pass host pixels
  // (a move across devices records no gradient: pixels that want one must be on the device).
  const Tensor px = pixels.device() == weight.device() ? pixels : pixels.to(weight.device());
  // [B, 3, g, p, g, p] -> [B, g, g, 3, p, p]: each patch's pixels in the conv weight's (c, y, x) order.
  Tensor x = ops::reshape(px, {B, cin_, g, p, g, p});
  x = ops::reshape(ops::contiguous(ops::permute(x, {0, 2, 4, 1, 3, 5})), {B, g * g, cin_ * p * p});  // [B, P, 3pp]
  const Tensor w = ops::reshape(weight, {hidden_, cin_ * p * p});                                    // [C, 3pp]
  return ops::matmul(x, ops::transpose(w, 0, 1));                                                    // [B, P, C]
}

ClipVisionEmbeddings::ClipVisionEmbeddings(const ClipVisionConfig& c, const nn::Init& init)
    : Module("CLIPVisionEmbeddings") {
  register_parameter("class_embedding", &class_embedding, {c.hidden_size}, nn::Fill::normal(0.0, 1.0), init);
  patch_embedding = register_module(
      "patch_embedding", std::make_shared<ClipPatchEmbedding>(c.num_channels, c.hidden_size, c.patch_size, init));
  position_embedding = register_module(
      "position_embedding", std::make_shared<nn::Embedding>(c.num_patches() + 1, c.hidden_size, init));
}

Tensor ClipVisionEmbeddings::forward(const Tensor& pixels) const {
  const Tensor patches = patch_embedding->forward(pixels);  // [B, P, C]
  const int64_t B = patches.shape()[0], C = patches.shape()[2];
  const Tensor cls = ops::expand(ops::reshape(ops::cast(class_embedding, patches.dtype()), {1, 1, C}), {B, 1, C});
  const Tensor x = ops::concat({cls, patches}, 1);                                               // [B, P + 1, C]
  const Tensor pos = position_embedding->forward(Tensor::arange(x.shape()[1]));                  // [P + 1, C]
  return ops::add(x, ops::unsqueeze(pos, 0));                                                    // [B, P + 1, C]
}

ClipVisionTransformer::ClipVisionTransformer(const ClipVisionConfig& c, const nn::Init& init)
    : Module("CLIPVisionTransformer"), cfg_(c) {
  embeddings = register_module("embeddings", std::make_shared<ClipVisionEmbeddings>(c, init));
  pre_layrnorm = register_module("pre_layrnorm",
                                 std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, true, init));
  encoder = register_module("encoder", std::make_shared<ClipEncoder>(c.num_hidden_layers, c.hidden_size,
                                                                     c.intermediate_size, c.num_attention_heads,
                                                                     c.hidden_act, c.layer_norm_eps, init));
  post_layernorm = register_module(
      "post_layernorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, true, init));
}

ClipVisionOutput ClipVisionTransformer::forward(const Tensor& pixels, bool output_hidden_states) const {
  const int64_t S = cfg_.image_size;
  RS_CHECK(pixels.dim() == 4 && pixels.shape()[1] == cfg_.num_channels && pixels.shape()[2] == S &&
               pixels.shape()[3] == S,
           ShapeError, "clip", "pixel_values must be [B, ", cfg_.num_channels, ", ", S, ", ", S,
           "] (the config's image_size; resize the image first), got ", format_shape(pixels.shape()));
  ClipVisionOutput out;
  Tensor x = pre_layrnorm->forward(embeddings->forward(pixels));  // [B, P + 1, C]
  if (output_hidden_states) out.hidden_states.push_back(x);
  out.last_hidden_state = encoder->forward(x, {}, output_hidden_states ? &out.hidden_states : nullptr);
  out.pooler_output = post_layernorm->forward(ops::select(out.last_hidden_state, 1, 0));  // [B, C]
  return out;
}

ClipTextEmbeddings::ClipTextEmbeddings(const ClipTextConfig& c, const nn::Init& init) : Module("CLIPTextEmbeddings") {
  token_embedding = register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, init));
  position_embedding = register_module(
      "position_embedding", std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size, init));
}

Tensor ClipTextEmbeddings::forward(const Tensor& ids) const {
  const int64_t T = ids.shape()[1];
  RS_CHECK(T <= position_embedding->num_embeddings(), ShapeError, "clip", "text of ", T,
           " tokens is longer than max_position_embeddings ", position_embedding->num_embeddings());
  const Tensor tok = token_embedding->forward(ids);                        // [B, T, C]
  const Tensor pos = position_embedding->forward(Tensor::arange(T));        // [T, C]
  return ops::add(tok, ops::unsqueeze(pos, 0));                            // [B, T, C]
}

ClipTextTransformer::ClipTextTransformer(const ClipTextConfig& c, const nn::Init& init)
    : Module("CLIPTextTransformer"), cfg_(c) {
  embeddings = register_module("embeddings", std::make_shared<ClipTextEmbeddings>(c, init));
  encoder = register_module("encoder", std::make_shared<ClipEncoder>(c.num_hidden_layers, c.hidden_size,
                                                                     c.intermediate_size, c.num_attention_heads,
                                                                     c.hidden_act, c.layer_norm_eps, init));
  final_layer_norm = register_module(
      "final_layer_norm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, true, init));
}

std::vector<int64_t> ClipTextTransformer::eos_positions(const Tensor& ids) const {
  const int64_t B = ids.shape()[0], T = ids.shape()[1];
  const auto v = ids.to(DType::i64).contiguous().to_vector<int64_t>();
  std::vector<int64_t> pos(B, 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* row = v.data() + b * T;
    if (cfg_.eos_token_id == 2) {  // legacy configs: the EOT token has the largest id
      for (int64_t t = 1; t < T; ++t)
        if (row[t] > row[pos[b]]) pos[b] = t;
    } else {  // the first EOS (0 when there is none, as HF's argmax of an all-false mask)
      for (int64_t t = 0; t < T; ++t)
        if (row[t] == cfg_.eos_token_id) {
          pos[b] = t;
          break;
        }
    }
  }
  return pos;
}

ClipTextOutput ClipTextTransformer::forward(const Tensor& ids, const Tensor& attention_mask) const {
  RS_CHECK(ids.dim() == 2, ShapeError, "clip", "input_ids must be [B, T], got ", format_shape(ids.shape()));
  const int64_t B = ids.shape()[0], T = ids.shape()[1];
  nn::AttentionArgs args;
  args.causal = true;
  if (attention_mask.defined()) {
    RS_CHECK(attention_mask.shape() == ids.shape(), ShapeError, "clip", "attention_mask ",
             format_shape(attention_mask.shape()), " must match input_ids ", format_shape(ids.shape()));
    args.key_keep = attention_mask.dtype() == DType::boolean
                        ? attention_mask
                        : ops::ne(attention_mask.to(DType::i64), Tensor::zeros({}, DType::i64));  // [B, T]
  }
  const Tensor embedded = embeddings->forward(ids);  // [B, T, C]
  // Moved once, not by every layer's attention.
  if (args.key_keep.defined()) args.key_keep = args.key_keep.to(embedded.device());
  ClipTextOutput out;
  const Tensor x = encoder->forward(embedded, args, nullptr);  // [B, T, C]
  out.last_hidden_state = final_layer_norm->forward(x);                        // [B, T, C]
  const auto eos = eos_positions(ids);
  std::vector<int64_t> flat(B);
  for (int64_t b = 0; b < B; ++b) flat[b] = b * T + eos[b];
  const int64_t C = out.last_hidden_state.shape()[2];
  out.pooler_output = ops::index_select(ops::reshape(out.last_hidden_state, {B * T, C}), 0,
                                        Tensor::from_vector(flat, {B}));  // [B, C]
  return out;
}

ClipModel::ClipModel(const ClipConfig& c, const nn::Init& init) : Module("CLIPModel"), cfg_(c) {
  if (c.has_vision) vision_model = register_module("vision_model", std::make_shared<ClipVisionTransformer>(c.vision, init));
  if (c.has_text) text_model = register_module("text_model", std::make_shared<ClipTextTransformer>(c.text, init));
  if (c.has_visual_projection)
    visual_projection = register_module(
        "visual_projection", std::make_shared<nn::Linear>(c.vision.hidden_size, c.projection_dim, false, init));
  if (c.has_text_projection)
    text_projection = register_module(
        "text_projection", std::make_shared<nn::Linear>(c.text.hidden_size, c.projection_dim, false, init));
  if (c.has_logit_scale)
    register_parameter("logit_scale", &logit_scale, {}, nn::Fill::constant(c.logit_scale_init_value), init);
}

void ClipModel::load_frozen(const SafetensorsCheckpoint& ckpt) {
  freeze();
  eval();
  nn::LoadOptions opt;
  opt.zero_copy = true;
  opt.ignore = ignorable_checkpoint_names();
  load_state_dict(ckpt, opt);
}

std::shared_ptr<ClipModel> ClipModel::from_pretrained(const std::filesystem::path& dir) {
  HfCheckpoint ck = open_hf_checkpoint(dir);
  RS_CHECK(ck.config.is_clip(), ValueError, "clip", dir.string(), " holds a ",
           architecture_name(ck.config.architecture), ", not a CLIP model");
  nn::Init init;
  init.deferred = true;
  auto m = std::make_shared<ClipModel>(ck.config.clip, init);
  m->load_frozen(*ck.weights);
  return m;
}

ClipVisionOutput ClipModel::encode_image(const Tensor& pixels, bool output_hidden_states) const {
  RS_CHECK(vision_model != nullptr, ValueError, "clip", "this checkpoint has no vision tower");
  ClipVisionOutput out = vision_model->forward(pixels, output_hidden_states);
  if (visual_projection) out.image_embeds = visual_projection->forward(out.pooler_output);  // [B, E]
  return out;
}

ClipTextOutput ClipModel::encode_text(const Tensor& ids, const Tensor& attention_mask) const {
  RS_CHECK(text_model != nullptr, ValueError, "clip", "this checkpoint has no text tower");
  ClipTextOutput out = text_model->forward(ids, attention_mask);
  if (text_projection) out.text_embeds = text_projection->forward(out.pooler_output);  // [B, E]
  return out;
}

Tensor l2_normalize(const Tensor& x) {
  return ops::div(x, ops::sqrt(ops::sum(ops::mul(x, x), -1, true)));
}

Tensor ClipModel::logits_per_image(const Tensor& image_embeds, const Tensor& text_embeds) const {
  RS_CHECK(logit_scale.defined(), ValueError, "clip", "this checkpoint has no logit_scale");
  const Tensor sim = ops::matmul(l2_normalize(image_embeds), ops::transpose(l2_normalize(text_embeds), 0, 1));
  return ops::mul(sim, ops::exp(ops::cast(logit_scale, DType::f32)));  // [Bi, Bt]
}

}  // namespace rscapret::models
