// Feed-forward blocks: the two-layer MLP of CLIP (fc1, activation, fc2) and LLaMA's SwiGLU
// (down_proj(silu(gate_proj(x)) * up_proj(x))). Parameter names follow Hugging Face.
#pragma once

#include <memory>

#include "autograd/ops.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace rscapret::nn {

using ops::Activation;  // none, quick_gelu, gelu_erf, gelu_tanh, silu (ops::activate applies one)

// Parses Hugging Face's hidden_act names: "quick_gelu", "gelu", "gelu_new"/"gelu_pytorch_tanh"/"gelu_fast"
// (the tanh form), "silu"/"swish".
Activation activation_from_name(const std::string& name);

class MLP : public Module {
 public:
  MLP(int64_t channels, int64_t hidden, Activation act = Activation::quick_gelu, bool bias = true,
      const Init& init = {});
  // x [..., C] -> [..., C]; with a residual [..., C], residual + that (added in fc2's epilogue on a
  // GPU, Linear::forward_add).
  Tensor forward(const Tensor& x, const Tensor& residual = {}) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  // Whether fc1 rounds an input like x (made from x by a producer with producer_params) to bf16 as
  // it reads it, so the producer may write it in bf16 (ops::linear_takes_bf16).
  bool takes_bf16_input(const Tensor& x, std::initializer_list<const Tensor*> producer_params) const;

  std::shared_ptr<Linear> fc1;  // C -> hidden
  std::shared_ptr<Linear> fc2;  // hidden -> C

 private:
  Activation act_;
};

class SwiGLU : public Module {
 public:
  SwiGLU(int64_t channels, int64_t hidden, bool bias = false, const Init& init = {});
  // x [..., C] -> [..., C]; with a residual [..., C], residual + that (added in down_proj's epilogue
  // at decode, Linear::forward_add). With input_norm, x is that norm's input and the block takes
  // input_norm(x) (at decode on a GPU normalised as the gate/up kernel loads x, ops::InputRmsNorm).
  Tensor forward(const Tensor& x, const Tensor& residual = {}, const RMSNorm* input_norm = nullptr) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }

  std::shared_ptr<Linear> gate_proj;  // C -> hidden
  std::shared_ptr<Linear> up_proj;    // C -> hidden
  std::shared_ptr<Linear> down_proj;  // hidden -> C
};

}  // namespace rscapret::nn
