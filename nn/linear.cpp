#include "nn/linear.h"

#include <cmath>

#include "autograd/ops.h"

namespace rscapret::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, const Init& init)
    : Module("Linear"), in_(in_features), out_(out_features) {
  RS_CHECK(in_features > 0 && out_features > 0, ValueError, "Linear", "features must be positive, got in ",
           in_features, ", out ", out_features);
  const double bound = 1.0 / std::sqrt(double(in_features));
  register_parameter("weight", &weight, {out_features, in_features}, Fill::uniform(-bound, bound), init);
  if (has_bias) register_parameter("bias", &bias, {out_features}, Fill::uniform(-bound, bound), init);
}

Tensor Linear::forward(const Tensor& x, ops::Activation act) const {
  RS_CHECK(x.dim() >= 1 && x.shape().back() == in_, ShapeError, "Linear", "input ", format_shape(x.shape()),
           " must end in in_features = ", in_);
  if (is_quantized()) {
    RS_CHECK(!weight.defined(), ValueError, "Linear",
             "a weight was loaded into a q8_0-quantized layer; load checkpoints before quantize_q8");
    RS_CHECK(q8_.codes.device() == x.device(), DeviceError, "Linear", "q8_0 weights on ",
             q8_.codes.device().str(), ", input on ", x.device().str(), ": quantize after moving the model");
    Tensor y = ops::linear_q8(x, q8_.codes, q8_.scales);  // [..., out]
    if (bias.defined()) y = ops::add(y, bias);
    return ops::activate(y, act);
  }
  return ops::linear(x, weight, bias, act);  // [..., out]
}

Tensor Linear::forward_add(const Tensor& x, const Tensor& residual) const {
  if (is_quantized()) return ops::add(residual, forward(x));
  RS_CHECK(x.dim() >= 1 && x.shape().back() == in_, ShapeError, "Linear", "input ", format_shape(x.shape()),
           " must end in in_features = ", in_);
  return ops::linear_add(x, weight, bias, residual);  // [..., out]
}

void Linear::quantize_q8() {
  RS_CHECK(!is_quantized(), ValueError, "Linear", "quantize_q8: already quantized");
  RS_CHECK(weight.defined(), ValueError, "Linear", "quantize_q8: the weight is not loaded");
  RS_CHECK(!weight.requires_grad(), ValueError, "Linear",
           "quantize_q8: only frozen weights can be quantized (this one requires a gradient)");
  q8_ = ops::quantize_q8(weight);
  weight = Tensor();  // the slot stays registered (shape, dtype) for a later load
}

void Linear::set_q8_weight(ops::Q8Weight q8) {
  RS_CHECK(!weight.defined() && !is_quantized(), ValueError, "Linear", "set_q8_weight: the layer already has a weight");
  const int64_t blocks = (in_ + 31) / 32;
  RS_CHECK(q8.codes.defined() && q8.scales.defined(), ValueError, "Linear", "set_q8_weight: codes and scales needed");
  RS_CHECK(q8.codes.dtype() == DType::i8 && q8.scales.dtype() == DType::f32, DTypeError, "Linear",
           "q8_0 codes must be i8 and scales f32, got ", q8.codes.describe(), " and ", q8.scales.describe());
  RS_CHECK(q8.codes.shape() == Shape({out_, in_}) && q8.scales.shape() == Shape({out_, blocks}), ShapeError, "Linear",
           "q8_0 codes must be [", out_, ", ", in_, "] and scales [", out_, ", ", blocks, "], got ",
           q8.codes.describe(), " and ", q8.scales.describe());
  q8_ = std::move(q8);
}

void check_q8_on_cpu(Module& root, Device device, const char* what) {
  if (!device.is_cuda()) return;
  for (const auto& [name, m] : root.named_modules())
    if (const auto* lin = dynamic_cast<const Linear*>(m); lin && lin->is_quantized())
      RS_CHECK(false, ValueError, what, "layer ", name,
               " is stored as q8_0 (a `rscapret quantize` folder), which runs on the CPU only: use --device cpu "
               "or the full-precision folder");
}

int64_t quantize_linears_q8(Module& root) {
  int64_t n = 0;
  for (auto& [name, m] : root.named_modules()) {
    auto* lin = dynamic_cast<Linear*>(m);
    if (lin == nullptr || lin->is_quantized() || !lin->weight.defined() || lin->weight.requires_grad()) continue;
    if (lin->weight.dtype() == DType::f64) continue;
    lin->quantize_q8();
    ++n;
  }
  return n;
}

}  // namespace rscapret::nn
