#include "models/llama/llama.h"

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/checkpoint/hf_checkpoint.h"
#include "models/llama/llama2c.h"
#include "tensor/safetensors.h"

namespace rscapret::models {

LlamaDecoderLayer::LlamaDecoderLayer(const LlamaConfig& c, const nn::Init& init) : Module("LlamaDecoderLayer") {
  nn::AttentionConfig ac;
  ac.hidden_size = c.hidden_size;
  ac.num_heads = c.num_attention_heads;
  ac.num_kv_heads = c.num_key_value_heads;
  ac.head_dim = c.head_dim;
  ac.bias = c.attention_bias;
  ac.rope = true;
  ac.rope_theta = c.rope_theta;
  ac.rope_layout = ops::RopeLayout::half_split;
  ac.out_name = "o_proj";
  input_layernorm = register_module("input_layernorm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, init));
  self_attn = register_module("self_attn", std::make_shared<nn::Attention>(ac, init));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, init));
  mlp = register_module("mlp", std::make_shared<nn::SwiGLU>(c.hidden_size, c.intermediate_size, c.mlp_bias, init));
}

Tensor LlamaDecoderLayer::forward(const Tensor& x, const nn::AttentionArgs& args) const {
  // At decode on a GPU the residual adds ride in o_proj's and down_proj's epilogues
  // (Linear::forward_add) and the two RMSNorms in the q/k/v and gate/up kernels' loads
  // (ops::InputRmsNorm); elsewhere each runs as its own op.
  nn::AttentionArgs a = args;
  a.residual = x;
  a.input_norm = input_layernorm.get();
  const Tensor h = self_attn->forward(x, a);                  // [B, T, C]
  return mlp->forward(h, h, post_attention_layernorm.get());  // [B, T, C]
}

LlamaModel::LlamaModel(const LlamaConfig& c, const nn::Init& init) : Module("LlamaModel") {
  embed_tokens = register_module("embed_tokens", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, init));
  layers = register_module("layers", std::make_shared<nn::ModuleList<LlamaDecoderLayer>>());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(std::make_shared<LlamaDecoderLayer>(c, init));
  norm = register_module("norm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, init));
}

LlamaForCausalLM::LlamaForCausalLM(const LlamaConfig& c, const nn::Init& init)
    : Module("LlamaForCausalLM"), config_(c) {
  model = register_module("model", std::make_shared<LlamaModel>(c, init));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", std::make_shared<nn::Linear>(c.hidden_size, c.vocab_size, false, init));
}

namespace {

nn::LoadOptions frozen_load_options(bool tied) {
  nn::LoadOptions opt;
  opt.strict = true;
  opt.zero_copy = true;
  opt.ignore = ignorable_checkpoint_names();
  if (tied) opt.ignore.push_back("lm_head.weight");  // some tied checkpoints still carry the copy
  return opt;
}

}  // namespace

void LlamaForCausalLM::load_frozen(const SafetensorsCheckpoint& ckpt) {
  freeze();
  eval();
  nn::LoadOptions opt = frozen_load_options(config_.tie_word_embeddings);
  // A checkpoint written by `rscapret quantize`: its q8_0 layers take their codes as they are.
  // (Exactly the names used are skipped: stray codes stay unexpected for the strict load.)
  AdoptedQ8 q8 = adopt_q8_layers(*this, ckpt);
  opt.absent = std::move(q8.replaced_weights);
  opt.ignore.insert(opt.ignore.end(), q8.consumed.begin(), q8.consumed.end());
  load_state_dict(ckpt, opt);
}

void LlamaForCausalLM::load_frozen(const nn::StateDict& state) {
  freeze();
  eval();
  load_state_dict(state, frozen_load_options(config_.tie_word_embeddings));
}

std::shared_ptr<LlamaForCausalLM> LlamaForCausalLM::from_pretrained(const std::filesystem::path& dir) {
  HfCheckpoint ck = open_hf_checkpoint(dir);
  RS_CHECK(ck.config.architecture == Architecture::llama, ValueError, "llama", dir.string(), " holds a ",
           architecture_name(ck.config.architecture), ", not a LlamaForCausalLM");
  nn::Init init;
  init.deferred = true;
  auto m = std::make_shared<LlamaForCausalLM>(ck.config.llama, init);
  m->load_frozen(*ck.weights);
  return m;
}

std::shared_ptr<LlamaForCausalLM> LlamaForCausalLM::from_llama2c(const std::filesystem::path& path) {
  Llama2cCheckpoint ck = load_llama2c(path);
  nn::Init init;
  init.deferred = true;
  auto m = std::make_shared<LlamaForCausalLM>(ck.config, init);
  m->load_frozen(ck.tensors);
  return m;
}

Tensor LlamaForCausalLM::embed(const Tensor& ids) const {
  return model->embed_tokens->forward(ids);  // [B, T, C]
}

Tensor LlamaForCausalLM::lm_head_forward(const Tensor& h) const {
  if (lm_head) return lm_head->forward(h);                                         // [..., V]
  return ops::matmul(h, ops::transpose(model->embed_tokens->weight, 0, 1));        // [..., V]
}

LlamaOutput LlamaForCausalLM::forward(const LlamaInput& in) const {
  RS_CHECK(in.input_ids.defined() != in.inputs_embeds.defined(), ValueError, "llama",
           "give exactly one of input_ids and inputs_embeds");
  Tensor x;  // [B, T, C]
  if (in.input_ids.defined()) {
    RS_CHECK(in.input_ids.dim() == 2, ShapeError, "llama", "input_ids must be [B, T], got ",
             format_shape(in.input_ids.shape()));
    x = embed(in.input_ids);
  } else {
    RS_CHECK(in.inputs_embeds.dim() == 3 && in.inputs_embeds.shape()[2] == config_.hidden_size, ShapeError, "llama",
             "inputs_embeds must be [B, T, C = ", config_.hidden_size, "], got ",
             format_shape(in.inputs_embeds.shape()));
    x = in.inputs_embeds;
  }
  nn::AttentionArgs args;
  args.causal = true;
  if (in.attention_mask.defined()) {
    const Tensor m = in.attention_mask.dtype() == DType::boolean
                         ? in.attention_mask
                         : ops::ne(in.attention_mask.to(DType::i64), Tensor::zeros({}, DType::i64));
    args.key_keep = m.to(x.device());  // [B, Tk]
  }
  // Positions and the key mask are made (or moved) once for all layers: on a GPU each host tensor
  // would otherwise be copied to the device by every layer's rope and attention.
  const int64_t past = in.cache ? in.cache->length() : 0;  // new tokens continue after the cached ones
  const Tensor positions =
      in.position_ids.defined() ? in.position_ids.to(DType::i64) : nn::consecutive_positions(past, x.shape()[1]);
  args.positions = positions.to(x.device());  // [T] or [B, T]
  LlamaOutput out;
  const int64_t L = int64_t(model->layers->size());
  if (in.output_hidden_states) out.hidden_states.push_back(x);
  for (int64_t l = 0; l < L; ++l) {
    args.cache = in.cache ? &in.cache->layer(int(l)) : nullptr;
    x = (*model->layers)[size_t(l)].forward(x, args);  // [B, T, C]
    if (in.output_hidden_states && l + 1 < L) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = model->norm->forward(x);  // [B, T, C]
  if (in.output_hidden_states) out.hidden_states.push_back(out.last_hidden_state);
  if (in.logits) {
    Tensor h = out.last_hidden_state;
    if (in.last_logits_only) h = ops::narrow(h, 1, h.shape()[1] - 1, 1);  // [B, 1, C]
    out.logits = lm_head_forward(h);  // [B, T, V]
  }
  return out;
}

Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels) {
  RS_CHECK(logits.dim() == 3 && labels.dim() == 2 && logits.shape()[0] == labels.shape()[0] &&
               logits.shape()[1] == labels.shape()[1] && logits.shape()[1] >= 2,
           ShapeError, "causal_lm_loss", "logits [B, T, V] and labels [B, T] with T >= 2, got ",
           format_shape(logits.shape()), " and ", format_shape(labels.shape()));
  const int64_t T = logits.shape()[1];
  const Tensor pred = ops::narrow(logits, 1, 0, T - 1);                          // [B, T - 1, V]
  const Tensor target = labels.to(DType::i64).narrow(1, 1, T - 1).contiguous();  // [B, T - 1]
  return ops::cross_entropy(pred, target, -100);
}

Tensor LlamaDecoder::run(LlamaInput in, int64_t T) {
  autograd::NoGradGuard no_grad;
  in.cache = &cache_;
  in.last_logits_only = true;
  if (!pads_.empty()) {
    const int64_t B = int64_t(pads_.size()), Tk = fed_ + T;
    std::vector<uint8_t> keep(size_t(B * Tk));
    std::vector<int64_t> pos(size_t(B * T));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t j = 0; j < Tk; ++j) keep[size_t(b * Tk + j)] = j >= pads_[size_t(b)];
      // Padded query positions get position 0; they attend to nothing and are never read.
      for (int64_t t = 0; t < T; ++t) pos[size_t(b * T + t)] = std::max<int64_t>(fed_ + t - pads_[size_t(b)], 0);
    }
    in.attention_mask = Tensor::from_vector(keep, {B, Tk}).to(DType::boolean);
    in.position_ids = Tensor::from_vector(pos, {B, T});
  }
  fed_ += T;
  return model_.forward(in).logits.select(1, 0);  // [B, V]
}

Tensor LlamaDecoder::step(const Tensor& ids) {
  LlamaInput in;
  in.input_ids = ids;
  return run(in, ids.shape()[1]);
}

Tensor LlamaDecoder::step_embeds(const Tensor& embeds) {
  LlamaInput in;
  in.inputs_embeds = embeds;
  return run(in, embeds.shape()[1]);
}

void LlamaDecoder::select_rows(const std::vector<int64_t>& rows) {
  cache_.reorder(Tensor::from_vector(rows, {int64_t(rows.size())}));
  if (!pads_.empty()) {
    std::vector<int64_t> p;
    for (int64_t r : rows) p.push_back(pads_.at(size_t(r)));
    pads_ = std::move(p);
  }
}

void LlamaDecoder::set_left_padding(std::vector<int64_t> pads) {
  RS_CHECK(fed_ == 0, ValueError, "llama", "set_left_padding must come before the first step");
  for (int64_t p : pads) RS_CHECK(p >= 0, ValueError, "llama", "negative padding ", p);
  pads_ = std::move(pads);
}

GenerateResult generate_batch(const LlamaForCausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                              const GenerateOptions& opt, int64_t pad_id) {
  RS_CHECK(!prompts.empty(), ValueError, "generate", "no prompts");
  size_t T = 0;
  for (const auto& p : prompts) {
    RS_CHECK(!p.empty(), ValueError, "generate", "an empty prompt (give at least BOS)");
    T = std::max(T, p.size());
  }
  const int64_t B = int64_t(prompts.size());
  std::vector<int64_t> ids(size_t(B) * T, pad_id), pads;
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[size_t(b)];
    pads.push_back(int64_t(T - p.size()));
    std::copy(p.begin(), p.end(), ids.begin() + std::ptrdiff_t(size_t(b) * T + (T - p.size())));
  }
  LlamaDecoder dec(model);
  const bool ragged = std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p > 0; });
  if (ragged) dec.set_left_padding(pads);
  return generate(dec, Tensor::from_vector(ids, {B, int64_t(T)}), opt);
}

}  // namespace rscapret::models
