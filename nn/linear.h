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
  // residual + forward(x): one GPU kernel at decode (ops::linear_add), the composed ops elsewhere.
  Tensor forward_add(const Tensor& x, const Tensor& residual) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // Replaces the weight by its q8_0 form (ops::quantize_q8; 1.125 bytes a weight): `weight`
  // becomes undefined, so the full-precision copy is released, and forward multiplies by the
  // codes in place (ops::linear_q8). For frozen layers: a weight that requires a gradient is
  // refused. Quantize last: the codes live outside the module's slots, so they are neither loaded
  // nor moved by to(device) (forward then refuses the mismatch), and a weight that reappears in
  // the slot (a later load, or materialize() filling the empty slot) makes forward an error
  // rather than a silent choice between the two.
  void quantize_q8();
  // Takes codes i8 [out, in] and scales f32 [out, ceil(in / 32)] as they are (e.g. mapped from a
  // quantized checkpoint, zero-copy) in place of the weight, which must be empty. Shapes checked.
  void set_q8_weight(ops::Q8Weight q8);
  bool is_quantized() const { return q8_.codes.defined(); }
  const ops::Q8Weight& q8_weight() const { return q8_; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias

 private:
  int64_t in_, out_;
  ops::Q8Weight q8_;  // codes i8 [out, in], scales f32 [out, ceil(in / 32)]; set by quantize_q8
};

// Refuses (ValueError naming the layer) a tree holding q8_0 layers on a CUDA device: q8_0 is the
// CPU's format (a `rscapret quantize` folder moved to a GPU keeps its codes on the host).
void check_q8_on_cpu(Module& root, Device device, const char* what);

// Quantizes every frozen Linear under `root` whose weight is floating (and not f64) to q8_0;
// trainable ones are left as they are. Returns how many were quantized.
int64_t quantize_linears_q8(Module& root);

}  // namespace rscapret::nn
