#include "models/checkpoint/forward_dump.h"

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/checkpoint/hf_checkpoint.h"
#include "models/clip/clip.h"
#include "models/llama/llama.h"
#include "nn/linear.h"
#include "tensor/error.h"

namespace rscapret::models {
namespace {

using TensorMap = std::map<std::string, Tensor>;

const Tensor* find(const TensorMap& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

// Float inputs go to the model's device; ids stay on the host (the gathers check them there).
Tensor as_float(const Tensor& t, const std::string& name, Device device) {
  RS_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, DTypeError, "forward", name,
           " must be f32 or f64, got ", dtype_name(t.dtype()));
  return t.to(DType::f32).contiguous().to(device);
}

Tensor as_ids(const Tensor& t, const std::string& name) {
  RS_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::i32, DTypeError, "forward", name,
           " must be i64 or i32, got ", dtype_name(t.dtype()));
  RS_CHECK(t.dim() == 2, ShapeError, "forward", name, " must be [B, T], got ", format_shape(t.shape()));
  return t.to(DType::i64).contiguous();
}

// Outputs are written as f32 host tensors (a detached copy: no autograd state, no view of a mapping).
Tensor out_f32(const Tensor& t) { return ops::detach(t).to(DType::f32).contiguous().to(Device::cpu()); }

// As transformers' forward of each class: CLIPModel returns L2-normalised image/text embeds (the
// fixture's are unit vectors, whatever its README says), CLIPVisionModelWithProjection the raw
// projection.
void run_clip(const ClipModel& m, const TensorMap& in, TensorMap& out, Device device) {
  autograd::NoGradGuard no_grad;
  const bool normalise = m.config().has_text && m.config().has_vision;
  Tensor image_embeds, text_embeds;
  if (const Tensor* px = find(in, "pixel_values")) {
    const ClipVisionOutput v = m.encode_image(as_float(*px, "pixel_values", device), true);
    for (size_t i = 0; i < v.hidden_states.size(); ++i)
      out["vision_hidden_states." + std::to_string(i)] = out_f32(v.hidden_states[i]);
    out["vision_last_hidden_state"] = out_f32(v.last_hidden_state);
    out["vision_pooler_output"] = out_f32(v.pooler_output);
    if (v.image_embeds.defined()) out["image_embeds"] = out_f32(normalise ? l2_normalize(image_embeds = v.image_embeds)
                                                                      : (image_embeds = v.image_embeds));
  }
  if (const Tensor* ids = find(in, "input_ids"); ids && m.text_model) {
    Tensor mask;
    if (const Tensor* am = find(in, "attention_mask")) mask = am->to(DType::i64);
    const ClipTextOutput t = m.encode_text(as_ids(*ids, "input_ids"), mask);
    out["text_last_hidden_state"] = out_f32(t.last_hidden_state);
    out["text_pooler_output"] = out_f32(t.pooler_output);
    if (t.text_embeds.defined()) out["text_embeds"] = out_f32(normalise ? l2_normalize(text_embeds = t.text_embeds)
                                                                     : (text_embeds = t.text_embeds));
  }
  if (image_embeds.defined() && text_embeds.defined() && m.logit_scale.defined())
    out["logits_per_image"] = out_f32(m.logits_per_image(image_embeds, text_embeds));
}

void run_llama(const LlamaForCausalLM& m, const TensorMap& in, TensorMap& out, const ForwardOptions& opt) {
  if (const Tensor* ids = find(in, "input_ids")) {
    autograd::NoGradGuard no_grad;
    LlamaInput x;
    x.input_ids = as_ids(*ids, "input_ids");
    if (const Tensor* am = find(in, "attention_mask")) x.attention_mask = am->to(DType::i64);
    x.output_hidden_states = true;
    const LlamaOutput o = m.forward(x);
    out["logits"] = out_f32(o.logits);
    for (size_t i = 0; i < o.hidden_states.size(); ++i)
      out["hidden_states." + std::to_string(i)] = out_f32(o.hidden_states[i]);
  }
  if (const Tensor* e = find(in, "inputs_embeds")) {
    Tensor embeds = as_float(*e, "inputs_embeds", opt.device).clone();  // a fresh leaf
    const Tensor* labels = find(in, "labels");
    if (labels) embeds.set_requires_grad(true);
    LlamaInput x;
    x.inputs_embeds = embeds;
    const LlamaOutput o = m.forward(x);
    out["logits_from_embeds"] = out_f32(o.logits);
    if (labels) {
      const Tensor loss = causal_lm_loss(o.logits, as_ids(*labels, "labels"));
      const std::vector<Tensor> g = autograd::grad(loss, {embeds});
      out["loss_from_embeds"] = out_f32(loss).reshape({1});
      out["grad_inputs_embeds"] = out_f32(g[0]);
    }
  }
  if (const Tensor* p = find(in, "greedy_prompt")) {
    const Tensor prompt = as_ids(*p, "greedy_prompt");
    LlamaDecoder dec(m);
    GenerateOptions g;
    g.max_new_tokens = opt.max_new_tokens;  // no EOS stop, as the reference
    const GenerateResult r = generate(dec, prompt, g);
    const int64_t B = prompt.shape()[0], T = prompt.shape()[1], N = int64_t(r.tokens[0].size());
    std::vector<int64_t> all;
    const auto pv = prompt.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      all.insert(all.end(), pv.begin() + b * T, pv.begin() + (b + 1) * T);
      all.insert(all.end(), r.tokens[b].begin(), r.tokens[b].end());
    }
    const Tensor seq = Tensor::from_vector(all, {B, T + N});
    out["greedy_output"] = seq;
    autograd::NoGradGuard no_grad;
    LlamaInput x;
    x.input_ids = seq;
    out["greedy_full_logits"] = out_f32(m.forward(x).logits);
  }
}

// A parity run only reads the weights: frozen first, so every Linear of the decoder qualifies.
void quantize_if_asked(nn::Module& m, const ForwardOptions& opt) {
  nn::check_q8_on_cpu(m, opt.device, "forward");  // a `rscapret quantize` folder: its codes stay on the CPU
  if (!opt.quantize_q8) return;
  m.freeze();
  nn::quantize_linears_q8(m);
}

}  // namespace

std::map<std::string, Tensor> run_forward(const std::filesystem::path& model, const std::map<std::string, Tensor>& inputs,
                                          const ForwardOptions& opt) {
  TensorMap out;
  if (std::filesystem::is_regular_file(model)) {  // a llama2.c legacy checkpoint
    auto m = LlamaForCausalLM::from_llama2c(model);
    m->to(opt.device);
    quantize_if_asked(*m, opt);
    run_llama(*m, inputs, out, opt);
    return out;
  }
  const ModelConfig cfg = load_model_config(model);
  if (cfg.is_clip()) {
    auto m = ClipModel::from_pretrained(model);
    m->to(opt.device);
    run_clip(*m, inputs, out, opt.device);
  } else {
    auto m = LlamaForCausalLM::from_pretrained(model);
    m->to(opt.device);
    quantize_if_asked(*m, opt);
    run_llama(*m, inputs, out, opt);
  }
  RS_CHECK(!out.empty(), ValueError, "forward", "none of the inputs applies to this ", architecture_name(cfg.architecture),
           " (CLIP: pixel_values, input_ids; LLaMA: input_ids, inputs_embeds, labels, greedy_prompt)");
  return out;
}

}  // namespace rscapret::models
