#include "nn/norm.h"

#include "autograd/ops.h"

namespace rscapret::nn {

namespace {
void check_channels(const char* op, const Tensor& x, int64_t c) {
  RS_CHECK(x.dim() >= 1 && x.shape().back() == c, ShapeError, op, "input ", format_shape(x.shape()),
           " must end in C = ", c);
}
}  // namespace

LayerNorm::LayerNorm(int64_t channels, double eps, bool elementwise_affine, bool has_bias, const Init& init)
    : Module("LayerNorm"), channels_(channels), eps_(eps) {
  if (!elementwise_affine) return;
  register_parameter("weight", &weight, {channels}, Fill::ones(), init);
  if (has_bias) register_parameter("bias", &bias, {channels}, Fill::zeros(), init);
}

Tensor LayerNorm::forward(const Tensor& x) const {
  check_channels("LayerNorm", x, channels_);
  return ops::layer_norm(x, weight, bias, eps_);
}

Tensor LayerNorm::forward_bf16(const Tensor& x) const {
  check_channels("LayerNorm", x, channels_);
  return ops::layer_norm_bf16_out(x, weight, bias, eps_);
}

RMSNorm::RMSNorm(int64_t channels, double eps, const Init& init)
    : Module("RMSNorm"), channels_(channels), eps_(eps) {
  register_parameter("weight", &weight, {channels}, Fill::ones(), init);
}

Tensor RMSNorm::forward(const Tensor& x) const {
  check_channels("RMSNorm", x, channels_);
  return ops::rms_norm(x, weight, eps_);
}

}  // namespace rscapret::nn
