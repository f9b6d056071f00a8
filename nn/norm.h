// Normalisation over the last dim (C): LayerNorm (CLIP) and RMSNorm (LLaMA).
#pragma once

#include "autograd/ops.h"
#include "nn/module.h"

namespace rscapret::nn {

class LayerNorm : public Module {
 public:
  // weight starts at 1, bias at 0 (PyTorch). elementwise_affine false registers neither.
  LayerNorm(int64_t channels, double eps = 1e-5, bool elementwise_affine = true, bool bias = true,
            const Init& init = {});
  Tensor forward(const Tensor& x) const;  // x [..., C] -> [..., C]
  Tensor operator()(const Tensor& x) const { return forward(x); }
  // forward's value in bf16 (ops::layer_norm_bf16_out): for a consumer that rounds to bf16 anyway.
  Tensor forward_bf16(const Tensor& x) const;
  double eps() const { return eps_; }

  Tensor weight;  // [C]
  Tensor bias;    // [C]

 private:
  int64_t channels_;
  double eps_;
};

class RMSNorm : public Module {
 public:
  // x / sqrt(mean(x^2) + eps) * weight; weight starts at 1. LLaMA-2 uses eps 1e-5 (config rms_norm_eps).
  RMSNorm(int64_t channels, double eps = 1e-6, const Init& init = {});
  Tensor forward(const Tensor& x) const;  // x [..., C] -> [..., C]
  Tensor operator()(const Tensor& x) const { return forward(x); }
  double eps() const { return eps_; }
  // This norm as a consumer's input norm (ops::InputRmsNorm: applied as a decode kernel loads x).
  ops::InputRmsNorm as_input_norm() const { return {weight, eps_}; }

  Tensor weight;  // [C]

 private:
  int64_t channels_;
  double eps_;
};

}  // namespace rscapret::nn
