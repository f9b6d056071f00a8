// The linear layer, act(x @ W^T + b): composed of registered ops, with one fused GPU path for
// inference. It is not an entry of the op registry: its gradient is the composition's.
#include <atomic>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

namespace {

std::atomic<bool> g_fused_linear{true};

kernels::cuda::GemmActivation gemm_activation(Activation act) {
  using G = kernels::cuda::GemmActivation;
  switch (act) {
    case Activation::none: return G::none;
    case Activation::quick_gelu: return G::quick_gelu;
    case Activation::gelu_erf: return G::gelu_erf;
    case Activation::gelu_tanh: return G::gelu_tanh;
    case Activation::silu: return G::silu;
  }
  return G::none;
}

// The GPU inference case: bf16 weights [N, K] with rows of K contiguous elements (what the GEMM
// reads as B [N, K]), everything on one device, nothing to differentiate.
bool fuses(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!g_fused_linear.load(std::memory_order_relaxed) || !x.device().is_cuda()) return false;
  if (weight.device() != x.device() || weight.dtype() != DType::bf16 || !weight.is_contiguous()) return false;
  // An f64 bias takes the composed path, which refuses it on CUDA as every op does.
  if (bias.defined() && (bias.device() != x.device() || bias.dtype() == DType::f64)) return false;
  if (!is_floating(x.dtype()) || x.dtype() == DType::f64) return false;
  if (autograd::needs_grad({&x, &weight, &bias})) return false;
  return x.numel() > 0 && weight.shape()[0] > 0 && weight.shape()[1] > 0;
}

}  // namespace

void set_cuda_fused_linear(bool on) { g_fused_linear.store(on, std::memory_order_relaxed); }

Tensor activate(const Tensor& x, Activation act) {
  switch (act) {
    case Activation::none: return x;
    case Activation::quick_gelu: return quick_gelu(x);
    case Activation::gelu_erf: return gelu_erf(x);
    case Activation::gelu_tanh: return gelu_tanh(x);
    case Activation::silu: return silu(x);
  }
  RS_ASSERT(false, "unknown activation");
  return {};
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  RS_CHECK(weight.dim() == 2, ShapeError, "linear", "weight must be [N, K], got ", format_shape(weight.shape()));
  const int64_t N = weight.shape()[0], K = weight.shape()[1];
  RS_CHECK(x.dim() >= 1 && x.shape().back() == K, ShapeError, "linear", "input ", format_shape(x.shape()),
           " must end in K = ", K, " (weight ", format_shape(weight.shape()), ")");
  RS_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == N), ShapeError, "linear", "bias must be [",
           N, "], got ", format_shape(bias.shape()));
  if (fuses(x, weight, bias)) {
    const Device dev = x.device();
    const int64_t M = x.numel() / K;
    // x rounded to bf16 as the bf16 matmul rounds it (autocast style); bias and output f32.
    const Tensor A = x.to(DType::bf16).contiguous();                                       // [M, K]
    const Tensor b = bias.defined() ? detail::on_device(bias, DType::f32, dev).contiguous() : Tensor();  // [N]
    Shape out_shape = x.shape();
    out_shape.back() = N;
    Tensor out = Tensor::empty(out_shape, DType::f32, dev);  // [..., N]
    const auto* a16 = static_cast<const uint16_t*>(A.raw_data());       // bf16 bits [M, K]
    const auto* w16 = static_cast<const uint16_t*>(weight.raw_data());  // bf16 bits [N, K]
    kernels::cuda::gemm_bf16(a16, K, w16, K, /*b_is_nk=*/true, out.data<float>(), DType::f32, N,
                             b.defined() ? b.data<float>() : nullptr, gemm_activation(act), M, N, K, dev.index);
    return out;
  }
  // The transposed view, not a copy: matmul reads W^T through strides (a 16-bit W in place).
  Tensor y = matmul(x, transpose(weight, 0, 1));  // [..., N]
  if (bias.defined()) y = add(y, bias);
  return activate(y, act);
}

}  // namespace rscapret::ops
