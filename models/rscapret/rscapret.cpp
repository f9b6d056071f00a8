#include "models/rscapret/rscapret.h"

#include <cmath>
#include <limits>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "nn/losses.h"

namespace rscapret::models {
namespace {

// Mean L2 norm of the rows of a [V, C] table and the mean row itself, in f64, reading the table
// in chunks so a 7B bf16 table is never widened whole.
struct RowStats {
  double mean_norm = 0.0;
  std::vector<double> mean_row;
};

RowStats row_stats(const Tensor& table) {
  const int64_t V = table.shape()[0], C = table.shape()[1];
  RowStats s;
  s.mean_row.assign(size_t(C), 0.0);
  constexpr int64_t kChunk = 1024;
  for (int64_t r0 = 0; r0 < V; r0 += kChunk) {
    const int64_t n = std::min(kChunk, V - r0);
    const Tensor chunk = table.narrow(0, r0, n).to(DType::f64).contiguous().to(Device::cpu());
    const double* p = chunk.data<double>();
    for (int64_t r = 0; r < n; ++r) {
      double sq = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        sq += p[r * C + c] * p[r * C + c];
        s.mean_row[size_t(c)] += p[r * C + c];
      }
      s.mean_norm += std::sqrt(sq);
    }
  }
  s.mean_norm /= double(V);
  for (double& v : s.mean_row) v /= double(V);
  return s;
}

double row_norm(const Tensor& row) {
  double sq = 0.0;
  for (double v : row.to_vector<double>()) sq += v * v;
  return std::sqrt(sq);
}

}  // namespace

RsCapRet::RsCapRet(std::shared_ptr<ClipModel> clip, std::shared_ptr<LlamaForCausalLM> llm,
                   const RsCapRetOptions& opt, const nn::Init& init)
    : Module("RsCapRet"), clip_(std::move(clip)), llm_(std::move(llm)), opt_(opt) {
  RS_CHECK(clip_ && clip_->vision_model, ValueError, "rscapret", "needs a CLIP model with a vision tower");
  RS_CHECK(llm_, ValueError, "rscapret", "needs a LLaMA model");
  RS_CHECK(opt.num_visual_tokens >= 1 && opt.retrieval_dim >= 1, ValueError, "rscapret",
           "num_visual_tokens and retrieval_dim must be >= 1, got ", opt.num_visual_tokens, " and ",
           opt.retrieval_dim);
  RS_CHECK(!init.deferred, ValueError, "rscapret", "the bridge's parameters cannot be deferred");
  const int64_t Cv = clip_->config().vision.hidden_size;
  const int64_t C = llm_->config().hidden_size;
  ret_id_ = llm_->config().vocab_size;
  RS_CHECK(opt.pad_id >= 0 && opt.pad_id < ret_id_, ValueError, "rscapret", "pad_id ", opt.pad_id,
           " is outside the vocabulary [0, ", ret_id_, ")");
  clip_->freeze();
  clip_->eval();
  llm_->freeze();
  llm_->eval();

  visual_embeddings = register_module("visual_embeddings",
                                      std::make_shared<nn::Linear>(Cv, opt.num_visual_tokens * C, true, init));
  visual_fc = register_module("visual_fc", std::make_shared<nn::Linear>(Cv, opt.retrieval_dim, true, init));
  text_hidden_fc = register_module("text_hidden_fc", std::make_shared<nn::Linear>(C, opt.retrieval_dim, true, init));
  register_parameter("logit_scale", &logit_scale, {}, nn::Fill::constant(nn::clip_logit_scale_init()), init);

  // [RET] input row: a random direction at the mean norm of the frozen rows (the norm it is held to
  // after every step). Output row: the mean of the frozen head rows, as Hugging Face's
  // resize_token_embeddings initialises new rows, so [RET] starts as an average, unlikely token.
  const RowStats in_stats = row_stats(llm_->model->embed_tokens->weight);
  mean_row_norm_ = in_stats.mean_norm;
  register_parameter("ret_input_embedding", &ret_input_embedding, {1, C}, nn::Fill::normal(0.0, 1.0), init);
  renormalize_ret_embedding();
  if (llm_->lm_head) {
    register_parameter("ret_output_embedding", &ret_output_embedding, {1, C}, nn::Fill::zeros(), init);
    const nn::Linear& head = *llm_->lm_head;
    const RowStats out_stats = row_stats(head.is_quantized() ? ops::dequantize_q8(head.q8_weight().codes,
                                                                                  head.q8_weight().scales)
                                                             : head.weight);
    ret_output_embedding.copy_from(Tensor::from_vector(out_stats.mean_row, {1, C}));
  }
}

RsCapRet& RsCapRet::to(Device device) {
  clip_->to(device);
  llm_->to(device);
  nn::Module::to(device);
  return *this;
}

Tensor RsCapRet::encode_images(const Tensor& pixels) const {
  autograd::NoGradGuard no_grad;
  return clip_->encode_image(pixels.to(device())).pooler_output.to(DType::f32);  // [B, Cv]
}

Tensor RsCapRet::visual_prefix(const Tensor& pooled) const {
  const int64_t B = pooled.shape()[0];
  const Tensor v = visual_embeddings->forward(pooled);  // [B, K C]
  return ops::reshape(v, {B, opt_.num_visual_tokens, llm_->config().hidden_size});  // [B, K, C]
}

Tensor RsCapRet::image_embeddings(const Tensor& pooled) const { return visual_fc->forward(pooled); }  // [B, Q]

Tensor RsCapRet::embed_tokens(const Tensor& ids) const {
  RS_CHECK(ids.dim() == 2, ShapeError, "rscapret", "ids must be [B, T], got ", format_shape(ids.shape()));
  std::vector<int64_t> v = ids.to_vector<int64_t>();
  std::vector<uint8_t> is_ret(v.size(), 0);
  bool any = false;
  for (size_t i = 0; i < v.size(); ++i) {
    RS_CHECK(v[i] >= 0 && v[i] <= ret_id_, IndexError, "rscapret", "token id ", v[i], " outside [0, ", ret_id_, "]");
    if (v[i] == ret_id_) {
      is_ret[i] = 1;
      v[i] = opt_.pad_id;  // looked up in the frozen table, then replaced
      any = true;
    }
  }
  Tensor e = llm_->embed(Tensor::from_vector(v, ids.shape()));  // [B, T, C]
  if (!any) return e;
  Tensor mask = Tensor::from_vector(std::vector<int64_t>(is_ret.begin(), is_ret.end()), {ids.shape()[0], ids.shape()[1], 1});
  mask = ops::ne(mask.to(e.device()), Tensor::zeros({}, DType::i64));  // bool [B, T, 1]
  return ops::where(mask, ret_input_embedding, e);            // [B, T, C]
}

Tensor RsCapRet::logits(const Tensor& h) const {
  const Tensor base = llm_->lm_head_forward(h);                                   // [..., V]
  const Tensor ret = ops::matmul(h, ops::transpose(ret_output_row(), 0, 1));      // [..., 1]
  return ops::concat({base, ret}, h.dim() - 1);                                   // [..., V + 1]
}

Tensor RsCapRet::text_embeddings(const CaptionTokens& t, Tensor* lm_loss) const {
  const int64_t B = t.batch(), L = t.max_len(), C = llm_->config().hidden_size;
  LlamaInput in;
  in.inputs_embeds = embed_tokens(t.tokens);  // [B, L, C]
  in.logits = false;
  const LlamaOutput out = llm_->forward(in);
  if (lm_loss) *lm_loss = nn::causal_lm_loss(logits(out.last_hidden_state), retrieval_labels(t));
  std::vector<int64_t> at(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) at[size_t(b)] = b * L + t.lengths[size_t(b)] - 1;  // the [RET] position
  const Tensor flat = ops::reshape(out.last_hidden_state, {B * L, C});                  // [B L, C]
  const Tensor h_ret = ops::index_select(flat, 0, Tensor::from_vector(at, {B}));        // [B, C]
  return text_hidden_fc->forward(h_ret);                                                // [B, Q]
}

RsCapRetLosses RsCapRet::losses(const Tensor& pooled, const CaptionTokens& t, bool concat) const {
  RS_CHECK(pooled.dim() == 2 && pooled.shape()[0] == t.batch(), ShapeError, "rscapret",
           "pooled features [B, Cv] must match the ", t.batch(), " captions, got ", format_shape(pooled.shape()));
  const int64_t K = opt_.num_visual_tokens;
  RsCapRetLosses out;
  std::vector<std::pair<double, Tensor>> terms;
  if (opt_.caption_loss_weight != 0.0) {
    const Tensor vis = visual_prefix(pooled);    // [B, K, C]
    const Tensor txt = embed_tokens(t.tokens);   // [B, L, C]
    Tensor x, labels;
    if (!concat) {
      x = ops::concat({vis, txt}, 1);            // [B, K + L, C]
      labels = caption_labels(t, K);             // [B, K + L]
    } else {
      const ConcatPlan plan = concat_plan(t, K);
      std::vector<Tensor> rows;
      for (const auto& segs : plan.rows) {
        std::vector<Tensor> parts;
        for (const ConcatSegment& s : segs) {
          if (s.kind == ConcatSegment::Kind::visual) parts.push_back(ops::select(vis, 0, s.row));  // [K, C]
          else if (s.kind == ConcatSegment::Kind::tokens)
            parts.push_back(ops::narrow(ops::select(txt, 0, s.row), 0, s.begin, s.end - s.begin));
          else parts.push_back(Tensor::zeros({s.end - s.begin, txt.shape()[2]}, txt.dtype(), txt.device()));  // ignored tail
        }
        rows.push_back(ops::concat(parts, 0));   // [2 (K + L), C]
      }
      x = ops::stack(rows, 0);                   // [ceil(B / 2), 2 (K + L), C]
      labels = concat_caption_labels(t, plan, K);
    }
    LlamaInput in;
    in.inputs_embeds = x;
    in.logits = false;
    const LlamaOutput o = llm_->forward(in);
    out.caption = nn::causal_lm_loss(logits(o.last_hidden_state), labels);
    terms.emplace_back(opt_.caption_loss_weight, out.caption);
  }
  if (opt_.ret_lm_loss_weight != 0.0 || opt_.contrastive_loss_weight != 0.0) {
    Tensor lm;
    const Tensor text = text_embeddings(t, opt_.ret_lm_loss_weight != 0.0 ? &lm : nullptr);  // [B, Q]
    if (lm.defined()) {
      out.ret_lm = lm;
      terms.emplace_back(opt_.ret_lm_loss_weight, lm);
    }
    if (opt_.contrastive_loss_weight != 0.0) {
      const nn::InfoNCE nce = nn::info_nce(image_embeddings(pooled), text, logit_scale);
      out.contrastive = nce.loss;
      out.logits_per_image = nce.logits;
      terms.emplace_back(opt_.contrastive_loss_weight, nce.loss);
    }
  }
  RS_CHECK(!terms.empty(), ValueError, "rscapret", "every loss weight is 0");
  for (const auto& [w, l] : terms) {
    const Tensor term = w == 1.0 ? l : ops::mul(l, w);
    out.total = out.total.defined() ? ops::add(out.total, term) : term;
  }
  return out;
}

void RsCapRet::renormalize_ret_embedding() {
  autograd::NoGradGuard no_grad;
  const double n = row_norm(ret_input_embedding);
  if (!(n > 0.0) || !std::isfinite(n)) return;
  const Tensor scaled = ops::mul(ret_input_embedding, mean_row_norm_ / n);
  ret_input_embedding.copy_from(scaled);  // in place: the optimizer keeps its handle
}

GenerateResult RsCapRet::caption_tokens(const Tensor& pooled, GenerateOptions opt) const {
  autograd::NoGradGuard no_grad;
  const int64_t ret = ret_id_;
  auto user = opt.logits_processor;
  opt.logits_processor = [ret, user](Tensor& l) {  // FROMAGe: no [RET] while captioning
    if (user) user(l);
    if (!l.is_contiguous() || l.dtype() != DType::f32 || !l.device().is_cpu())
      l = l.to(DType::f32).contiguous().to(Device::cpu());  // sampling reads the host copy anyway
    float* p = l.data<float>();
    const int64_t R = l.shape()[0], V = l.shape()[1];
    for (int64_t r = 0; r < R; ++r) p[r * V + ret] = -std::numeric_limits<float>::infinity();
  };
  RsCapRetDecoder dec(*this);
  const Tensor first = dec.step_embeds(visual_prefix(pooled));  // [B, V + 1]; no BOS after the image (F-code)
  return generate_from_logits(dec, first, opt);
}

std::vector<std::string> RsCapRet::caption(const Tensor& pooled, const tokenizers::LlamaTokenizer& tok,
                                           GenerateOptions opt) const {
  const GenerateResult res = caption_tokens(pooled, std::move(opt));
  std::vector<std::string> out;
  for (const auto& ids : res.tokens) {
    std::vector<int32_t> v;
    for (int64_t id : ids)
      if (id < tok.vocab_size()) v.push_back(int32_t(id));
    out.push_back(truncate_caption(tok.decode(v, /*skip_special=*/true)));
  }
  return out;
}

Tensor RsCapRetDecoder::step(const Tensor& ids) {
  autograd::NoGradGuard no_grad;
  return step_embeds(model_.embed_tokens(ids));
}

Tensor RsCapRetDecoder::step_embeds(const Tensor& embeds) {
  autograd::NoGradGuard no_grad;
  LlamaInput in;
  in.inputs_embeds = embeds;
  in.cache = &cache_;
  in.logits = false;
  const LlamaOutput out = model_.llm().forward(in);
  const int64_t T = out.last_hidden_state.shape()[1];
  return model_.logits(out.last_hidden_state.narrow(1, T - 1, 1)).select(1, 0).contiguous();  // [R, V + 1]
}

void RsCapRetDecoder::select_rows(const std::vector<int64_t>& rows) {
  cache_.reorder(Tensor::from_vector(rows, {int64_t(rows.size())}));
}

}  // namespace rscapret::models
