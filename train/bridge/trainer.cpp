#include "train/bridge/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "eval/bleu.h"
#include "eval/ptb_tokenizer.h"
#include "eval/retrieval.h"
#include "nn/losses.h"
#include "nn/optim/clip.h"
#include "tensor/rng.h"

namespace rscapret::train {
namespace fs = std::filesystem;
using models::RsCapRet;

// ---- data ----

namespace {

// Fisher-Yates with a 64-bit Mersenne Twister: the same (seed, epoch) gives the same order on every
// platform (std::shuffle's algorithm is implementation-defined, so it is not used).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = int64_t(rng() % uint64_t(i + 1));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

}  // namespace

BridgeBatchFn shuffled_batches(InMemoryPairs pairs, int64_t batch_size, int64_t grad_accum, uint64_t seed,
                               bool shuffle) {
  const int64_t N = pairs.pixels.shape()[0];
  RS_CHECK(N == int64_t(pairs.captions.size()) && N > 0, ValueError, "train bridge", "pixels hold ", N,
           " images but there are ", pairs.captions.size(), " captions");
  RS_CHECK(batch_size >= 1 && grad_accum >= 1, ValueError, "train bridge", "batch size and grad_accum must be >= 1");
  return [pairs = std::move(pairs), N, batch_size, grad_accum, seed, shuffle](int64_t step, int64_t micro) {
    BridgeBatch b;
    std::vector<int64_t> idx;
    int64_t cached_epoch = -1;
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < batch_size; ++i) {
      const int64_t g = (step * grad_accum + micro) * batch_size + i;
      const int64_t epoch = g / N;
      if (epoch != cached_epoch) {
        perm = shuffle ? permutation(N, seed, epoch) : permutation(N, 0, -1);
        if (!shuffle) std::sort(perm.begin(), perm.end());
        cached_epoch = epoch;
      }
      const int64_t j = perm[size_t(g % N)];
      idx.push_back(j);
      b.captions.push_back(pairs.captions[size_t(j)]);
    }
    b.pixels = ops::index_select(pairs.pixels, 0, Tensor::from_vector(idx, {batch_size}));
    return b;
  };
}

// ---- trainer ----

BridgeTrainer::BridgeTrainer(models::RsCapRetBundle& bundle, BridgeTrainOptions opt)
    : bundle_(bundle), opt_(std::move(opt)) {
  RS_CHECK(bundle_.model && bundle_.tokenizer, ValueError, "train bridge", "the bundle has no model or tokenizer");
  RS_CHECK(opt_.grad_accum >= 1 && opt_.steps >= 0, ValueError, "train bridge", "grad_accum must be >= 1");
  schedule_.kind = nn::Schedule::Kind::constant;  // FROMAGe's StepLR never fires within its run
  schedule_.warmup_steps = opt_.warmup_steps;
  nn::ParamGroup g;
  g.options = opt_.adamw;
  for (const auto& [name, t] : bundle_.model->named_parameters())
    if (t.requires_grad()) {
      g.params.emplace_back(name, t);
      params_.push_back(t);
    }
  adamw_ = std::make_unique<nn::AdamW>(std::vector<nn::ParamGroup>{g});
}

bool BridgeTrainer::concat_for(int64_t step, int64_t micro) const {
  const double p = bundle_.model->options().concat_captions_prob;
  if (p <= 0.0) return false;
  Generator gen(opt_.seed ^ 0xC0C0A7ull);
  gen.set_offset(uint64_t(step * opt_.grad_accum + micro) * 4);  // one Philox block per draw
  return gen.uniform({1}, 0.0, 1.0, DType::f64).item() < p;
}

StepStats BridgeTrainer::train_step(const BridgeBatchFn& batches) {
  const auto t0 = std::chrono::steady_clock::now();
  RsCapRet& model = *bundle_.model;
  model.train(true);  // the backbones stay in eval (frozen, no dropout anyway)
  adamw_->zero_grad();
  StepStats s;
  const double inv = 1.0 / double(opt_.grad_accum);
  for (int64_t m = 0; m < opt_.grad_accum; ++m) {
    const BridgeBatch b = batches(step_, m);
    RS_CHECK(b.pixels.dim() == 4 && b.pixels.shape()[0] == int64_t(b.captions.size()), ShapeError,
             "train bridge", "a batch needs pixels [B, 3, S, S] and B captions, got ",
             format_shape(b.pixels.shape()), " and ", b.captions.size());
    const Tensor pooled = model.encode_images(b.pixels);  // [B, Cv]
    const models::CaptionTokens tok = models::tokenize_captions(
        *bundle_.tokenizer, b.captions, model.options().max_len, model.ret_id(), model.options().pad_id);
    const models::RsCapRetLosses l = model.losses(pooled, tok, concat_for(step_, m));
    autograd::backward(opt_.grad_accum == 1 ? l.total : ops::mul(l.total, inv));
    s.loss += l.total.item() * inv;
    if (l.caption.defined()) s.caption += l.caption.item() * inv;
    if (l.ret_lm.defined()) s.ret_lm += l.ret_lm.item() * inv;
    if (l.contrastive.defined()) s.contrastive += l.contrastive.item() * inv;
    s.images += int64_t(b.captions.size());
  }
  s.grad_norm = opt_.clip_grad_norm > 0 ? nn::clip_grad_norm(params_, opt_.clip_grad_norm) : nn::grad_norm(params_);
  const double factor = schedule_.factor(step_);
  s.lr = opt_.adamw.lr * factor;
  if (!std::isfinite(s.grad_norm)) {
    s.skipped = true;  // never let one bad batch poison the weights
  } else {
    adamw_->step(factor);
    model.renormalize_ret_embedding();
  }
  ++step_;
  s.step = step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

ValidationResult BridgeTrainer::validate(const ValidationSet& val) {
  autograd::NoGradGuard no_grad;
  RsCapRet& model = *bundle_.model;
  model.eval();
  const int64_t N = val.pixels.shape()[0];
  RS_CHECK(N == int64_t(val.references.size()) && N > 0, ValueError, "validate", "pixels hold ", N,
           " images but there are ", val.references.size(), " reference lists");
  ValidationResult r;
  std::vector<float> img, txt;
  const int64_t Q = model.options().retrieval_dim;
  eval::CaptionCorpus corpus;
  for (int64_t i0 = 0; i0 < N; i0 += opt_.eval_batch) {
    const int64_t n = std::min(opt_.eval_batch, N - i0);
    const Tensor pooled = model.encode_images(val.pixels.narrow(0, i0, n));
    const auto iv = nn::l2_normalize(model.image_embeddings(pooled)).to_vector<float>();
    img.insert(img.end(), iv.begin(), iv.end());
    std::vector<std::string> queries;
    for (int64_t i = i0; i < i0 + n; ++i) queries.push_back(val.references[size_t(i)].at(0));
    const auto tok = models::tokenize_captions(*bundle_.tokenizer, queries, model.options().max_len, model.ret_id(),
                                               model.options().pad_id);
    const auto tv = nn::l2_normalize(model.text_embeddings(tok)).to_vector<float>();
    txt.insert(txt.end(), tv.begin(), tv.end());
    const int64_t want = std::min<int64_t>(opt_.bleu_images, N) - i0;
    if (want > 0) {
      models::GenerateOptions g;
      g.max_new_tokens = opt_.caption_max_new_tokens;
      g.stop_tokens = {bundle_.tokenizer->eos_id()};
      const auto caps = model.caption(pooled.narrow(0, 0, std::min(want, n)), *bundle_.tokenizer, g);
      for (size_t c = 0; c < caps.size(); ++c) {
        r.captions.push_back(caps[c]);
        corpus.candidates.push_back(eval::ptb_tokenize(caps[c]));
        std::vector<std::string> refs;
        for (const auto& ref : val.references[size_t(i0) + c]) refs.push_back(eval::ptb_tokenize(ref));
        corpus.references.push_back(refs);
      }
    }
  }
  const eval::RetrievalResult ret = eval::retrieval_from_embeddings(txt, img, size_t(Q), 1);
  r.t2i_r1 = ret.t2i.r1;
  r.t2i_r5 = ret.t2i.r5;
  r.i2t_r1 = ret.i2t.r1;
  r.bleu_images = int64_t(corpus.size());
  if (corpus.size() > 0) r.bleu4 = eval::bleu_score(corpus).bleu[3].corpus;
  model.train(true);
  return r;
}

void BridgeTrainer::save(const fs::path& path) const {
  std::vector<std::pair<std::string, Tensor>> extra;
  for (const auto& [name, t] : adamw_->state()) extra.emplace_back("optim." + name, t);
  std::map<std::string, std::string> meta{{"step", std::to_string(step_)}, {"seed", std::to_string(opt_.seed)}};
  models::save_bridge_weights(path, *bundle_.model, extra, meta);
}

void BridgeTrainer::resume(const fs::path& path) {
  std::map<std::string, std::string> meta;
  const auto all = models::load_bridge_weights(path, *bundle_.model, &meta);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : all)
    if (name.rfind("optim.", 0) == 0) state[name.substr(6)] = t;
  RS_CHECK(!state.empty(), FormatError, "train bridge", path.string(), " has no optimizer state (optim.*)");
  adamw_->load_state(state);
  RS_CHECK(meta.count("step"), FormatError, "train bridge", path.string(), ": no step in the metadata");
  step_ = std::stoll(meta.at("step"));
}

void BridgeTrainer::log_csv(const StepStats& s, const ValidationResult* v) {
  if (opt_.out_dir.empty()) return;
  fs::create_directories(opt_.out_dir);
  const fs::path p = opt_.out_dir / "log.csv";
  const bool fresh = !fs::exists(p);
  std::ofstream f(p, std::ios::app);
  if (fresh)
    f << "step,loss,caption,ret_lm,contrastive,grad_norm,lr,seconds,images,skipped,val_t2i_r1,val_i2t_r1,val_bleu4\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4f,%lld,%d,", (long long)s.step, s.loss,
                s.caption, s.ret_lm, s.contrastive, s.grad_norm, s.lr, s.seconds, (long long)s.images, int(s.skipped));
  f << buf;
  if (v) {
    std::snprintf(buf, sizeof buf, "%.6g,%.6g,%.6g", v->t2i_r1, v->i2t_r1, v->bleu4);
    f << buf;
  } else {
    f << ",,";
  }
  f << "\n";
}

void BridgeTrainer::progress(const StepStats& s, double elapsed, int64_t steps_this_run) {
  if (!opt_.progress) return;
  smoothed_loss_ = smoothed_loss_ < 0 ? s.loss : 0.9 * smoothed_loss_ + 0.1 * s.loss;
  const double per_step = elapsed / double(std::max<int64_t>(steps_this_run, 1));
  const double eta = per_step * double(opt_.steps - step_);
  const double frac = opt_.steps > 0 ? double(step_) / double(opt_.steps) : 1.0;
  constexpr int kWidth = 24;
  const int filled = int(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r[%s] %lld/%lld loss %.4f (cap %.3f lm %.3f nce %.3f) %.1f img/s ETA %02d:%02d:%02d%s",
               bar.c_str(), (long long)step_, (long long)opt_.steps, smoothed_loss_, s.caption, s.ret_lm,
               s.contrastive, double(s.images) / std::max(s.seconds, 1e-9), int(eta / 3600), int(eta / 60) % 60,
               int(eta) % 60, s.skipped ? " (skipped: non-finite grads)" : "");
  std::fflush(stderr);
}

std::optional<ValidationResult> BridgeTrainer::fit(const BridgeBatchFn& batches, const ValidationSet* val) {
  std::optional<ValidationResult> last;
  const fs::path ckpt = opt_.out_dir.empty() ? fs::path() : opt_.out_dir / "bridge.safetensors";
  if (!opt_.out_dir.empty()) {
    models::RsCapRetSpec spec = bundle_.spec;
    spec.options = bundle_.model->options();
    models::write_rscapret_spec(opt_.out_dir, spec);
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step_;
  while (step_ < opt_.steps) {
    const StepStats s = train_step(batches);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress(s, elapsed, step_ - first);
    const bool eval_now = val && ((opt_.eval_every > 0 && step_ % opt_.eval_every == 0) || step_ == opt_.steps);
    if (eval_now) {
      last = validate(*val);
      if (opt_.progress)
        std::fprintf(stderr, "\nvalidation @%lld: t2i R@1 %.4f  i2t R@1 %.4f  BLEU-4 %.4f (%lld images)\n",
                     (long long)step_, last->t2i_r1, last->i2t_r1, last->bleu4, (long long)last->bleu_images);
    }
    log_csv(s, eval_now ? &*last : nullptr);
    if (!ckpt.empty() && ((opt_.save_every > 0 && step_ % opt_.save_every == 0) || step_ == opt_.steps)) save(ckpt);
  }
  if (opt_.progress && step_ > first) std::fprintf(stderr, "\n");
  return last;
}

}  // namespace rscapret::train
