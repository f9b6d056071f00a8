// `rscapret train clip`: contrastive training of both CLIP towers, from scratch (a tiny CLIPModel
// for the synthetic world) or from a Hugging Face checkpoint (the paper's CLIP-Cap-4 step:
// fine-tuning on several caption datasets together).
//
// One step: B images of the train split, each with one of its captions (chosen from (seed, epoch,
// image), moved on to another when a row of the batch already has the same string), optionally a
// random flip/90-degree rotation of each image (aerial scenes have no "up"; chosen from (seed, step,
// row)); symmetric InfoNCE between image_embeds and text_embeds at the
// model's learnable temperature; AdamW with weight decay on matrices only, warmup + cosine, global
// norm clipping; then logit_scale is clamped to [0, ln 100] as CLIP does, so the temperature never
// drops below 0.01. Images are decoded and preprocessed once (threaded loader) and kept in memory.
//
// Determinism: image order = epoch permutations from (seed, epoch) over positions s B .. (s+1) B - 1,
// so every batch is a pure function of (seed, step) and a resumed run continues bit for bit.
//
// Dimensions: N images, B batch, S image side, T longest caption of the batch, E projection dim.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/clip/clip.h"
#include "models/tokenizers/clip_tokenizer.h"
#include "nn/optim/adamw.h"
#include "nn/optim/schedule.h"
#include "tensor/rng.h"
#include "train/data/caption_dataset.h"

namespace rscapret::train {

struct ClipModelOptions {
  int64_t image_size = 64;
  int64_t patch = 8;
  int64_t vision_width = 192;
  int64_t vision_layers = 4;
  int64_t text_width = 128;
  int64_t text_layers = 3;
  int64_t heads = 4;            // both towers
  int64_t projection_dim = 128;
  int64_t max_text_len = 77;    // text max_position_embeddings (CLIP's context length)
};

// A fresh CLIPModel config for `tok`: vocab size, BOS/EOS/pad = <|startoftext|>/<|endoftext|>
// (pooling picks the first <|endoftext|>), MLPs 4 x width, quick_gelu. ValueError on bad sizes.
models::ClipConfig make_clip_config(const ClipModelOptions& o, const tokenizers::ClipTokenizer& tok);
// Hugging Face's CLIP init (initializer_factor 1): embeddings N(0, 0.02), class embedding
// N(0, C^-1/2), attention in-projections N(0, C^-1/2 (2L)^-1/2), out-projection N(0, C^-1/2), fc1
// N(0, (2C)^-1/2), fc2 like the in-projections, projections N(0, C^-1/2), biases 0, LayerNorm (1, 0),
// logit_scale = logit_scale_init_value.
void hf_init_clip(models::ClipModel& model, Generator& gen);
// Checks that `tok` fits the model's text tower: ids in range, and pooling finds <|endoftext|>.
void check_clip_tokenizer(const models::ClipConfig& c, const tokenizers::ClipTokenizer& tok);

struct ClipTextBatch {
  Tensor input_ids;       // i64 [B, T], padded with <|endoftext|> after each caption's own
  Tensor attention_mask;  // i64 [B, T], 0 at padding
};
// Captions -> padded ids ("<|startoftext|> ... <|endoftext|>", cut to max_len keeping the end token).
ClipTextBatch tokenize_clip_batch(const tokenizers::ClipTokenizer& tok, const std::vector<std::string>& captions,
                                  int64_t max_len);

// Images decoded, preprocessed at one size and kept in memory with their captions.
struct ImageCaptionSet {
  Tensor pixels;                                   // f32 [N, 3, S, S]
  std::vector<std::vector<std::string>> captions;  // N, each non-empty
  int64_t skipped = 0;                             // images that failed to load (reported, not fatal)
  int64_t size() const { return int64_t(captions.size()); }
};
// The first max_images images of ds (all when <= 0) through data::DataLoader (threaded, in order).
ImageCaptionSet load_image_captions(const data::CaptionDataset& ds, int image_size, int64_t max_images = 0,
                                    int threads = 2, bool quiet = false);

// Dihedral transform k (0..7) of one [3, S, S] image: k & 3 quarter turns, then a horizontal flip
// when k & 4. Exposed for tests.
void dihedral_into(const float* src, float* dst, int64_t S, int k);

// The caption of one batch row: caps[first], or when another row of the batch already has that
// exact string, the next of the image's captions (cyclically) that none has; caps[first] if all are
// taken. InfoNCE treats every other row as a negative, so two images with the same caption in one
// batch would be pushed apart for saying the same thing (generic captions such as "it is a piece of
// bare land" are shared by many images).
std::string distinct_caption(const std::vector<std::string>& caps, size_t first,
                             const std::vector<std::string>& taken);

struct ClipTrainOptions {
  int64_t steps = 600;
  int64_t batch = 64;
  nn::AdamWOptions adamw{5e-4, 0.9, 0.98, 1e-6, 0.1};  // CLIP's betas; decay on matrices only
  int64_t warmup_steps = 50;
  double min_lr_factor = 0.0;
  double clip_grad_norm = 1.0;  // <= 0: none
  uint64_t seed = 0;
  bool augment = false;         // random flips / quarter turns
  int64_t eval_every = 0;       // 0: at the end
  int64_t eval_batch = 128;
  int64_t save_every = 0;       // 0: at the end
  int64_t max_bad_steps = 10;
  std::filesystem::path out_dir;  // checkpoint.safetensors, log.csv, HF folder (empty: nothing)
  DType save_dtype = DType::f32;
  bool progress = true;
};

struct ClipStepStats {
  int64_t step = 0;
  double loss = 0, grad_norm = 0, lr = 0, temperature_inv = 0, seconds = 0;
  double batch_i2t_acc = 0;  // in-batch image -> caption top-1
  int64_t images = 0;
  bool skipped = false;
};

struct ClipValidation {
  double t2i_r1 = 0, t2i_r5 = 0, i2t_r1 = 0, i2t_r5 = 0;  // first caption of each image as the query
  int64_t images = 0;
};

struct ClipBatch {
  Tensor pixels;                      // f32 [B, 3, S, S]
  std::vector<std::string> captions;  // B
};

class ClipTrainer {
 public:
  ClipTrainer(models::ClipModel& model, const tokenizers::ClipTokenizer& tok, ImageCaptionSet train,
              ClipTrainOptions opt);

  ClipBatch batch_for(int64_t step) const;  // pure function of (seed, step)
  ClipStepStats train_step();
  ClipValidation validate(const ImageCaptionSet& val);
  std::optional<ClipValidation> fit(const ImageCaptionSet* val = nullptr);

  void save_checkpoint(const std::filesystem::path& path) const;
  void resume(const std::filesystem::path& path);
  void save_all() const;  // checkpoint + HF folder in out_dir

  int64_t step() const { return step_; }

 private:
  models::ClipModel& model_;
  const tokenizers::ClipTokenizer& tok_;
  ImageCaptionSet train_;
  ClipTrainOptions opt_;
  nn::Schedule schedule_;
  std::unique_ptr<nn::AdamW> adamw_;
  std::vector<Tensor> params_;
  int64_t step_ = 0;
  int64_t bad_in_a_row_ = 0;
  double smoothed_ = -1;
};

// Embeddings for retrieval, L2-normalised, row-major: images [N, E] and texts [N, E] (no grad).
std::vector<float> clip_image_embeddings(const models::ClipModel& m, const Tensor& pixels, int64_t batch);
std::vector<float> clip_text_embeddings(const models::ClipModel& m, const tokenizers::ClipTokenizer& tok,
                                        const std::vector<std::string>& texts, int64_t batch);

}  // namespace rscapret::train
