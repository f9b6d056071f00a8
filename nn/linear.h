// Linear: y = x W^T + b, with W stored [out, in] as PyTorch and Hugging Face store it.
#pragma once

#include "autograd/ops.h"
#include "nn/module.h"

namespace rscapret::nn {

class Linear : public Module {
 public:
  // PyTorch's default init: W and b uniform in +-1/sqrt(in_features).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, const Init& init = {});

  // x [..., in] -> act(x W^T + b) [..., out]. Weights may be bf16/f16 (matmul reads them in place);
  // the result has the compute dtype (f32, or f64 when x or W is f64). ops::linear: on a GPU
  // with bf16 weights and no gradient, one GEMM with bias and activation in its epilogue.
  Tensor forward(const Tensor& x, ops::Activation act = ops::Activation::none) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias

 private:
  int64_t in_, out_;
};

}  // namespace rscapret::nn
