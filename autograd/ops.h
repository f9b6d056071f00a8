// The ops: shape rule and dtype/device checks, then dispatch to a kernel (CPU SIMD, CPU scalar
// reference, or CUDA). Every function here has an entry in the op registry (registry.h).
//
// Dtypes: float ops compute in f32, or in f64 when an input is f64 (the gradient checks);
// bf16/f16 inputs are read as f32. Integer tensors hold ids (i32/i64) and masks are bool.
#pragma once

#include <optional>
#include <vector>

#include "kernels/kernel_types.h"
#include "tensor/tensor.h"

namespace rscapret::ops {

using kernels::RopeLayout;

// ---- differentiable views and copies (the Tensor methods of the same names are raw: they carry
// no autograd state). Models use these.
Tensor detach(const Tensor& x);  // same storage, no autograd state
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor transpose(const Tensor& x, int d0, int d1);
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int dim, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int dim);
Tensor unsqueeze(const Tensor& x, int dim);
Tensor contiguous(const Tensor& x);

// ---- elementwise ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor gelu_erf(const Tensor& x);   // exact GELU (erf form)
Tensor gelu_tanh(const Tensor& x);  // tanh approximation
Tensor quick_gelu(const Tensor& x); // x * sigmoid(1.702 x), CLIP's activation
Tensor silu(const Tensor& x);
Tensor pow_scalar(const Tensor& x, double exponent);

Tensor add(const Tensor& a, const Tensor& b);  // broadcasting
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
// Derivatives of the activations (kernels of their vjps): d/dx f(x).
Tensor gelu_erf_grad(const Tensor& x);
Tensor gelu_tanh_grad(const Tensor& x);
Tensor quick_gelu_grad(const Tensor& x);
Tensor silu_grad(const Tensor& x);

Tensor eq(const Tensor& a, const Tensor& b);  // -> bool, broadcasting; also i32/i64 inputs
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond bool; broadcasting
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- reductions over one axis (keepdim keeps it as size 1) ----
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);
Tensor max(const Tensor& x, int dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int dim, bool keepdim = false);  // -> i64, first maximum
Tensor logsumexp(const Tensor& x, int dim, bool keepdim = false);
Tensor softmax(const Tensor& x, int dim);
Tensor log_softmax(const Tensor& x, int dim);
Tensor sum_all(const Tensor& x);  // -> 0-d

// ---- normalisation and position ----
// Over the last dim; weight/bias of shape [C] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);
// Attention's rope and KV-cache write at inference in one GPU launch: writes rope(k) into k_dst and v
// into v_dst (k_dst, v_dst [B, Hkv, T, D]: rows of a cache buffer) and returns rope(q) [B, T, H, D],
// each with the bits of rope() and a copy. q [B, T, H, D], k and v [B, T, Hkv, D]; positions as
// rope's. Undefined, writing nothing, where it does not apply (not all f32 on one GPU with D
// contiguous, a gradient wanted, the fused path switched off): then call rope and copy.
Tensor rope_append(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, double theta,
                   RopeLayout layout, int64_t rotary_dim, Tensor& k_dst, Tensor& v_dst);
void set_cuda_fused_rope_append(bool on);  // default on; off for the benchmark's before/after
bool cuda_fused_rope_append();
// layer_norm with y handed on in bf16: the value of cast(layer_norm(...), bf16), written as bf16 by
// the GPU kernel itself at inference (the bf16 handoff to a consumer that rounds to bf16 anyway).
Tensor layer_norm_bf16_out(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// x [B, T, H, D]; positions i64 [T] or [B, T]. Rotates the first rotary_dim (default D) features.
// inverse = true rotates by the negative angle (the rotation's transpose, used by the backward).
Tensor rope(const Tensor& x, const Tensor& positions, double theta, RopeLayout layout,
            int64_t rotary_dim = -1, bool inverse = false);

// ---- gather, concatenation, casts ----
Tensor embedding(const Tensor& weight, const Tensor& ids);  // weight [V, C] any float -> [..., C]
Tensor index_select(const Tensor& x, int dim, const Tensor& index);  // index i32/i64 1-D
// out = x with out.select(dim, index[i]) += src.select(dim, i) for each i, in index order
// (deterministic). The vjp of embedding and index_select.
Tensor index_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src);
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor stack(const std::vector<Tensor>& xs, int dim);
Tensor cast(const Tensor& x, DType dtype);

// ---- matmul: a [..., M, K] @ b [..., K, N], batch dims broadcast; 1-D operands as in NumPy.
// f32 through OpenBLAS; 16-bit weights through kernels::gemm (kernels/cpu/gemm.h), never copied
// to f32 whole.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- linear layer: act(x @ weight^T + bias) ----
enum class Activation : uint8_t { none, quick_gelu, gelu_erf, gelu_tanh, silu };
Tensor activate(const Tensor& x, Activation act);  // the elementwise op named by act (none: x)
// x [..., K], weight [N, K] (the Linear layout), bias [N] or undefined -> [..., N]. Composed of the
// ops above (matmul, add, activate), except on a GPU with bf16 weights where no gradient is wanted:
// there one GEMM applies bias and activation in its epilogue (kernels/cuda/gemm_epilogue.cuh).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, Activation act = Activation::none);
// An RMSNorm (weight [K], eps) that gated_linear and decode_linears apply to their input first:
// rms_norm(x, weight, eps). At decode on a GPU their kernel applies it as it loads x, with the bits
// of rms_norm's output (LLaMA's widths, K > 1024; kernels::cuda::RmsNormOnLoad), one launch fewer.
struct InputRmsNorm {
  Tensor weight;  // [K]
  double eps = 1e-5;
};
// The gated MLP's first half: act(x W_gate^T) * (x W_up^T) [..., N] for weights [N, K] without
// bias. On a GPU at decode (a few rows, bf16 weights, no gradient) one kernel computes it with the
// bits of the composed ops; elsewhere it is those ops. With norm, x is normalised first
// (rms_norm(x, norm->weight, norm->eps), in the kernel where it can be).
Tensor gated_linear(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Activation act,
                    const InputRmsNorm* norm = nullptr);
// x [..., K] times up to three weights [N_i, K] without bias in one GPU kernel at decode (a few
// rows of f32, bf16 weights, no gradient): [..., N_0 + N_1 + ..] holding each linear(x, w_i) in
// turn (q, k and v of an attention layer). Undefined when that kernel does not apply: then call
// linear for each weight. With norm, of rms_norm(x, norm->weight, norm->eps) applied in the kernel;
// undefined also where the kernel cannot apply it (then normalise x and call again). Whether the
// kernels may apply the norm: kernels::cuda::set_cuda_norm_in_gemv.
Tensor decode_linears(const Tensor& x, const std::vector<Tensor>& weights, const InputRmsNorm* norm = nullptr);
// residual + linear(x, weight, bias): the residual stream's update (o_proj, down_proj, fc2). On a GPU
// with bf16 weights, no gradient and an f32 residual of the output's shape, the product's epilogue
// adds the residual (the decode kernel for a few rows, the wgmma kernel for the shapes it takes),
// with the bits of the composed ops; elsewhere it is those ops (differentiable).
Tensor linear_add(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual);
// Whether linear_add may add in the epilogue (default on; off for the benchmark's before/after).
void set_cuda_fused_residual(bool on);
// Whether linear may fuse on the GPU (default on; off for the benchmark that measures the difference).
void set_cuda_fused_linear(bool on);
// linear with its result handed on in bf16: the value of cast(linear(x, weight, bias, act), bf16).
// Where linear fuses, the GEMM's epilogue writes the bf16 result itself (no f32 pass and no cast
// pass); elsewhere it is that composition (differentiable).
Tensor linear_bf16_out(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                       Activation act = Activation::none);
// The bf16 handoff. The fused GPU linear rounds its input to bf16 as it reads it, so whoever makes
// that input may make it in bf16 directly (half the bytes, no cast pass) and every result keeps its
// bits. True when linear(x', weight, bias) will fuse for an x' on x's device and of x's grad state
// that the producer computes from x with `producer_params`: gradients off (or nothing to
// differentiate) and the handoff switched on.
bool linear_takes_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       std::initializer_list<const Tensor*> producer_params = {});
// Whether the bf16 handoff may be used (default on; off for the test and the benchmark that compare).
void set_cuda_bf16_handoff(bool on);
bool cuda_bf16_handoff();

// ---- q8_0 weights (format: kernels/cpu/quant_q8.h): codes i8 [N, K], scales f32 [N, ceil(K / 32)] ----
struct Q8Weight {
  Tensor codes;   // i8 [N, K]
  Tensor scales;  // f32 [N, ceil(K / 32)]
};
// Quantizes a floating weight [N, K] (on the CPU; the result goes back to the weight's device).
// A NaN or infinity in it is a ValueError.
Q8Weight quantize_q8(const Tensor& weight);
// dequant(W) f32 [N, K], composed of registered ops (cast, mul, views): linear_q8's oracle and its
// GPU path (a GPU keeps no q8 kernel of its own: q8_0 is the CPU's deployment format).
Tensor dequantize_q8(const Tensor& codes, const Tensor& scales);
// x [..., K] @ dequant(W)^T -> [..., N], f32 (f64 when x is). On the CPU the codes are read in
// place (kernels::gemm_q8). Differentiable in x only: quantized weights are frozen, and scales
// that require a gradient are refused.
Tensor linear_q8(const Tensor& x, const Tensor& codes, const Tensor& scales);

// ---- losses ----
// logits [..., V], targets int [...]: mean over targets != ignore_index (NaN when none is valid,
// as PyTorch). Returns a 0-d tensor.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
Tensor cross_entropy_composed(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);

// ---- attention ----
struct AttentionOptions {
  bool causal = false;
  Tensor key_keep;                  // bool [B, Tk]: false masks a key (padding); may be undefined
  std::optional<double> scale;      // default 1 / sqrt(D)
  // The output in bf16: the value of cast(attention(...), bf16). The bf16 tensor-core kernels make
  // it so at inference (no f32 copy); elsewhere it is that composition.
  bool bf16_out = false;
};
// q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] -> [B, H, Tq, Dv]; H % Hkv == 0 (GQA).
// Causal: query i is at position Tk - Tq + i (so decoding with a KV cache needs no offset).
// A query that sees no key gets zeros.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt = {});
// Whether attention of head sizes D (queries, keys) and Dv (values) on `device` with opt's mask runs
// the bf16 tensor-core kernels (CUDA, bf16 autocast on, D = Dv in {64, 128}, no key mask), which
// round q, k and v to bf16 as they take them: their producers may then hand them over in bf16 with
// the same result (the bf16 handoff, see linear_takes_bf16).
bool attention_takes_bf16(Device device, int64_t D, int64_t Dv, const AttentionOptions& opt);
// The same, composed of primitives (matmul, softmax, where): the fused kernel's oracle.
Tensor attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt = {});

}  // namespace rscapret::ops
