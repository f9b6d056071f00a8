// Losses: cross-entropy with Hugging Face semantics, the causal-LM shift, and symmetric InfoNCE
// (CLIP, FROMAGe). All return 0-d tensors and work in f32 or f64.
//
// Dimensions: B batch, T tokens, V vocabulary, N pairs, E embedding width.
#pragma once

#include <cmath>

#include "tensor/tensor.h"

namespace rscapret::nn {

inline constexpr int64_t kIgnoreIndex = -100;

// logits [..., V], targets i32/i64 [...]: the mean over targets != ignore_index (NaN when none is
// valid, as PyTorch).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = kIgnoreIndex);

// Hugging Face's causal-LM loss: position t predicts token t + 1, so logits[:, :-1] are scored
// against labels[:, 1:]; labels -100 (prompt, image tokens, padding) are skipped.
// logits [B, T, V], labels [B, T].
Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index = kIgnoreIndex);

// x / sqrt(sum(x^2, dim) + eps): unit rows, differentiable, finite at x = 0.
Tensor l2_normalize(const Tensor& x, int dim = -1, double eps = 1e-12);

// CLIP's initial logit_scale: log(1 / 0.07), i.e. a temperature of 0.07.
inline double clip_logit_scale_init() { return std::log(1.0 / 0.07); }

struct InfoNCE {
  Tensor loss;    // 0-d: (loss_ab + loss_ba) / 2
  Tensor loss_ab; // rows: a_i should pick b_i among all b
  Tensor loss_ba; // columns: b_j should pick a_j among all a
  Tensor logits;  // [N, N] = exp(logit_scale) * norm(a) norm(b)^T (for retrieval accuracy)
};

// a [N, E], b [N, E] (pairs on the diagonal); logit_scale a learnable 0-d (or [1]) tensor holding
// the log of the inverse temperature.
InfoNCE info_nce(const Tensor& a, const Tensor& b, const Tensor& logit_scale);
inline Tensor info_nce_loss(const Tensor& a, const Tensor& b, const Tensor& logit_scale) {
  return info_nce(a, b, logit_scale).loss;
}

}  // namespace rscapret::nn
