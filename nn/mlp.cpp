#include "nn/mlp.h"

#include "autograd/ops.h"

namespace rscapret::nn {

Activation activation_from_name(const std::string& name) {
  if (name == "quick_gelu") return Activation::quick_gelu;
  if (name == "gelu") return Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "silu" || name == "swish") return Activation::silu;
  throw ValueError(cat("[activation] unsupported hidden_act \"", name,
                       "\" (supported: quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish)"));
}

MLP::MLP(int64_t channels, int64_t hidden, Activation act, bool bias, const Init& init)
    : Module("MLP"), act_(act) {
  fc1 = register_module("fc1", std::make_shared<Linear>(channels, hidden, bias, init));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, channels, bias, init));
}

bool MLP::takes_bf16_input(const Tensor& x, std::initializer_list<const Tensor*> producer_params) const {
  return !fc1->is_quantized() && ops::linear_takes_bf16(x, fc1->weight, fc1->bias, producer_params);
}

Tensor MLP::forward(const Tensor& x, const Tensor& residual) const {
  // The bf16 handoff (GPU inference): fc2 rounds its input to bf16 as it reads it, so fc1's GEMM
  // writes the hidden layer, the widest activation, in bf16 itself: same bits, a third of the bytes
  // of writing f32 and casting.
  const bool plain = !fc1->is_quantized() && !fc2->is_quantized();
  const Tensor h = plain && ops::linear_takes_bf16(x, fc2->weight, fc2->bias, {&fc1->weight, &fc1->bias})
                       ? ops::linear_bf16_out(x, fc1->weight, fc1->bias, act_)
                       : fc1->forward(x, act_);  // [..., hidden]
  return residual.defined() ? fc2->forward_add(h, residual) : fc2->forward(h);  // [..., C]
}

SwiGLU::SwiGLU(int64_t channels, int64_t hidden, bool bias, const Init& init) : Module("SwiGLU") {
  gate_proj = register_module("gate_proj", std::make_shared<Linear>(channels, hidden, bias, init));
  up_proj = register_module("up_proj", std::make_shared<Linear>(channels, hidden, bias, init));
  down_proj = register_module("down_proj", std::make_shared<Linear>(hidden, channels, bias, init));
}

Tensor SwiGLU::forward(const Tensor& x, const Tensor& residual, const RMSNorm* input_norm) const {
  // Plain GPU layers without bias take ops::gated_linear (one kernel at decode, which also applies
  // the input norm where it can); the others, and every CPU layer, the composed form.
  const bool plain = x.device().is_cuda() && !gate_proj->bias.defined() && !up_proj->bias.defined() &&
                     !gate_proj->is_quantized() && !up_proj->is_quantized();
  Tensor h;  // [..., hidden]
  if (plain) {
    const ops::InputRmsNorm norm = input_norm ? input_norm->as_input_norm() : ops::InputRmsNorm{};
    h = ops::gated_linear(x, gate_proj->weight, up_proj->weight, Activation::silu, input_norm ? &norm : nullptr);
  } else {
    const Tensor xn = input_norm ? input_norm->forward(x) : x;
    h = ops::mul(gate_proj->forward(xn, Activation::silu), up_proj->forward(xn));
  }
  return residual.defined() ? down_proj->forward_add(h, residual) : down_proj->forward(h);
}

}  // namespace rscapret::nn
