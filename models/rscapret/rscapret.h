// RS-CapRet: a frozen CLIP vision tower and a frozen LLaMA decoder bridged by linear layers and a
// [RET] token (FROMAGe's mechanics; METHOD.md §1-§4).
//
// Dimensions: B batch, Cv CLIP width (pooled output), C LLaMA width, K visual tokens, L text tokens,
// V LLaMA vocabulary (without [RET]), Q retrieval width.
//
// Trainable (this module's parameters; the backbones are held beside it, not as children, so
// state_dict() is exactly the trainable state):
//   visual_embeddings  W_c  Linear(Cv, K C)   image -> K visual tokens of the LLM input
//   visual_fc          W_i  Linear(Cv, Q)     image -> retrieval space
//   text_hidden_fc     W_t  Linear(C, Q)      final-norm hidden state at [RET] -> retrieval space
//   logit_scale        []   log(1 / temperature), starts at log(1 / 0.07)
//   ret_input_embedding  [1, C]  the [RET] row of the input embeddings
//   ret_output_embedding [1, C]  the [RET] row of lm_head (absent when LLaMA ties its head)
// [RET] is id V: the frozen tables are never resized or copied. Token embedding looks ids up in
// the frozen table and swaps in the trainable row where id == V; logits are the frozen head's [.., V]
// with h . ret_output_embedding appended as column V. So gradients reach exactly the [RET] rows
// and no V x C gradient buffer is ever allocated (FROMAGe zeroes the other rows' gradient instead).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "models/clip/clip.h"
#include "models/generate/generate.h"
#include "models/llama/llama.h"
#include "models/rscapret/captions.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace rscapret::models {

// Every RS-CapRet unknown is an option with the FROMAGe default (METHOD.md §0).
struct RsCapRetOptions {
  int64_t num_visual_tokens = 1;  // K (FROMAGe paper model; its vis4 release uses 4)
  int64_t retrieval_dim = 256;    // Q
  int64_t max_len = 24;           // L, BOS and [RET] included
  int64_t pad_id = 0;             // LLaMA-2 has no pad token: <unk> (masked by length, never a target)
  double caption_loss_weight = 1.0;      // lambda_c
  double ret_lm_loss_weight = 1.0;       // lambda_r on the retrieval-mode LM loss
  double contrastive_loss_weight = 1.0;  // lambda_r on (l_t2i + l_i2t) / 2
  double concat_captions_prob = 0.5;     // per step (the trainer draws it)
};

struct RsCapRetLosses {
  Tensor total;        // 0-d: weighted sum
  Tensor caption;      // 0-d: l_c
  Tensor ret_lm;       // 0-d: l_lm (text-only "BOS caption [RET]")
  Tensor contrastive;  // 0-d: (l_t2i + l_i2t) / 2
  Tensor logits_per_image;  // [B, B] = exp(logit_scale) cos(image_i, text_j)
};

class RsCapRet : public nn::Module {
 public:
  // ret_id must equal llm's vocab size (the row appended for [RET]). Trainable tensors are drawn
  // from init.generator() in init.dtype (f32 to train, f64 for gradient checks).
  RsCapRet(std::shared_ptr<ClipModel> clip, std::shared_ptr<LlamaForCausalLM> llm, const RsCapRetOptions& opt,
           const nn::Init& init = {});

  // ---- the frozen parts ----
  // pixels [B, 3, S, S] -> CLIP pooler_output [B, Cv] (f32; no graph is recorded).
  Tensor encode_images(const Tensor& pixels) const;

  // ---- pieces ----
  Tensor visual_prefix(const Tensor& pooled) const;       // [B, Cv] -> [B, K, C]
  Tensor image_embeddings(const Tensor& pooled) const;    // [B, Cv] -> [B, Q] (not normalised)
  Tensor embed_tokens(const Tensor& ids) const;           // i64 [B, T] (ids <= V) -> [B, T, C]
  Tensor logits(const Tensor& h) const;                   // [B, T, C] -> [B, T, V + 1]
  // "BOS caption [RET]" rows -> W_t(h at [RET]) [B, Q] (not normalised), plus the LM loss of the
  // text-only sequence when lm_loss is given.
  Tensor text_embeddings(const CaptionTokens& t, Tensor* lm_loss = nullptr) const;

  // ---- training ----
  // pooled [B, Cv] from encode_images; concat: FROMAGe's caption concatenation for this step.
  RsCapRetLosses losses(const Tensor& pooled, const CaptionTokens& t, bool concat = false) const;
  // Rescales the [RET] input row to the mean L2 norm of the frozen rows (after each optimizer step).
  void renormalize_ret_embedding();
  double mean_embedding_norm() const { return mean_row_norm_; }

  // ---- inference ----
  // Generated ids for pooled [B, Cv] from the visual prefix alone (no BOS after the image, as
  // FROMAGe's evaluation); [RET] is forbidden at every step.
  GenerateResult caption_tokens(const Tensor& pooled, GenerateOptions opt) const;
  // Greedy/beam captions: caption_tokens decoded (special tokens skipped), cut at the first '.'.
  std::vector<std::string> caption(const Tensor& pooled, const tokenizers::LlamaTokenizer& tok,
                                   GenerateOptions opt) const;

  // Moves the frozen backbones and the bridge to `device` (the backbones are not child modules: a
  // bridge checkpoint holds the bridge alone). Build optimizers after this: parameters are new tensors.
  using nn::Module::to;
  RsCapRet& to(Device device);
  Device device() const { return visual_fc->weight.device(); }

  int64_t ret_id() const { return ret_id_; }
  int64_t vocab_size() const { return ret_id_ + 1; }  // V + 1
  const RsCapRetOptions& options() const { return opt_; }
  ClipModel& clip() const { return *clip_; }
  LlamaForCausalLM& llm() const { return *llm_; }

  std::shared_ptr<nn::Linear> visual_embeddings;  // W_c
  std::shared_ptr<nn::Linear> visual_fc;          // W_i
  std::shared_ptr<nn::Linear> text_hidden_fc;     // W_t
  Tensor logit_scale;
  Tensor ret_input_embedding;   // [1, C]
  Tensor ret_output_embedding;  // [1, C]; undefined when the LLM ties its head

 private:
  const Tensor& ret_output_row() const { return ret_output_embedding.defined() ? ret_output_embedding : ret_input_embedding; }
  std::shared_ptr<ClipModel> clip_;
  std::shared_ptr<LlamaForCausalLM> llm_;
  RsCapRetOptions opt_;
  int64_t ret_id_;
  double mean_row_norm_ = 0.0;
};

// A Decoder over the bridged LLM: ids may include [RET]; logits have V + 1 columns.
class RsCapRetDecoder : public Decoder {
 public:
  explicit RsCapRetDecoder(const RsCapRet& model) : model_(model), cache_(model.llm().new_cache()) {}
  Tensor step(const Tensor& ids) override;         // i64 [R, T] -> [R, V + 1]
  Tensor step_embeds(const Tensor& embeds);        // [R, T, C] -> [R, V + 1]
  void select_rows(const std::vector<int64_t>& rows) override;

 private:
  const RsCapRet& model_;
  nn::KVCache cache_;
};

}  // namespace rscapret::models
