#include "train/lm/lm_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/checkpoint/save_pretrained.h"
#include "nn/losses.h"
#include "nn/optim/clip.h"
#include "train/data/loader.h"
#include "train/lm/pretrain_common.h"

namespace rscapret::train {
namespace fs = std::filesystem;

models::LlamaConfig make_llama_config(const LmModelOptions& o, const tokenizers::LlamaTokenizer& tok) {
  RS_CHECK(o.hidden > 0 && o.layers > 0 && o.heads > 0, ValueError, "train lm",
           "hidden, layers and heads must be positive (got ", o.hidden, ", ", o.layers, ", ", o.heads, ")");
  RS_CHECK(o.hidden % o.heads == 0, ValueError, "train lm", "hidden ", o.hidden, " is not a multiple of heads ",
           o.heads);
  const int64_t kv = o.kv_heads > 0 ? o.kv_heads : o.heads;
  RS_CHECK(o.heads % kv == 0, ValueError, "train lm", "heads ", o.heads, " is not a multiple of kv-heads ", kv);
  RS_CHECK((o.hidden / o.heads) % 2 == 0, ValueError, "train lm", "the head size ", o.hidden / o.heads,
           " must be even for RoPE");
  models::LlamaConfig c;
  c.vocab_size = tok.vocab_size();
  c.hidden_size = o.hidden;
  // LLaMA's SwiGLU width: 2/3 of 4 * hidden, rounded up to a multiple of 32.
  c.intermediate_size = o.intermediate > 0 ? o.intermediate : ((8 * o.hidden / 3 + 31) / 32) * 32;
  c.num_hidden_layers = o.layers;
  c.num_attention_heads = o.heads;
  c.num_key_value_heads = kv;
  c.head_dim = o.hidden / o.heads;
  c.max_position_embeddings = o.max_positions;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = o.rope_theta;
  c.tie_word_embeddings = o.tie_embeddings;
  c.bos_token_id = tok.bos_id();
  c.eos_token_ids = {tok.eos_id()};
  return c;
}

void hf_init_llama(models::LlamaForCausalLM& model, Generator& gen) {
  // Matrices (projections, embeddings, lm_head) N(0, 0.02); RMSNorm gains stay at their Fill, 1.
  reinit_normal(model, gen, [](const std::string&, const Shape& s) { return s.size() >= 2 ? 0.02 : -1.0; });
}

TokenSeqs tokenize_captions_lm(const tokenizers::LlamaTokenizer& tok, const std::vector<std::string>& captions,
                               int64_t max_len) {
  RS_CHECK(max_len >= 2, ValueError, "train lm", "max-len must be at least 2 (BOS and one token), got ", max_len);
  TokenSeqs out;
  out.reserve(captions.size());
  for (const auto& c : captions) {
    std::vector<int32_t> ids = tok.encode(c, /*add_bos=*/true, /*add_eos=*/true);
    if (int64_t(ids.size()) > max_len) ids.resize(size_t(max_len));
    if (ids.size() >= 2) out.push_back(std::move(ids));  // "<s> </s>" alone still teaches EOS
  }
  return out;
}

LmBatch make_lm_batch(const TokenSeqs& seqs, const std::vector<int64_t>& rows, int64_t pad_id) {
  RS_CHECK(!rows.empty(), ValueError, "train lm", "an empty batch");
  size_t T = 0;
  for (int64_t r : rows) T = std::max(T, seqs.at(size_t(r)).size());
  const int64_t B = int64_t(rows.size());
  std::vector<int64_t> ids(size_t(B) * T, pad_id), labels(size_t(B) * T, nn::kIgnoreIndex);
  LmBatch b;
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = seqs[size_t(rows[size_t(i)])];
    for (size_t t = 0; t < s.size(); ++t) ids[size_t(i) * T + t] = labels[size_t(i) * T + t] = s[t];
    b.targets += int64_t(s.size()) - 1;
  }
  b.input_ids = Tensor::from_vector(ids, {B, int64_t(T)});
  b.labels = Tensor::from_vector(labels, {B, int64_t(T)});
  return b;
}

TokenSeqs tokenize_caption_docs(const tokenizers::LlamaTokenizer& tok,
                                const std::vector<std::vector<std::string>>& per_image, int64_t max_len,
                                CaptionDocs* docs) {
  TokenSeqs out;
  for (const auto& caps : per_image) {
    TokenSeqs seqs = tokenize_captions_lm(tok, caps, max_len);
    if (seqs.empty()) continue;
    std::vector<int64_t> doc;
    for (auto& s : seqs) {
      doc.push_back(int64_t(out.size()));
      out.push_back(std::move(s));
    }
    if (docs) docs->push_back(std::move(doc));
  }
  return out;
}

TokenSeqs training_rows(const TokenSeqs& seqs, const CaptionDocs& docs, const std::vector<int64_t>& doc_of,
                        const std::vector<int64_t>& captions, int64_t per_row, bool append_bos, int32_t bos_id,
                        uint64_t salt) {
  RS_CHECK(per_row >= 1, ValueError, "train lm", "captions per row must be >= 1, got ", per_row);
  TokenSeqs rows;
  rows.reserve(captions.size());
  for (size_t i = 0; i < captions.size(); ++i) {
    const int64_t c = captions[i];
    std::vector<int32_t> row = seqs.at(size_t(c));
    const auto& doc = docs.at(size_t(doc_of.at(size_t(c))));
    const int64_t n = int64_t(doc.size());
    if (per_row > 1 && n > 1) {
      const int64_t self = int64_t(std::find(doc.begin(), doc.end(), c) - doc.begin());
      // The partners: n - 1 other captions, rotated to start at a point drawn from (salt, i).
      uint64_t h = (salt + 0x9E3779B97F4A7C15ull * (i + 1)) ^ (salt >> 29);
      h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 27;
      const int64_t start = int64_t(h % uint64_t(n - 1));
      for (int64_t j = 0; j < std::min(per_row - 1, n - 1); ++j) {
        const int64_t other = doc[size_t((self + 1 + (start + j) % (n - 1)) % n)];
        const auto& s = seqs[size_t(other)];
        row.insert(row.end(), s.begin(), s.end());
      }
    }
    if (append_bos) row.push_back(bos_id);
    rows.push_back(std::move(row));
  }
  return rows;
}

LmTrainer::LmTrainer(models::LlamaForCausalLM& model, TokenSeqs train, LmTrainOptions opt, CaptionDocs docs)
    : model_(model), train_(std::move(train)), opt_(std::move(opt)), docs_(std::move(docs)) {
  RS_CHECK(!train_.empty(), ValueError, "train lm", "no training captions");
  RS_CHECK(opt_.batch >= 1 && opt_.steps >= 0, ValueError, "train lm", "batch must be >= 1 and steps >= 0 (got ",
           opt_.batch, ", ", opt_.steps, ")");

  RS_CHECK(opt_.adamw.lr > 0 && std::isfinite(opt_.adamw.lr), ValueError, "train lm", "lr must be positive");
  RS_CHECK(opt_.warmup_steps >= 0, ValueError, "train lm", "warmup must be >= 0");
  RS_CHECK(opt_.captions_per_row >= 1, ValueError, "train lm", "captions per row must be >= 1, got ",
           opt_.captions_per_row);
  if (docs_.empty())
    for (size_t i = 0; i < train_.size(); ++i) docs_.push_back({int64_t(i)});
  doc_of_.assign(train_.size(), -1);
  for (size_t d = 0; d < docs_.size(); ++d)
    for (int64_t c : docs_[d]) {
      RS_CHECK(c >= 0 && size_t(c) < train_.size() && doc_of_[size_t(c)] < 0, ValueError, "train lm",
               "caption ", c, " of image ", d, " is out of range or listed twice");
      doc_of_[size_t(c)] = int64_t(d);
    }
  RS_CHECK(std::find(doc_of_.begin(), doc_of_.end(), -1) == doc_of_.end(), ValueError, "train lm",
           "a caption belongs to no image");
  schedule_.kind = nn::Schedule::Kind::cosine;
  schedule_.warmup_steps = opt_.warmup_steps;
  schedule_.total_steps = opt_.steps;
  schedule_.min_factor = opt_.min_lr_factor;
  // The pad id only fills input positions no real token attends to; EOS is always in range.
  pad_id_ = model_.config().eos_token_ids.at(0);
  model_.unfreeze();
  model_.train(true);
  auto groups = decay_param_groups(model_, opt_.adamw);
  for (const auto& g : groups)
    for (const auto& [name, t] : g.params) params_.push_back(t);
  adamw_ = std::make_unique<nn::AdamW>(std::move(groups));
}

std::vector<int64_t> LmTrainer::rows_for(int64_t step) const {
  const int64_t N = int64_t(train_.size());
  std::vector<int64_t> rows;
  int64_t cached_epoch = -1;
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < opt_.batch; ++i) {
    const int64_t g = step * opt_.batch + i;
    const int64_t epoch = g / N;
    if (epoch != cached_epoch) {
      perm = data::epoch_permutation(N, opt_.seed, epoch);
      cached_epoch = epoch;
    }
    rows.push_back(perm[size_t(g % N)]);
  }
  return rows;
}

LmStepStats LmTrainer::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  model_.train(true);
  adamw_->zero_grad();
  LmStepStats s;
  const TokenSeqs rows = training_rows(train_, docs_, doc_of_, rows_for(step_), opt_.captions_per_row,
                                       opt_.append_bos, int32_t(model_.config().bos_token_id),
                                       opt_.seed * 1000003u + uint64_t(step_));
  std::vector<int64_t> all(rows.size());
  std::iota(all.begin(), all.end(), 0);
  const LmBatch b = make_lm_batch(rows, all, pad_id_);
  models::LlamaInput in;
  in.input_ids = b.input_ids;
  const Tensor logits = model_.forward(in).logits;              // [B, T, V]
  const Tensor loss = nn::causal_lm_loss(logits, b.labels);    // 0-d
  s.loss = loss.item();
  s.tokens = b.targets;
  s.lr = opt_.adamw.lr * schedule_.factor(step_);
  if (!std::isfinite(s.loss)) {
    s.skipped = true;  // no backward: a NaN loss must never reach the weights
  } else {
    autograd::backward(loss);
    s.grad_norm = opt_.clip_grad_norm > 0 ? nn::clip_grad_norm(params_, opt_.clip_grad_norm) : nn::grad_norm(params_);
    if (!std::isfinite(s.grad_norm))
      s.skipped = true;
    else
      adamw_->step(schedule_.factor(step_));
  }
  adamw_->zero_grad();  // frees the gradient buffers between steps
  bad_in_a_row_ = s.skipped ? bad_in_a_row_ + 1 : 0;
  RS_CHECK(bad_in_a_row_ < opt_.max_bad_steps, ValueError, "train lm", "the loss or the gradients were not finite ",
           "for ", bad_in_a_row_, " steps in a row (last loss ", s.loss, " at step ", step_ + 1,
           "): training diverged; lower --lr or raise --warmup");
  ++step_;
  s.step = step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

LmValidation LmTrainer::validate(const TokenSeqs& val) {
  autograd::NoGradGuard no_grad;
  model_.eval();
  LmValidation v;
  double sum = 0;
  for (size_t i0 = 0; i0 < val.size(); i0 += size_t(opt_.eval_batch)) {
    std::vector<int64_t> rows;
    for (size_t i = i0; i < std::min(val.size(), i0 + size_t(opt_.eval_batch)); ++i) rows.push_back(int64_t(i));
    const LmBatch b = make_lm_batch(val, rows, pad_id_);
    if (b.targets == 0) continue;
    models::LlamaInput in;
    in.input_ids = b.input_ids;
    const Tensor loss = nn::causal_lm_loss(model_.forward(in).logits, b.labels);  // mean over b.targets
    sum += loss.item() * double(b.targets);
    v.targets += b.targets;
  }
  model_.train(true);
  RS_CHECK(v.targets > 0, ValueError, "train lm", "the validation set has no tokens to predict");
  v.loss = sum / double(v.targets);
  v.perplexity = std::exp(v.loss);
  return v;
}

void LmTrainer::save_checkpoint(const fs::path& path) const {
  save_train_checkpoint(path, model_, *adamw_, step_, {{"kind", "lm"}, {"seed", std::to_string(opt_.seed)}});
}

void LmTrainer::resume(const fs::path& path) { step_ = load_train_checkpoint(path, model_, *adamw_, "lm", opt_.seed); }

void LmTrainer::save_all() const {
  if (opt_.out_dir.empty()) return;
  save_checkpoint(opt_.out_dir / "checkpoint.safetensors");
  models::save_pretrained(opt_.out_dir, model_, opt_.save_dtype, {{"step", std::to_string(step_)}});
}

std::optional<LmValidation> LmTrainer::fit(const TokenSeqs* val) {
  std::optional<LmValidation> last;
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step_;
  int64_t tokens = 0;
  while (step_ < opt_.steps) {
    const LmStepStats s = train_step();
    tokens += s.tokens;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!s.skipped) smoothed_ = smoothed_ < 0 ? s.loss : 0.95 * smoothed_ + 0.05 * s.loss;
    if (opt_.progress) {
      char text[160];
      std::snprintf(text, sizeof text, "loss %.4f lr %.2e %.0f tok/s%s", smoothed_, s.lr, double(tokens) / elapsed,
                    s.skipped ? " (skipped: non-finite)" : "");
      print_progress(step_, opt_.steps, elapsed, step_ - first, text);
    }
    const bool eval_now =
        val && !val->empty() && ((opt_.eval_every > 0 && step_ % opt_.eval_every == 0) || step_ == opt_.steps);
    if (eval_now) {
      last = validate(*val);
      if (opt_.progress)
        std::fprintf(stderr, "\nvalidation @%lld: loss %.4f perplexity %.3f (%lld tokens)\n", (long long)step_,
                     last->loss, last->perplexity, (long long)last->targets);
    }
    if (!opt_.out_dir.empty()) {
      char row[256];
      std::snprintf(row, sizeof row, "%lld,%.6g,%.6g,%.6g,%.4f,%lld,%d,", (long long)s.step, s.loss, s.grad_norm, s.lr,
                    s.seconds, (long long)s.tokens, int(s.skipped));
      std::string r = row;
      if (eval_now) {
        std::snprintf(row, sizeof row, "%.6g,%.6g", last->loss, last->perplexity);
        r += row;
      } else {
        r += ",";
      }
      append_csv(opt_.out_dir / "log.csv", "step,loss,grad_norm,lr,seconds,tokens,skipped,val_loss,val_ppl", r);
      if ((opt_.save_every > 0 && step_ % opt_.save_every == 0) || step_ == opt_.steps) save_all();
    }
  }
  if (opt_.progress && step_ > first) std::fprintf(stderr, "\n");
  return last;
}

std::vector<std::string> lm_greedy_samples(const models::LlamaForCausalLM& model, const tokenizers::LlamaTokenizer& tok,
                                           const TokenSeqs& prompts, int64_t max_new) {
  if (prompts.empty()) return {};
  autograd::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> p;
  for (const auto& s : prompts) p.emplace_back(s.begin(), s.end());
  models::GenerateOptions g;
  g.max_new_tokens = max_new;
  g.stop_tokens = {tok.eos_id()};
  const models::GenerateResult r = models::generate_batch(model, p, g, /*pad_id=*/0);
  std::vector<std::string> out;
  for (size_t i = 0; i < p.size(); ++i) {
    std::vector<int32_t> all(prompts[i].begin(), prompts[i].end());
    for (int64_t t : r.tokens[i]) all.push_back(int32_t(t));
    out.push_back(tok.decode(all, /*skip_special=*/true));
  }
  return out;
}

}  // namespace rscapret::train
