#include "train/clip/clip_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "eval/retrieval.h"
#include "models/checkpoint/save_pretrained.h"
#include "nn/losses.h"
#include "nn/optim/clip.h"
#include "train/data/loader.h"
#include "train/lm/pretrain_common.h"

namespace rscapret::train {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// splitmix64: a well-mixed 64-bit hash for per-(seed, step, row) choices.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// CLIP's cap on the inverse temperature: exp(logit_scale) <= 100.
const double kMaxLogitScale = std::log(100.0);

}  // namespace

models::ClipConfig make_clip_config(const ClipModelOptions& o, const tokenizers::ClipTokenizer& tok) {
  RS_CHECK(o.image_size > 0 && o.patch > 0 && o.image_size % o.patch == 0, ValueError, "train clip", "image size ",
           o.image_size, " must be a positive multiple of the patch size ", o.patch);
  RS_CHECK(o.heads > 0 && o.vision_width % o.heads == 0 && o.text_width % o.heads == 0, ValueError, "train clip",
           "vision width ", o.vision_width, " and text width ", o.text_width, " must be multiples of heads ", o.heads);
  RS_CHECK(o.vision_layers > 0 && o.text_layers > 0 && o.projection_dim > 0 && o.max_text_len >= 2, ValueError,
           "train clip", "layers, projection dim and max text length must be positive");
  models::ClipConfig c;
  c.projection_dim = o.projection_dim;
  c.logit_scale_init_value = nn::clip_logit_scale_init();
  c.vision.hidden_size = o.vision_width;
  c.vision.intermediate_size = 4 * o.vision_width;
  c.vision.num_hidden_layers = o.vision_layers;
  c.vision.num_attention_heads = o.heads;
  c.vision.image_size = o.image_size;
  c.vision.patch_size = o.patch;
  c.text.vocab_size = tok.vocab_size();
  c.text.hidden_size = o.text_width;
  c.text.intermediate_size = 4 * o.text_width;
  c.text.num_hidden_layers = o.text_layers;
  c.text.num_attention_heads = o.heads;
  c.text.max_position_embeddings = o.max_text_len;
  c.text.bos_token_id = tok.start_id();
  c.text.eos_token_id = tok.end_id();
  c.text.pad_token_id = tok.end_id();  // what HF's CLIPTokenizer pads with
  // eos_token_id == 2 would select the legacy argmax pooling; a tokenizer whose end id is 2 cannot
  // be told apart, so it is refused.
  RS_CHECK(tok.end_id() != 2, ValueError, "train clip", "the tokenizer's <|endoftext|> id is 2, which CLIP configs "
           "reserve for the legacy pooling rule");
  return c;
}

void hf_init_clip(models::ClipModel& model, Generator& gen) {
  const models::ClipConfig& c = model.config();
  reinit_normal(model, gen, [&](const std::string& name, const Shape& shape) -> double {
    const bool vision = name.rfind("vision_model.", 0) == 0;
    const double C = double(vision ? c.vision.hidden_size : c.text.hidden_size);
    const double L = double(vision ? c.vision.num_hidden_layers : c.text.num_hidden_layers);
    const double in_proj = std::pow(C, -0.5) * std::pow(2.0 * L, -0.5);
    if (name == "logit_scale") return -1.0;                              // its Fill: the init value
    if (ends_with(name, "layer_norm1.weight") || ends_with(name, "layer_norm2.weight") ||
        ends_with(name, "layrnorm.weight") || ends_with(name, "layernorm.weight") ||
        ends_with(name, "final_layer_norm.weight"))
      return -1.0;                                                       // LayerNorm gains: 1
    if (ends_with(name, ".bias")) return 0.0;
    if (ends_with(name, "class_embedding")) return std::pow(C, -0.5);
    if (ends_with(name, "q_proj.weight") || ends_with(name, "k_proj.weight") || ends_with(name, "v_proj.weight") ||
        ends_with(name, "fc2.weight"))
      return in_proj;
    if (ends_with(name, "out_proj.weight")) return std::pow(C, -0.5);
    if (ends_with(name, "fc1.weight")) return std::pow(2.0 * C, -0.5);
    if (name == "visual_projection.weight") return std::pow(double(c.vision.hidden_size), -0.5);
    if (name == "text_projection.weight") return std::pow(double(c.text.hidden_size), -0.5);
    (void)shape;
    return 0.02;  // token/position/patch embeddings (initializer_range)
  });
}

void check_clip_tokenizer(const models::ClipConfig& c, const tokenizers::ClipTokenizer& tok) {
  RS_CHECK(c.has_text && c.has_vision && c.has_text_projection && c.has_visual_projection && c.has_logit_scale,
           ValueError, "train clip", "contrastive training needs a full CLIPModel (both towers, both projections)");
  RS_CHECK(tok.vocab_size() <= c.text.vocab_size, ValueError, "train clip", "the tokenizer has ", tok.vocab_size(),
           " tokens but the text tower only ", c.text.vocab_size);
  if (c.text.eos_token_id == 2) {
    // Legacy pooling takes the largest id: it must be <|endoftext|>.
    RS_CHECK(tok.end_id() == tok.vocab_size() - 1, ValueError, "train clip", "the config pools at the largest id "
             "(eos_token_id 2), but the tokenizer's <|endoftext|> is ", tok.end_id(), ", not its last id");
  } else {
    RS_CHECK(c.text.eos_token_id == tok.end_id(), ValueError, "train clip", "the config's text eos_token_id is ",
             c.text.eos_token_id, " but the tokenizer's <|endoftext|> is ", tok.end_id(),
             ": pooling would not find the end of the caption");
  }
}

ClipTextBatch tokenize_clip_batch(const tokenizers::ClipTokenizer& tok, const std::vector<std::string>& captions,
                                  int64_t max_len) {
  RS_CHECK(!captions.empty(), ValueError, "train clip", "no captions to tokenize");
  std::vector<std::vector<int32_t>> seqs;
  size_t T = 0;
  for (const auto& c : captions) {
    std::vector<int32_t> ids = tok.encode(c);  // start ... end
    if (int64_t(ids.size()) > max_len) {
      ids.resize(size_t(max_len));
      ids.back() = tok.end_id();  // HF truncates the words, never the end token
    }
    T = std::max(T, ids.size());
    seqs.push_back(std::move(ids));
  }
  const int64_t B = int64_t(captions.size());
  std::vector<int64_t> ids(size_t(B) * T, tok.end_id()), mask(size_t(B) * T, 0);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < seqs[size_t(b)].size(); ++t) {
      ids[size_t(b) * T + t] = seqs[size_t(b)][t];
      mask[size_t(b) * T + t] = 1;
    }
  return {Tensor::from_vector(ids, {B, int64_t(T)}), Tensor::from_vector(mask, {B, int64_t(T)})};
}

ImageCaptionSet load_image_captions(const data::CaptionDataset& ds, int image_size, int64_t max_images, int threads,
                                    bool quiet) {
  ImageCaptionSet out;
  if (ds.empty()) return out;
  std::vector<size_t> keep;
  for (size_t i = 0; i < ds.size() && (max_images <= 0 || int64_t(i) < max_images); ++i) keep.push_back(i);
  const data::CaptionDataset sub = ds.subset(keep);
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = false;
  lo.num_threads = std::max(1, threads);
  lo.preprocess.size = image_size;
  // The first few failures are named; a wrong image root would otherwise print one line per image.
  auto reported = std::make_shared<int64_t>(0);
  lo.on_skip = [quiet, reported](const std::string& path, const std::string& reason) {
    if (!quiet && (*reported)++ < 5) std::fprintf(stderr, "skipping %s: %s\n", path.c_str(), reason.c_str());
  };
  data::DataLoader loader(sub, lo);
  loader.start_epoch(0);
  std::vector<Tensor> parts;
  while (auto b = loader.next()) {
    parts.push_back(b->pixels);  // [b, 3, S, S]
    for (int64_t idx : b->indices) out.captions.push_back(sub[size_t(idx)].captions);
  }
  out.skipped = loader.skipped_count();
  if (!quiet && out.skipped > 5)
    std::fprintf(stderr, "... %lld unreadable images in all (of %zu)\n", (long long)out.skipped, sub.size());
  if (!parts.empty()) out.pixels = parts.size() == 1 ? parts[0] : ops::concat(parts, 0);  // [N, 3, S, S]
  return out;
}

void dihedral_into(const float* src, float* dst, int64_t S, int k) {
  const int turns = k & 3;
  const bool flip = (k & 4) != 0;
  for (int64_t c = 0; c < 3; ++c) {
    const float* s = src + c * S * S;
    float* d = dst + c * S * S;
    for (int64_t y = 0; y < S; ++y)
      for (int64_t x = 0; x < S; ++x) {
        const int64_t xx = flip ? S - 1 - x : x;  // output (y, xx) after the flip reads rotated (y, x)
        int64_t sy = y, sx = x;                   // source pixel of rotated position (y, x)
        switch (turns) {
          case 1: sy = S - 1 - x; sx = y; break;          // 90 degrees counter-clockwise
          case 2: sy = S - 1 - y; sx = S - 1 - x; break;  // 180
          case 3: sy = x; sx = S - 1 - y; break;          // 270
          default: break;
        }
        d[y * S + xx] = s[sy * S + sx];
      }
  }
}

ClipTrainer::ClipTrainer(models::ClipModel& model, const tokenizers::ClipTokenizer& tok, ImageCaptionSet train,
                         ClipTrainOptions opt)
    : model_(model), tok_(tok), train_(std::move(train)), opt_(std::move(opt)) {
  check_clip_tokenizer(model_.config(), tok_);
  RS_CHECK(train_.size() >= 2 && train_.pixels.defined(), ValueError, "train clip",
           "contrastive training needs at least 2 readable training images, got ", train_.size());
  RS_CHECK(opt_.batch >= 2 && opt_.steps >= 0, ValueError, "train clip",
           "batch must be >= 2 (InfoNCE needs negatives) and steps >= 0, got ", opt_.batch, " and ", opt_.steps);
  RS_CHECK(opt_.adamw.lr > 0 && std::isfinite(opt_.adamw.lr), ValueError, "train clip", "lr must be positive");
  RS_CHECK(opt_.warmup_steps >= 0, ValueError, "train clip", "warmup must be >= 0");
  const int64_t S = model_.config().vision.image_size;
  RS_CHECK(train_.pixels.dim() == 4 && train_.pixels.shape()[2] == S && train_.pixels.shape()[3] == S, ShapeError,
           "train clip", "images are ", format_shape(train_.pixels.shape()), " but the model takes ", S, " px");
  schedule_.kind = nn::Schedule::Kind::cosine;
  schedule_.warmup_steps = opt_.warmup_steps;
  schedule_.total_steps = opt_.steps;
  schedule_.min_factor = opt_.min_lr_factor;
  model_.unfreeze();
  model_.train(true);
  auto groups = decay_param_groups(model_, opt_.adamw);
  for (const auto& g : groups)
    for (const auto& [name, t] : g.params) params_.push_back(t);
  adamw_ = std::make_unique<nn::AdamW>(std::move(groups));
}

std::string distinct_caption(const std::vector<std::string>& caps, size_t first,
                             const std::vector<std::string>& taken) {
  for (size_t k = 0; k < caps.size(); ++k) {
    const std::string& c = caps[(first + k) % caps.size()];
    if (std::find(taken.begin(), taken.end(), c) == taken.end()) return c;
  }
  return caps[first];
}

ClipBatch ClipTrainer::batch_for(int64_t step) const {
  const int64_t N = train_.size(), B = opt_.batch;
  const int64_t S = train_.pixels.shape()[2];
  ClipBatch b;
  std::vector<int64_t> rows;
  int64_t cached_epoch = -1;
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t g = step * B + i;
    const int64_t epoch = g / N;
    if (epoch != cached_epoch) {
      perm = data::epoch_permutation(N, opt_.seed, epoch);
      cached_epoch = epoch;
    }
    const int64_t img = perm[size_t(g % N)];
    rows.push_back(img);
    const auto& caps = train_.captions[size_t(img)];
    b.captions.push_back(distinct_caption(caps, data::choose_caption(caps.size(), opt_.seed, epoch, img), b.captions));
  }
  b.pixels = ops::index_select(train_.pixels, 0, Tensor::from_vector(rows, {B})).contiguous();  // [B, 3, S, S]
  if (opt_.augment) {
    Tensor aug = Tensor::empty(b.pixels.shape(), DType::f32);
    const float* src = b.pixels.data<float>();
    float* dst = aug.data<float>();
    for (int64_t i = 0; i < B; ++i) {
      const int k = int(mix64(mix64(opt_.seed ^ 0xA06ull) ^ uint64_t(step * B + i)) & 7);
      dihedral_into(src + i * 3 * S * S, dst + i * 3 * S * S, S, k);
    }
    b.pixels = aug;
  }
  return b;
}

ClipStepStats ClipTrainer::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  model_.train(true);
  adamw_->zero_grad();
  ClipStepStats s;
  const ClipBatch b = batch_for(step_);
  const ClipTextBatch t = tokenize_clip_batch(tok_, b.captions, model_.config().text.max_position_embeddings);
  const Tensor img = model_.encode_image(b.pixels).image_embeds;                    // [B, E]
  const Tensor txt = model_.encode_text(t.input_ids, t.attention_mask).text_embeds;  // [B, E]
  const nn::InfoNCE l = nn::info_nce(img, txt, model_.logit_scale);
  s.loss = l.loss.item();
  s.images = opt_.batch;
  s.lr = opt_.adamw.lr * schedule_.factor(step_);
  s.temperature_inv = std::exp(model_.logit_scale.item());
  {
    const int64_t B = opt_.batch;
    const auto logits = l.logits.contiguous().to_vector<float>();  // [B, B]
    int64_t hit = 0;
    for (int64_t i = 0; i < B; ++i) {
      const float* row = logits.data() + i * B;
      if (std::max_element(row, row + B) - row == i) ++hit;
    }
    s.batch_i2t_acc = double(hit) / double(B);
  }
  if (!std::isfinite(s.loss)) {
    s.skipped = true;
  } else {
    autograd::backward(l.loss);
    s.grad_norm = opt_.clip_grad_norm > 0 ? nn::clip_grad_norm(params_, opt_.clip_grad_norm) : nn::grad_norm(params_);
    if (!std::isfinite(s.grad_norm)) {
      s.skipped = true;
    } else {
      adamw_->step(schedule_.factor(step_));
      const double ls = model_.logit_scale.item();
      if (ls > kMaxLogitScale || ls < 0.0) {
        Tensor slot = model_.logit_scale;
        slot.copy_from(Tensor::scalar(std::clamp(ls, 0.0, kMaxLogitScale), slot.dtype()));
      }
    }
  }
  adamw_->zero_grad();
  bad_in_a_row_ = s.skipped ? bad_in_a_row_ + 1 : 0;
  RS_CHECK(bad_in_a_row_ < opt_.max_bad_steps, ValueError, "train clip", "the loss or the gradients were not finite ",
           "for ", bad_in_a_row_, " steps in a row (last loss ", s.loss, " at step ", step_ + 1,
           "): training diverged; lower --lr or raise --warmup");
  ++step_;
  s.step = step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

std::vector<float> clip_image_embeddings(const models::ClipModel& m, const Tensor& pixels, int64_t batch) {
  autograd::NoGradGuard no_grad;
  std::vector<float> out;
  const int64_t N = pixels.shape()[0];
  for (int64_t i0 = 0; i0 < N; i0 += batch) {
    const int64_t n = std::min(batch, N - i0);
    const auto v = nn::l2_normalize(m.encode_image(pixels.narrow(0, i0, n)).image_embeds).to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::vector<float> clip_text_embeddings(const models::ClipModel& m, const tokenizers::ClipTokenizer& tok,
                                        const std::vector<std::string>& texts, int64_t batch) {
  autograd::NoGradGuard no_grad;
  std::vector<float> out;
  for (size_t i0 = 0; i0 < texts.size(); i0 += size_t(batch)) {
    const std::vector<std::string> part(texts.begin() + ptrdiff_t(i0),
                                        texts.begin() + ptrdiff_t(std::min(texts.size(), i0 + size_t(batch))));
    const ClipTextBatch t = tokenize_clip_batch(tok, part, m.config().text.max_position_embeddings);
    const auto v = nn::l2_normalize(m.encode_text(t.input_ids, t.attention_mask).text_embeds).to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

ClipValidation ClipTrainer::validate(const ImageCaptionSet& val) {
  RS_CHECK(val.size() > 0 && val.pixels.defined(), ValueError, "train clip", "an empty validation set");
  model_.eval();
  std::vector<std::string> queries;
  for (const auto& caps : val.captions) queries.push_back(caps.at(0));
  const auto img = clip_image_embeddings(model_, val.pixels, opt_.eval_batch);
  const auto txt = clip_text_embeddings(model_, tok_, queries, opt_.eval_batch);
  model_.train(true);
  const eval::RetrievalResult r =
      eval::retrieval_from_embeddings(txt, img, size_t(model_.config().projection_dim), 1);
  ClipValidation v;
  v.t2i_r1 = r.t2i.r1;
  v.t2i_r5 = r.t2i.r5;
  v.i2t_r1 = r.i2t.r1;
  v.i2t_r5 = r.i2t.r5;
  v.images = val.size();
  return v;
}

void ClipTrainer::save_checkpoint(const fs::path& path) const {
  save_train_checkpoint(path, model_, *adamw_, step_, {{"kind", "clip"}, {"seed", std::to_string(opt_.seed)}});
}

void ClipTrainer::resume(const fs::path& path) { step_ = load_train_checkpoint(path, model_, *adamw_, "clip", opt_.seed); }

void ClipTrainer::save_all() const {
  if (opt_.out_dir.empty()) return;
  save_checkpoint(opt_.out_dir / "checkpoint.safetensors");
  models::save_pretrained(opt_.out_dir, model_, opt_.save_dtype, {{"step", std::to_string(step_)}});
}

std::optional<ClipValidation> ClipTrainer::fit(const ImageCaptionSet* val) {
  std::optional<ClipValidation> last;
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step_;
  while (step_ < opt_.steps) {
    const ClipStepStats s = train_step();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!s.skipped) smoothed_ = smoothed_ < 0 ? s.loss : 0.95 * smoothed_ + 0.05 * s.loss;
    if (opt_.progress) {
      char text[160];
      std::snprintf(text, sizeof text, "loss %.4f acc %.2f scale %.1f %.1f img/s%s", smoothed_, s.batch_i2t_acc,
                    s.temperature_inv, double((step_ - first) * opt_.batch) / elapsed,
                    s.skipped ? " (skipped: non-finite)" : "");
      print_progress(step_, opt_.steps, elapsed, step_ - first, text);
    }
    const bool eval_now =
        val && val->size() > 0 && ((opt_.eval_every > 0 && step_ % opt_.eval_every == 0) || step_ == opt_.steps);
    if (eval_now) {
      last = validate(*val);
      if (opt_.progress)
        std::fprintf(stderr, "\nvalidation @%lld (%lld images): t2i R@1 %.4f R@5 %.4f  i2t R@1 %.4f R@5 %.4f\n",
                     (long long)step_, (long long)last->images, last->t2i_r1, last->t2i_r5, last->i2t_r1, last->i2t_r5);
    }
    if (!opt_.out_dir.empty()) {
      char row[256];
      std::snprintf(row, sizeof row, "%lld,%.6g,%.6g,%.6g,%.6g,%.4f,%.4f,%lld,%d,", (long long)s.step, s.loss,
                    s.grad_norm, s.lr, s.temperature_inv, s.batch_i2t_acc, s.seconds, (long long)s.images,
                    int(s.skipped));
      std::string r = row;
      if (eval_now) {
        std::snprintf(row, sizeof row, "%.6g,%.6g,%.6g,%.6g", last->t2i_r1, last->t2i_r5, last->i2t_r1, last->i2t_r5);
        r += row;
      } else {
        r += ",,,";
      }
      append_csv(opt_.out_dir / "log.csv",
                 "step,loss,grad_norm,lr,logit_scale_exp,batch_acc,seconds,images,skipped,val_t2i_r1,val_t2i_r5,"
                 "val_i2t_r1,val_i2t_r5",
                 r);
      if ((opt_.save_every > 0 && step_ % opt_.save_every == 0) || step_ == opt_.steps) save_all();
    }
  }
  if (opt_.progress && step_ > first) std::fprintf(stderr, "\n");
  return last;
}

}  // namespace rscapret::train
