// The linear layer, act(x @ W^T + b): composed of registered ops, with one fused GPU path for
// inference. It is not an entry of the op registry: its gradient is the composition's.
#include <atomic>
#include <numeric>
#include <optional>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tensor/feature_switch.h"

namespace rscapret::ops {

namespace {

std::atomic<bool> g_fused_linear{true};
std::atomic<bool> g_bf16_handoff{feature_enabled_by_env("bf16_handoff")};
std::atomic<bool> g_fused_residual{feature_enabled_by_env("fused_residual")};

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

// The fused GPU path (fuses() holds): one GEMM with bias and activation in its epilogue, the result
// in out_dtype (f32, or bf16 rounded as a cast rounds it).
Tensor fused_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act, DType out_dtype) {
  const Device dev = x.device();
  const int64_t N = weight.shape()[0], K = weight.shape()[1], M = x.numel() / K;
  const Tensor b = bias.defined() ? detail::on_device(bias, DType::f32, dev).contiguous() : Tensor();  // [N]
  const float* b32 = b.defined() ? b.data<float>() : nullptr;
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape, out_dtype, dev);  // [..., N]
  const auto* w16 = static_cast<const uint16_t*>(weight.raw_data());  // bf16 bits [N, K]
  // Decode (a few rows of f32): the kernel rounds x to bf16 as it reads it, one launch instead of
  // a cast and a product (same bits). f32 output only: the output the GPU runs have validated there.
  if (out_dtype == DType::f32 && x.dtype() == DType::f32 && x.is_contiguous() &&
      kernels::cuda::gemm_bf16_f32a(x.data<float>(), K, w16, K, out.raw_data(), out_dtype, N, b32,
                                    gemm_activation(act), M, N, K, dev.index))
    return out;
  // x rounded to bf16 as the bf16 matmul rounds it (autocast style); bias f32.
  const Tensor A = x.to(DType::bf16).contiguous();                // [M, K]
  const auto* a16 = static_cast<const uint16_t*>(A.raw_data());  // bf16 bits [M, K]
  kernels::cuda::gemm_bf16(a16, K, w16, K, /*b_is_nk=*/true, out.raw_data(), out_dtype, N, b32, gemm_activation(act),
                           M, N, K, dev.index);
  return out;
}

}  // namespace

void set_cuda_fused_linear(bool on) { g_fused_linear.store(on, std::memory_order_relaxed); }
void set_cuda_fused_residual(bool on) { g_fused_residual.store(on, std::memory_order_relaxed); }
void set_cuda_bf16_handoff(bool on) { g_bf16_handoff.store(on, std::memory_order_relaxed); }
bool cuda_bf16_handoff() { return g_bf16_handoff.load(std::memory_order_relaxed); }

bool linear_takes_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       std::initializer_list<const Tensor*> producer_params) {
  if (!cuda_bf16_handoff() || !weight.defined() || weight.dim() != 2) return false;
  // Exact only on our kernels: cuBLASLt may pick another algorithm (summation order) for a bf16 D.
  if (kernels::cuda::gemm_backend() == kernels::cuda::GemmBackend::cublas) return false;
  return fuses(x, weight, bias) && !autograd::needs_grad(producer_params);
}

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
  if (fuses(x, weight, bias)) return fused_linear(x, weight, bias, act, DType::f32);
  // The transposed view, not a copy: matmul reads W^T through strides (a 16-bit W in place).
  Tensor y = matmul(x, transpose(weight, 0, 1));  // [..., N]
  if (bias.defined()) y = add(y, bias);
  return activate(y, act);
}

Tensor linear_bf16_out(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  const bool ok = weight.dim() == 2 && x.dim() >= 1 && x.shape().back() == weight.shape()[1] &&
                  (!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == weight.shape()[0]));
  if (ok && fuses(x, weight, bias)) return fused_linear(x, weight, bias, act, DType::bf16);
  return cast(linear(x, weight, bias, act), DType::bf16);  // linear reports any bad shape
}

Tensor linear_add(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual) {
  const bool shapes_ok = weight.dim() == 2 && x.dim() >= 1 && x.shape().back() == weight.shape()[1] &&
                         (!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == weight.shape()[0]));
  if (shapes_ok && g_fused_residual.load(std::memory_order_relaxed) && fuses(x, weight, bias) &&
      residual.device() == x.device() && residual.dtype() == DType::f32 && residual.is_contiguous() &&
      !autograd::needs_grad({&residual})) {
    const int64_t N = weight.shape()[0], K = weight.shape()[1], M = x.numel() / K;
    Shape out_shape = x.shape();
    out_shape.back() = N;
    if (residual.shape() == out_shape) {
      const Tensor b = bias.defined() ? detail::on_device(bias, DType::f32, x.device()).contiguous() : Tensor();  // [N]
      const float* b32 = b.defined() ? b.data<float>() : nullptr;
      const auto* w16 = static_cast<const uint16_t*>(weight.raw_data());  // bf16 bits [N, K]
      Tensor out = Tensor::empty(out_shape, DType::f32, x.device());     // [..., N]
      const int dev = x.device().index;
      // Decode rows of f32: rounded to bf16 as the kernel loads them. Otherwise x in bf16 (the
      // handoff's attention output or fc1's, or a cast as linear makes).
      if (x.dtype() == DType::f32 && x.is_contiguous() &&
          kernels::cuda::gemm_bf16_f32a_residual(x.data<float>(), K, w16, K, out.data<float>(), N, b32,
                                                 residual.data<float>(), N, M, N, K, dev))
        return out;
      const Tensor A = x.to(DType::bf16).contiguous();  // [M, K]
      if (kernels::cuda::gemm_bf16_residual(static_cast<const uint16_t*>(A.raw_data()), K, w16, K, out.data<float>(), N,
                                            b32, residual.data<float>(), N, M, N, K, dev))
        return out;
      // The fused linear of A has the bits of linear(x) (it rounds x to bf16 first), without a second cast.
      return add(residual, linear(A, weight, bias));
    }
  }
  return add(residual, linear(x, weight, bias));  // linear reports any bad shape
}

namespace {

// The kernel's view of an InputRmsNorm on x's device, K wide, nothing to differentiate; nullopt
// where the kernel cannot take it (the caller then runs rms_norm first).
std::optional<kernels::cuda::RmsNormOnLoad> norm_on_load(const InputRmsNorm& norm, const Tensor& x, int64_t K) {
  const Tensor& w = norm.weight;
  if (!x.device().is_cuda() || !kernels::cuda::gemv_takes_rms_norm(K) || !w.defined() || w.dim() != 1 ||
      w.shape()[0] != K || w.device() != x.device() || !w.is_contiguous() ||
      (w.dtype() != DType::f32 && w.dtype() != DType::bf16) || autograd::needs_grad({&w}))
    return std::nullopt;
  kernels::cuda::RmsNormOnLoad n;
  if (w.dtype() == DType::f32) n.w = w.data<float>();
  else n.w_bf16 = static_cast<const uint16_t*>(w.raw_data());
  n.eps = float(norm.eps);  // as rms_norm passes it to its kernel
  return n;
}

}  // namespace

Tensor decode_linears(const Tensor& x, const std::vector<Tensor>& weights, const InputRmsNorm* norm) {
  if (weights.empty() || weights.size() > 3 || x.dtype() != DType::f32 || !x.is_contiguous() || x.dim() < 1) return {};
  const int64_t K = x.shape().back();
  std::optional<kernels::cuda::RmsNormOnLoad> on_load;
  if (norm && !(on_load = norm_on_load(*norm, x, K))) return {};
  std::vector<const uint16_t*> w16;
  std::vector<int64_t> n;
  if (K == 0 || x.numel() / K > 8) return {};  // the one-kernel path takes at most 8 rows
  for (const Tensor& w : weights) {
    if (w.dim() != 2 || w.shape()[1] != K || !fuses(x, w, Tensor())) return {};
    w16.push_back(static_cast<const uint16_t*>(w.raw_data()));
    n.push_back(w.shape()[0]);
  }
  const int64_t M = x.numel() / K, total = std::accumulate(n.begin(), n.end(), int64_t(0));
  Shape out_shape = x.shape();
  out_shape.back() = total;
  Tensor out = Tensor::empty(out_shape, DType::f32, x.device());  // [..., total]
  if (!kernels::cuda::gemm_bf16_f32a_concat(x.data<float>(), K, w16.data(), n.data(), int(n.size()), K,
                                            out.data<float>(), M, K, x.device().index, on_load ? &*on_load : nullptr))
    return {};
  return out;
}

Tensor gated_linear(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Activation act,
                    const InputRmsNorm* norm) {
  // The one-kernel path: 2-D weights of one shape, at most 8 rows of contiguous f32 (checked before
  // fuses(), which reads the weight's second dimension, and before any allocation).
  const bool decode = w_gate.dim() == 2 && w_up.dim() == 2 && w_gate.shape() == w_up.shape() &&
                      x.dtype() == DType::f32 && x.is_contiguous() && x.dim() >= 1 &&
                      x.shape().back() == w_gate.shape()[1] && w_gate.shape()[1] > 0 &&
                      x.numel() / w_gate.shape()[1] <= 8;
  const auto on_load = decode && norm ? norm_on_load(*norm, x, w_gate.shape()[1]) : std::nullopt;
  if (decode && (!norm || on_load) && fuses(x, w_gate, Tensor()) && fuses(x, w_up, Tensor())) {
    const int64_t N = w_gate.shape()[0], K = w_gate.shape()[1], M = x.numel() / K;
    Shape out_shape = x.shape();
    out_shape.back() = N;
    Tensor out = Tensor::empty(out_shape, DType::f32, x.device());  // [..., N]
    if (kernels::cuda::gemm_bf16_f32a_glu(x.data<float>(), K, static_cast<const uint16_t*>(w_gate.raw_data()),
                                          static_cast<const uint16_t*>(w_up.raw_data()), K, out.data<float>(), N,
                                          gemm_activation(act), M, N, K, x.device().index,
                                          on_load ? &*on_load : nullptr))
      return out;
  }
  if (norm) return gated_linear(rms_norm(x, norm->weight, norm->eps), w_gate, w_up, act);
  return mul(linear(x, w_gate, Tensor(), act), linear(x, w_up));
}

}  // namespace rscapret::ops
