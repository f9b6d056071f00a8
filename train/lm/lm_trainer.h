// `rscapret train lm`: pretrains a small LlamaForCausalLM from scratch on captions, so that the
// RS-CapRet bridge has a frozen decoder that speaks the caption language.
//
// Each caption becomes "<s> caption </s>" (truncated to max_len tokens); a training row packs it
// with other captions of the same image and ends with BOS, "<s> a </s> <s> b </s> <s>" (see
// LmTrainOptions); a batch is right-padded to its longest row and the padding is masked out of the
// loss (labels -100). Validation scores lone captions, so its perplexity stays per caption. With right padding
// and the causal mask no real position ever attends to a pad, so no attention mask is needed.
// The recipe is the usual one for small GPT/LLaMA models: HF init (N(0, 0.02) matrices, RMSNorm
// gains 1), AdamW (0.9, 0.95) with weight decay 0.1 on matrices only, linear warmup then cosine
// decay, global-norm clipping at 1.
//
// Determinism: the data order of step s is positions [s B, (s + 1) B) of a stream of epoch
// permutations drawn from (seed, epoch), so it is a pure function of (seed, step); a run resumed
// from its checkpoint continues bit for bit.
//
// Dimensions: B batch, T longest sequence of the batch, V vocabulary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/llama/llama.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "nn/optim/adamw.h"
#include "nn/optim/schedule.h"
#include "tensor/rng.h"

namespace rscapret::train {

using TokenSeqs = std::vector<std::vector<int32_t>>;
// Captions grouped by the image they describe: docs[d] lists indices into the TokenSeqs.
using CaptionDocs = std::vector<std::vector<int64_t>>;

struct LmModelOptions {
  int64_t hidden = 192;
  int64_t layers = 4;
  int64_t heads = 4;
  int64_t kv_heads = 0;       // 0: = heads (no GQA)
  int64_t intermediate = 0;   // 0: LLaMA's 8/3 * hidden rounded up to a multiple of 32
  int64_t max_positions = 512;
  double rope_theta = 10000.0;
  bool tie_embeddings = false;
};

// The config of a fresh model for `tok` (vocab size, BOS/EOS ids); ValueError on bad sizes.
models::LlamaConfig make_llama_config(const LmModelOptions& o, const tokenizers::LlamaTokenizer& tok);
// Hugging Face's LlamaPreTrainedModel init: every matrix N(0, 0.02), RMSNorm gains 1.
void hf_init_llama(models::LlamaForCausalLM& model, Generator& gen);

// "<s> caption </s>" ids, cut to max_len tokens (an overlong caption loses its end, EOS included).
TokenSeqs tokenize_captions_lm(const tokenizers::LlamaTokenizer& tok, const std::vector<std::string>& captions,
                               int64_t max_len);
// The same for captions grouped by image; docs (when given) receives the groups' indices.
TokenSeqs tokenize_caption_docs(const tokenizers::LlamaTokenizer& tok,
                                const std::vector<std::vector<std::string>>& per_image, int64_t max_len,
                                CaptionDocs* docs);

struct LmBatch {
  Tensor input_ids;    // i64 [B, T], right-padded with pad_id
  Tensor labels;       // i64 [B, T], -100 at padding
  int64_t targets = 0; // predicted tokens: sum over rows of (length - 1)
};
LmBatch make_lm_batch(const TokenSeqs& seqs, const std::vector<int64_t>& rows, int64_t pad_id);
// One row per caption of `captions`: that caption's ids, then those of up to per_row - 1 other
// captions of the same image (a rotation of the image's list starting at a point drawn from
// `salt`), then BOS when append_bos: "<s> a </s> <s> b </s> <s>". doc_of[i] is caption i's image.
TokenSeqs training_rows(const TokenSeqs& seqs, const CaptionDocs& docs, const std::vector<int64_t>& doc_of,
                        const std::vector<int64_t>& captions, int64_t per_row, bool append_bos, int32_t bos_id,
                        uint64_t salt);

struct LmTrainOptions {
  int64_t steps = 2000;
  int64_t batch = 32;
  // Rows end with "</s> <s>": BOS becomes a target. The RS-CapRet caption loss needs that, since
  // its first target is BOS predicted from the last visual token (METHOD.md §1.3); a decoder that
  // never saw BOS as a target gives it ~0 probability, a floor of several nats on every caption
  // (measured on 16 UCM images: the bridge's caption loss levels off at 0.29 without, 0.06 with).
  bool append_bos = true;
  // Captions of the same image packed into one row ("<s> a </s> <s> b </s>"). The bridge later puts
  // the image where `a` is, so the decoder must have learned to read what precedes <s> to choose the
  // next caption; trained on lone captions it never sees anything before <s>. Measured on the
  // synthetic test split, 1 -> 2: BLEU-4 0.568 -> 0.742, scene named 79% -> 99% (bench/RESULTS.md).
  // Random captions from different images should teach the opposite, that what precedes <s> is
  // noise (reasoning, not measured).
  int64_t captions_per_row = 2;
  nn::AdamWOptions adamw{1e-3, 0.9, 0.95, 1e-8, 0.1};
  int64_t warmup_steps = 100;
  double min_lr_factor = 0.1;   // cosine floor, as a fraction of lr
  double clip_grad_norm = 1.0;  // <= 0: no clipping
  uint64_t seed = 0;
  int64_t eval_every = 0;       // 0: validate at the end only
  int64_t eval_batch = 64;
  int64_t save_every = 0;       // 0: at the end only
  int64_t max_bad_steps = 10;   // consecutive non-finite losses/gradients before giving up
  std::filesystem::path out_dir;  // checkpoint.safetensors, log.csv, and the HF folder (empty: nothing)
  DType save_dtype = DType::f32;
  bool progress = true;
};

struct LmStepStats {
  int64_t step = 0;  // steps done after this one
  double loss = 0, grad_norm = 0, lr = 0, seconds = 0;
  int64_t tokens = 0;
  bool skipped = false;  // non-finite loss or gradients: no update
};

struct LmValidation {
  double loss = 0;        // mean over predicted tokens
  double perplexity = 0;  // exp(loss)
  int64_t targets = 0;
};

class LmTrainer {
 public:
  // docs: the captions of each image (empty: every caption is its own image).
  LmTrainer(models::LlamaForCausalLM& model, TokenSeqs train, LmTrainOptions opt, CaptionDocs docs = {});

  LmStepStats train_step();
  LmValidation validate(const TokenSeqs& val);
  // Trains until opt.steps, validating, logging and saving as asked; returns the last validation.
  std::optional<LmValidation> fit(const TokenSeqs* val = nullptr);
  // The captions of step `step` (pure function of seed and step).
  std::vector<int64_t> rows_for(int64_t step) const;

  // Resumable checkpoint (weights, AdamW, step), atomic.
  void save_checkpoint(const std::filesystem::path& path) const;
  void resume(const std::filesystem::path& path);
  // Checkpoint + the Hugging Face folder (config.json, model.safetensors) in out_dir.
  void save_all() const;

  int64_t step() const { return step_; }
  int64_t pad_id() const { return pad_id_; }
  nn::AdamW& optimizer() { return *adamw_; }

 private:
  models::LlamaForCausalLM& model_;
  TokenSeqs train_;
  LmTrainOptions opt_;
  CaptionDocs docs_;
  std::vector<int64_t> doc_of_;
  nn::Schedule schedule_;
  std::unique_ptr<nn::AdamW> adamw_;
  std::vector<Tensor> params_;
  int64_t step_ = 0;
  int64_t pad_id_ = 0;
  int64_t bad_in_a_row_ = 0;
  double smoothed_ = -1;
};

// Greedy continuations of prompts (ids, BOS included), decoded with the prompt, up to max_new tokens.
std::vector<std::string> lm_greedy_samples(const models::LlamaForCausalLM& model, const tokenizers::LlamaTokenizer& tok,
                                           const TokenSeqs& prompts, int64_t max_new);

}  // namespace rscapret::train
