#include "models/rscapret/chat.h"

#include <algorithm>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/generate/generate.h"
#include "nn/losses.h"

namespace rscapret::models {

namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto z = s.find_last_not_of(" \t\r\n");
  return s.substr(a, z - a + 1);
}

}  // namespace

RsCapRetChat::RsCapRetChat(const RsCapRetBundle& bundle, ChatOptions opt)
    : b_(bundle), opt_(std::move(opt)), rng_(opt_.seed) {
  RS_CHECK(b_.model && b_.tokenizer, ValueError, "chat", "needs a loaded model and tokenizer");
  RS_CHECK(opt_.max_new_tokens >= 1, ValueError, "chat", "max_new_tokens must be >= 1, got ", opt_.max_new_tokens);
  RS_CHECK(opt_.top_p > 0.0 && opt_.top_p <= 1.0, ValueError, "chat", "top_p must be in (0, 1], got ", opt_.top_p);
}

void RsCapRetChat::set_index(std::shared_ptr<const ImageIndex> index, const std::string& model_desc) {
  if (index) index->check_model(*b_.model, model_desc);
  index_ = std::move(index);
}

void RsCapRetChat::add_image(const Tensor& pixels) {
  RS_CHECK(pixels.dim() == 3 || (pixels.dim() == 4 && pixels.shape()[0] == 1), ShapeError, "chat",
           "an image is [3, S, S] or [1, 3, S, S], got ", format_shape(pixels.shape()));
  add_pooled(b_.model->encode_images(pixels.dim() == 3 ? pixels.unsqueeze(0) : pixels));  // [1, Cv]
}

void RsCapRetChat::add_pooled(const Tensor& pooled) {
  autograd::NoGradGuard no_grad;
  const int64_t Cv = b_.model->clip().config().vision.hidden_size;
  RS_CHECK((pooled.dim() == 1 && pooled.shape()[0] == Cv) || (pooled.dim() == 2 && pooled.shape()[0] == 1 &&
                                                               pooled.shape()[1] == Cv),
           ShapeError, "chat", "a pooled image feature is [", Cv, "] or [1, ", Cv, "], got ", format_shape(pooled.shape()));
  const Tensor p = pooled.dim() == 1 ? pooled.unsqueeze(0) : pooled;  // [1, Cv]
  items_.push_back({b_.model->visual_prefix(p.to(DType::f32)).select(0, 0).contiguous(), {}});  // [K, C]
}

void RsCapRetChat::add_text(const std::string& text) {
  if (text.empty()) return;
  // Consecutive text is one string: FROMAGe accumulates the dialogue in a single prompt string.
  if (!items_.empty() && !items_.back().prefix.defined()) items_.back().text += text;
  else items_.push_back({Tensor(), text});
}

void RsCapRetChat::reset() { items_.clear(); }

RsCapRetChat::Snapshot RsCapRetChat::snapshot() const { return {items_, rng_}; }

void RsCapRetChat::restore(Snapshot s) {
  items_ = std::move(s.items);
  rng_ = s.rng;
}

std::vector<std::vector<int64_t>> RsCapRetChat::tokenized() const {
  std::vector<std::vector<int64_t>> out;
  bool first_text = true;
  const int64_t K = b_.model->options().num_visual_tokens;
  for (const Item& it : items_) {
    if (it.prefix.defined()) {
      out.emplace_back(size_t(K), kVisual);
    } else {
      const std::vector<int32_t> ids = b_.tokenizer->encode(it.text, /*add_bos=*/first_text);
      out.emplace_back(ids.begin(), ids.end());
      first_text = false;
    }
  }
  return out;
}

std::vector<int64_t> RsCapRetChat::prompt_ids() const {
  std::vector<int64_t> all;
  for (const auto& v : tokenized()) all.insert(all.end(), v.begin(), v.end());
  return all;
}

Tensor RsCapRetChat::prompt_embeddings() const {
  autograd::NoGradGuard no_grad;
  RS_CHECK(!items_.empty(), ValueError, "chat", "the conversation is empty");
  const auto toks = tokenized();
  std::vector<Tensor> parts;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].prefix.defined()) {
      parts.push_back(items_[i].prefix);  // [K, C]
    } else if (!toks[i].empty()) {
      const int64_t n = int64_t(toks[i].size());
      parts.push_back(b_.model->embed_tokens(Tensor::from_vector(toks[i], {1, n})).select(0, 0));  // [n, C]
    }
  }
  return ops::concat(parts, 0).unsqueeze(0);  // [1, T, C]
}

int64_t RsCapRetChat::choose(Tensor& logits) {
  if (!logits.is_contiguous() || logits.dtype() != DType::f32) logits = logits.to(DType::f32).contiguous();
  float* p = logits.data<float>();
  const int64_t ret = b_.model->ret_id();
  if (opt_.ret_scale_factor != 1.0) p[ret] = float(double(p[ret]) * opt_.ret_scale_factor);
  if (opt_.logits_processor) {
    opt_.logits_processor(logits);
    if (!logits.is_contiguous() || logits.dtype() != DType::f32) logits = logits.to(DType::f32).contiguous();
  }
  if (opt_.temperature <= 0.0) return argmax_row(logits, 0);
  const std::vector<float> row = logits.to_vector<float>();  // [V + 1]
  // 53 random bits -> u in [0, 1): the same on every platform, unlike std's distributions.
  const double u = double(rng_() >> 11) * (1.0 / 9007199254740992.0);
  return sample_row(row, opt_.temperature, opt_.top_p, u);
}

ChatReply RsCapRetChat::ask(const std::string& question, bool force_retrieval) {
  // A failed turn (a device error, out of memory) leaves the conversation as it was, so a front end
  // can report it and go on.
  Snapshot before = snapshot();
  try {
    return answer(question, force_retrieval);
  } catch (...) {
    restore(std::move(before));
    throw;
  }
}

ChatReply RsCapRetChat::answer(const std::string& question, bool force_retrieval) {
  autograd::NoGradGuard no_grad;
  const RsCapRet& m = *b_.model;
  const auto& tok = *b_.tokenizer;
  const int64_t ret = m.ret_id(), eos = tok.eos_id();
  add_text("Q: " + question + "\nA:");
  const Tensor prompt = prompt_embeddings();  // [1, T, C]
  const int64_t T = prompt.shape()[1];

  nn::KVCache cache = m.llm().new_cache();
  // Feeds embeddings [1, n, C]; returns the next-token logits f32 [1, V + 1] and the final-norm
  // hidden state of the last position [1, C].
  auto feed = [&](const Tensor& embeds, Tensor* hidden) {
    LlamaInput in;
    in.inputs_embeds = embeds;
    in.cache = &cache;
    in.logits = false;
    const LlamaOutput out = m.llm().forward(in);
    const int64_t T = out.last_hidden_state.shape()[1];
    const Tensor h = out.last_hidden_state.narrow(1, T - 1, 1);  // [1, 1, C]
    if (hidden) *hidden = h.select(1, 0);                         // [1, C]
    return m.logits(h).select(1, 0).contiguous();                 // [1, V + 1]
  };

  ChatReply r;
  Tensor logits = feed(prompt, nullptr);
  std::vector<int32_t> words;  // answer ids without [RET], for decoding
  r.stop = "max_new_tokens";
  for (int64_t step = 0; step < opt_.max_new_tokens; ++step) {
    const int64_t id = force_retrieval && step == 0 ? ret : choose(logits);
    if (id == eos) {
      r.stop = "eos";
      break;
    }
    if (id != ret) {
      words.push_back(int32_t(id));
      const std::string text = tok.decode(words, /*skip_special=*/true);
      const size_t nl = text.find('\n'), q = text.find("Q:");
      if (nl != std::string::npos || q != std::string::npos) {
        r.stop = nl <= q ? "newline" : "Q:";
        r.tokens.push_back(id);
        words.pop_back();
        r.text = trim(text.substr(0, std::min(nl, q)));
        break;
      }
    }
    r.tokens.push_back(id);
    Tensor h;
    logits = feed(m.embed_tokens(Tensor::from_vector(std::vector<int64_t>{id}, {1, 1})), &h);
    if (id == ret && !r.retrieved_requested) {
      r.retrieved_requested = true;
      if (index_) {
        // The state at the [RET] input position, as text_embeddings reads it in training.
        const std::vector<float> q = nn::l2_normalize(m.text_hidden_fc->forward(h)).to_vector<float>();  // [Q]
        for (const RetrievalHit& hit : index_->search(q, opt_.top_k_images))
          r.retrieved.push_back({hit.index, index_->paths[size_t(hit.index)], hit.score});
      }
    }
  }
  // Rotary positions go on past the trained context (as Hugging Face's LLaMA does), but the model
  // has never seen them: flagged so a front end can suggest a new conversation.
  r.positions = T + int64_t(r.tokens.size());
  r.over_context = r.positions > m.llm().config().max_position_embeddings;
  if (r.stop == "max_new_tokens" || r.stop == "eos") r.text = trim(tok.decode(words, /*skip_special=*/true));
  add_text(" " + r.text + "\n");
  return r;
}

}  // namespace rscapret::models
