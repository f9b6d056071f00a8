// The RS-CapRet bridge trainer (`rscapret train bridge`): FROMAGe's recipe (METHOD.md §2-§3) on the
// trainable parts of an RsCapRet, with the frozen backbones untouched.
//
// One optimizer step = grad_accum micro-batches (loss / grad_accum each, gradients summed), global
// norm clipping, AdamW at lr * schedule(step) (linear warmup), then the [RET] input row is rescaled
// to the mean embedding norm. Every random choice (caption concatenation) is a pure function of
// (seed, step, micro-batch), and batches are asked for by (step, micro), so a run resumed from a
// checkpoint continues bit for bit.
//
// Dimensions: B micro-batch, S image side, N validation images, Q retrieval width.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/rscapret/bundle.h"
#include "nn/optim/adamw.h"
#include "nn/optim/schedule.h"

namespace rscapret::train {

// A micro-batch: CLIP-preprocessed pixels and one caption per image.
struct BridgeBatch {
  Tensor pixels;                      // f32 [B, 3, S, S]
  std::vector<std::string> captions;  // B
};

// Micro-batch `micro` of optimizer step `step`: must depend only on its arguments (resume).
using BridgeBatchFn = std::function<BridgeBatch(int64_t step, int64_t micro)>;

// Images held in memory with one caption each, served in a deterministic shuffled order: epoch e is
// a Fisher-Yates permutation seeded by (seed, e); the global position of a sample is
// ((step * grad_accum + micro) * batch + i).
struct InMemoryPairs {
  Tensor pixels;                      // f32 [N, 3, S, S]
  std::vector<std::string> captions;  // N
};
BridgeBatchFn shuffled_batches(InMemoryPairs pairs, int64_t batch_size, int64_t grad_accum, uint64_t seed,
                               bool shuffle = true);

// Validation: images and their reference captions (the first one is the retrieval query).
struct ValidationSet {
  Tensor pixels;                                   // f32 [N, 3, S, S]
  std::vector<std::vector<std::string>> references;  // N, each >= 1
};

struct ValidationResult {
  double t2i_r1 = 0, t2i_r5 = 0, i2t_r1 = 0;  // over the N images, first reference as the query
  double bleu4 = 0;                           // greedy captions of the first bleu_images images
  int64_t bleu_images = 0;
  std::vector<std::string> captions;          // the generated captions
};

struct BridgeTrainOptions {
  int64_t steps = 1000;        // optimizer steps (total, including those of a resumed run)
  int64_t grad_accum = 1;      // micro-batches per step (the batch is B * grad_accum)
  nn::AdamWOptions adamw;      // FROMAGe: lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0
  int64_t warmup_steps = 100;  // linear warmup from 0
  double clip_grad_norm = 1.0; // <= 0: no clipping
  uint64_t seed = 0;
  int64_t eval_every = 0;      // 0: validate only at the end (when a validation set is given)
  int64_t eval_batch = 16;
  int64_t bleu_images = 32;    // validation subset captioned for BLEU-4
  int64_t caption_max_new_tokens = 32;
  int64_t save_every = 0;      // 0: save only at the end
  std::filesystem::path out_dir;  // bridge.json, bridge.safetensors, log.csv (empty: nothing written)
  bool progress = true;        // the progress bar on stderr
};

struct StepStats {
  int64_t step = 0;  // the step just taken (1-based count of steps done)
  double loss = 0, caption = 0, ret_lm = 0, contrastive = 0;  // means over the micro-batches
  double grad_norm = 0, lr = 0, seconds = 0;
  int64_t images = 0;
  bool skipped = false;  // non-finite gradients: no update
};

class BridgeTrainer {
 public:
  BridgeTrainer(models::RsCapRetBundle& bundle, BridgeTrainOptions opt);

  StepStats train_step(const BridgeBatchFn& batches);
  // Runs until opt.steps, validating, logging and saving as asked; returns the last validation.
  std::optional<ValidationResult> fit(const BridgeBatchFn& batches, const ValidationSet* val = nullptr);
  ValidationResult validate(const ValidationSet& val);

  // Weights + AdamW state + step, atomically, in one safetensors (out_dir/bridge.safetensors by default).
  void save(const std::filesystem::path& path) const;
  void resume(const std::filesystem::path& path);

  int64_t step() const { return step_; }
  nn::AdamW& optimizer() { return *adamw_; }
  models::RsCapRet& model() { return *bundle_.model; }

 private:
  bool concat_for(int64_t step, int64_t micro) const;
  void log_csv(const StepStats& s, const ValidationResult* v);
  void progress(const StepStats& s, double elapsed, int64_t steps_this_run);

  models::RsCapRetBundle& bundle_;
  BridgeTrainOptions opt_;
  nn::Schedule schedule_;
  std::unique_ptr<nn::AdamW> adamw_;
  std::vector<Tensor> params_;
  int64_t step_ = 0;
  double smoothed_loss_ = -1;
};

}  // namespace rscapret::train
