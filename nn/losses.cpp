#include "nn/losses.h"

#include "autograd/ops.h"

namespace rscapret::nn {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  return ops::cross_entropy(logits, targets, ignore_index);
}

Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index) {
  RS_CHECK(logits.dim() == 3 && labels.dim() == 2 && logits.shape()[0] == labels.shape()[0] &&
               logits.shape()[1] == labels.shape()[1],
           ShapeError, "causal_lm_loss", "logits [B, T, V] and labels [B, T] expected, got ",
           format_shape(logits.shape()), " and ", format_shape(labels.shape()));
  const int64_t T = logits.shape()[1];
  RS_CHECK(T >= 2, ShapeError, "causal_lm_loss", "needs T >= 2 tokens to predict a next one, got ", T);
  const Tensor shifted_logits = ops::narrow(logits, 1, 0, T - 1);  // [B, T-1, V]: predictions
  const Tensor shifted_labels = labels.narrow(1, 1, T - 1);        // [B, T-1]: the next tokens
  return ops::cross_entropy(shifted_logits, shifted_labels, ignore_index);
}

Tensor l2_normalize(const Tensor& x, int dim, double eps) {
  const Tensor sq = ops::sum(ops::mul(x, x), dim, /*keepdim=*/true);  // [..., 1, ...]
  return ops::div(x, ops::sqrt(ops::add(sq, eps)));
}

InfoNCE info_nce(const Tensor& a, const Tensor& b, const Tensor& logit_scale) {
  RS_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape() == b.shape(), ShapeError, "info_nce",
           "a and b must both be [N, E], got ", format_shape(a.shape()), " and ", format_shape(b.shape()));
  RS_CHECK(logit_scale.numel() == 1 && logit_scale.dim() <= 1, ShapeError, "info_nce",
           "logit_scale must be 0-d or [1], got ", format_shape(logit_scale.shape()));
  const int64_t N = a.shape()[0];
  const Tensor an = l2_normalize(a, -1), bn = l2_normalize(b, -1);  // [N, E]
  const Tensor scale = ops::exp(ops::reshape(logit_scale, {}));     // 0-d: 1 / temperature
  InfoNCE out;
  out.logits = ops::mul(ops::matmul(an, ops::transpose(bn, 0, 1)), scale);  // [N, N]
  const Tensor diagonal = Tensor::arange(N);                                // i64 [N]
  out.loss_ab = ops::cross_entropy(out.logits, diagonal);
  out.loss_ba = ops::cross_entropy(ops::transpose(out.logits, 0, 1), diagonal);
  out.loss = ops::mul(ops::add(out.loss_ab, out.loss_ba), 0.5);
  return out;
}

}  // namespace rscapret::nn
