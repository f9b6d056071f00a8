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
  return ops::linear(x, weight, bias, act);  // [..., out]
}

}  // namespace rscapret::nn
