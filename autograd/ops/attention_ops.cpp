// Scaled-dot-product attention: fused kernel and its composed twin.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

namespace {

struct AttnShape {
  int64_t B, H, Hkv, Tq, Tk, D, Dv;
  double scale;
};

AttnShape check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt) {
  const char* op = "attention";
  detail::common_device(op, {&q, &k, &v});  // key_keep may be a host mask: it travels with the launch
  RS_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, ShapeError, op, "q, k, v must be 4-D [B, H, T, D], got ",
           format_shape(q.shape()), ", ", format_shape(k.shape()), ", ", format_shape(v.shape()));
  AttnShape s{q.shape()[0], q.shape()[1], k.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3], 0};
  RS_CHECK(k.shape()[0] == s.B && v.shape()[0] == s.B && v.shape()[1] == s.Hkv && v.shape()[2] == s.Tk &&
               k.shape()[3] == s.D,
           ShapeError, op, "incompatible q ", format_shape(q.shape()), ", k ", format_shape(k.shape()), ", v ",
           format_shape(v.shape()));
  RS_CHECK(s.Hkv > 0 && s.H % s.Hkv == 0, ShapeError, op, "query heads ", s.H, " must be a multiple of key heads ",
           s.Hkv);
  RS_CHECK(!opt.causal || s.Tq <= s.Tk, ShapeError, op, "causal attention needs Tq <= Tk, got ", s.Tq, " > ", s.Tk);
  if (opt.key_keep.defined()) {
    RS_CHECK(opt.key_keep.dtype() == DType::boolean, DTypeError, op, "key_keep must be bool, got ",
             opt.key_keep.describe());
    RS_CHECK(opt.key_keep.shape() == Shape({s.B, s.Tk}), ShapeError, op, "key_keep must be [B, Tk] = [", s.B, ", ",
             s.Tk, "], got ", format_shape(opt.key_keep.shape()));
  }
  s.scale = opt.scale.value_or(1.0 / std::sqrt(double(s.D)));
  return s;
}

// GQA: repeat each key/value head H / Hkv times -> [B, H, Tk, D] (differentiable).
Tensor repeat_kv_heads(const Tensor& t, int64_t H) {
  const int64_t Hkv = t.shape()[1], group = H / Hkv;
  if (group == 1) return t;
  const Shape e = {t.shape()[0], Hkv, group, t.shape()[2], t.shape()[3]};
  return reshape(expand(unsqueeze(t, 2), e), {t.shape()[0], H, t.shape()[2], t.shape()[3]});
}

// Attention weights P [B, H, Tq, Tk] = softmax of the masked scaled scores, rows with no visible
// key set to zeros. K is already repeated to H heads.
Tensor attention_probs(const Tensor& q, const Tensor& K, const AttnShape& s, const AttentionOptions& opt) {
  Tensor scores = mul(matmul(q, transpose(K, -2, -1)), s.scale);  // [B, H, Tq, Tk]
  // visible[b, 0, i, j] = 1 when query i may see key j (causal and padding), else 0.
  const DType ct = scores.dtype();
  const Device dev = q.device();
  Tensor visible = Tensor::full({s.B, 1, s.Tq, s.Tk}, 1.0, ct, dev);
  if (opt.causal) {
    const Tensor qpos = add(Tensor::arange(s.Tq, ct).to(dev), double(s.Tk - s.Tq)).view({s.Tq, 1});
    const Tensor kpos = Tensor::arange(s.Tk, ct).to(dev).view({1, s.Tk});
    visible = mul(visible, where(le(kpos, qpos), Tensor::scalar(1.0, ct), Tensor::scalar(0.0, ct)));
  }
  if (opt.key_keep.defined())
    visible = mul(visible, where(opt.key_keep.to(dev).view({s.B, 1, 1, s.Tk}), Tensor::scalar(1.0, ct),
                                 Tensor::scalar(0.0, ct)));
  scores = masked_fill(scores, eq(visible, Tensor::scalar(0.0, ct)), -std::numeric_limits<double>::infinity());
  const Tensor probs = softmax(scores, -1);
  // A row with no visible key is all -inf, NaN after softmax; the documented answer is zeros.
  const Tensor any_visible = gt(max(visible, -1, true), Tensor::scalar(0.5, ct));
  return where(any_visible, probs, Tensor::scalar(0.0, ct));
}

using Grads = std::vector<Tensor>;

// The flash kernel's row strides of a bf16 [B, heads, rows, D] tensor it can read in place (D
// contiguous, 16-byte aligned rows), else nullopt. A dim of size 1 contributes no offset.
std::optional<kernels::cuda::AttentionRowStrides> readable_in_place(const Tensor& t) {
  if (t.dtype() != DType::bf16 || t.dim() != 4 || t.strides()[3] != 1 ||
      reinterpret_cast<uintptr_t>(t.raw_data()) % 16 != 0)
    return std::nullopt;
  auto stride = [&](int d) { return t.shape()[size_t(d)] == 1 ? 0 : t.strides()[size_t(d)]; };
  const kernels::cuda::AttentionRowStrides st{stride(0), stride(1), t.shape()[2] == 1 ? t.shape()[3] : t.strides()[2]};
  if (st.b % 8 || st.h % 8 || st.t % 8 || st.t < t.shape()[3]) return std::nullopt;
  return st;
}

// Inference (no gradient), Q, K, V in bf16: read where they lie (the projections' [B, T, H, D]
// outputs seen as [B, H, T, D]) and out written as [B, T, H, D], returned as its [B, H, T, D] view,
// so the caller's transpose back is free. Undefined where an operand's layout does not allow it.
Tensor cuda_attention_bf16_in_place(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionOptions& opt,
                                    const AttnShape& s) {
  const Device dev = Q.device();
  const auto qs = readable_in_place(Q), ks = readable_in_place(K), vs = readable_in_place(V);
  if (!qs || !ks || !vs) return {};
  Tensor out = Tensor::empty({s.B, s.Tq, s.H, s.D}, DType::bf16, dev);  // [B, Tq, H, D]
  Tensor lse = Tensor::empty({s.B, s.H, s.Tq}, DType::f32, dev);
  const kernels::cuda::AttentionRowStrides os{s.Tq * s.H * s.D, s.D, s.H * s.D};
  auto bits = [](const Tensor& t) { return static_cast<uint16_t*>(t.raw_data()); };
  kernels::cuda::flash_attention_bf16_forward_strided(bits(Q), *qs, bits(K), *ks, bits(V), *vs, bits(out), os,
                                                      lse.data<float>(), s.B, s.H, s.Hkv, s.Tq, s.Tk, s.D,
                                                      float(s.scale), opt.causal, dev.index);
  return out.transpose(1, 2);  // [B, H, Tq, D]
}

// bf16 autocast on CUDA: the tensor-core flash kernels, q/k/v rounded to bf16; out back in f32.
// bf16_result (only without gradients): return the kernel's bf16 output itself.
Tensor cuda_attention_bf16(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt,
                           const AttnShape& s, bool bf16_result = false) {
  const Device dev = q.device();
  const Tensor q16 = q.to(DType::bf16), k16 = k.to(DType::bf16), v16 = v.to(DType::bf16);
  if (!autograd::needs_grad({&q, &k, &v})) {
    const Tensor in_place = cuda_attention_bf16_in_place(q16, k16, v16, opt, s);
    if (in_place.defined()) return bf16_result ? in_place : in_place.to(DType::f32);
  }
  const Tensor Q = q16.contiguous(), K = k16.contiguous(), V = v16.contiguous();
  Tensor out16 = Tensor::empty({s.B, s.H, s.Tq, s.D}, DType::bf16, dev);
  Tensor lse = Tensor::empty({s.B, s.H, s.Tq}, DType::f32, dev);
  auto bits = [](const Tensor& t) { return static_cast<uint16_t*>(t.raw_data()); };
  kernels::cuda::flash_attention_bf16_forward(bits(Q), bits(K), bits(V), bits(out16), lse.data<float>(), s.B, s.H,
                                              s.Hkv, s.Tq, s.Tk, s.D, float(s.scale), opt.causal, dev.index);
  if (bf16_result) {
    RS_ASSERT(!autograd::needs_grad({&q, &k, &v}), "the bf16 attention output is for inference");
    return out16;
  }
  Tensor out = out16.to(DType::f32);
  if (!autograd::needs_grad({&q, &k, &v})) return out;
  return autograd::record("attention", out, {&q, &k, &v},
                          [Q, K, V, out16, lse, s, causal = opt.causal, bits](const Tensor& g) {
    const Tensor dO = g.to(DType::bf16).contiguous();
    const Device d = Q.device();
    Tensor dQ = Tensor::empty(Q.shape(), DType::bf16, d), dK = Tensor::empty(K.shape(), DType::bf16, d),
           dV = Tensor::empty(V.shape(), DType::bf16, d);
    kernels::cuda::flash_attention_bf16_backward(bits(Q), bits(K), bits(V), bits(out16), bits(dO), lse.data<float>(),
                                                 bits(dQ), bits(dK), bits(dV), s.B, s.H, s.Hkv, s.Tq, s.Tk, s.D,
                                                 float(s.scale), causal, d.index);
    return Grads{dQ.to(DType::f32), dK.to(DType::f32), dV.to(DType::f32)};
  });
}

// The CUDA path: the flash-style kernel writes out and the log-sum-exp per query; the backward
// kernel recomputes the weights from them (nothing of size Tq x Tk is stored).
// Rows per (batch, head) when k [B, Hkv, Tk, D] and v [B, Hkv, Tk, Dv] (dtype ct) are the first Tk
// rows of buffers [B, Hkv, cap, D] that are otherwise contiguous, with the same cap; else 0.
int64_t cache_rows(const Tensor& k, const Tensor& v, DType ct) {
  if (k.dtype() != ct || v.dtype() != ct || k.dim() != 4 || v.dim() != 4) return 0;
  const int64_t D = k.shape()[3], Dv = v.shape()[3];
  if (D == 0 || Dv == 0 || k.stride(3) != 1 || v.stride(3) != 1 || k.stride(2) != D || v.stride(2) != Dv) return 0;
  const int64_t cap = k.stride(1) / D;
  if (cap < k.shape()[2] || k.stride(1) != cap * D || v.stride(1) != cap * Dv) return 0;
  if (k.stride(0) != k.shape()[1] * cap * D || v.stride(0) != v.shape()[1] * cap * Dv) return 0;
  return cap == k.shape()[2] ? 0 : cap;  // a contiguous tensor needs no special case
}

Tensor cuda_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt,
                      const AttnShape& s) {
  const Device dev = q.device();
  const DType ct = detail::cuda_compute_dtype("attention", {&q, &k, &v});
  const bool grad = autograd::needs_grad({&q, &k, &v});
  // Decode reads the KV cache in place: its keys and values are the first Tk rows of buffers with
  // room for more ([B, Hkv, capacity, D] narrowed), which the kernel takes with their row count
  // instead of a contiguous copy of each per layer and token.
  const int64_t cap = grad ? 0 : cache_rows(k, v, ct);
  const Tensor Q = detail::as_dtype(q, ct).contiguous();
  const Tensor K = cap ? k : detail::as_dtype(k, ct).contiguous(), V = cap ? v : detail::as_dtype(v, ct).contiguous();
  const Tensor keep = opt.key_keep.defined() ? detail::on_device(opt.key_keep, DType::boolean, dev).contiguous()
                                             : Tensor();
  Tensor out = Tensor::empty({s.B, s.H, s.Tq, s.Dv}, ct, dev);
  Tensor lse = Tensor::empty({s.B, s.H, s.Tq}, ct, dev);
  const bool* kp = keep.defined() ? keep.data<bool>() : nullptr;
  kernels::cuda::attention_forward(Q.data<float>(), K.data<float>(), V.data<float>(), kp, out.data<float>(),
                                   lse.data<float>(), s.B, s.H, s.Hkv, s.Tq, s.Tk, s.D, s.Dv, float(s.scale),
                                   opt.causal, dev.index, cap);
  if (!grad) return out;
  return autograd::record("attention", out, {&q, &k, &v},
                          [Q = detach(Q), K = detach(K), V = detach(V), O = out, lse, keep, s, causal = opt.causal](
                              const Tensor& g) {
    const Tensor dO = g.contiguous();
    Tensor dQ = Tensor::empty(Q.shape(), DType::f32, Q.device()), dK = Tensor::empty(K.shape(), DType::f32, Q.device()),
           dV = Tensor::empty(V.shape(), DType::f32, Q.device());
    kernels::cuda::attention_backward(Q.data<float>(), K.data<float>(), V.data<float>(),
                                      keep.defined() ? keep.data<bool>() : nullptr, O.data<float>(), dO.data<float>(),
                                      lse.data<float>(), dQ.data<float>(), dK.data<float>(), dV.data<float>(), s.B,
                                      s.H, s.Hkv, s.Tq, s.Tk, s.D, s.Dv, float(s.scale), causal, Q.device().index);
    return Grads{dQ, dK, dV};
  });
}

}  // namespace

bool attention_takes_bf16(Device device, int64_t D, int64_t Dv, const AttentionOptions& opt) {
  return device.is_cuda() && cuda_autocast_bf16() && D == Dv && (D == 64 || D == 128) && !opt.key_keep.defined();
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt) {
  const AttnShape s = check_attention(q, k, v, opt);
  const bool tensor_cores = attention_takes_bf16(q.device(), s.D, s.Dv, opt) && s.Tq > 0 && s.Tk > 0;
  if (opt.bf16_out) {
    if (tensor_cores && !autograd::needs_grad({&q, &k, &v})) return cuda_attention_bf16(q, k, v, opt, s, true);
    AttentionOptions f32_out = opt;
    f32_out.bf16_out = false;
    return cast(attention(q, k, v, f32_out), DType::bf16);
  }
  if (q.device().is_cuda())
    return tensor_cores ? cuda_attention_bf16(q, k, v, opt, s) : cuda_attention(q, k, v, opt, s);
  const DType ct = detail::compute_dtype("attention", {&q, &k, &v});
  const Tensor Q = detail::as_dtype(q, ct).contiguous(), K = detail::as_dtype(k, ct).contiguous(),
               V = detail::as_dtype(v, ct).contiguous();
  const Tensor keep = opt.key_keep.defined() ? opt.key_keep.to(Device::cpu()).contiguous() : Tensor();
  const bool* kp = keep.defined() ? keep.data<bool>() : nullptr;
  Tensor out = Tensor::empty({s.B, s.H, s.Tq, s.Dv}, ct);
  if (ct == DType::f64)
    kernels::ref::attention<double>(Q.data<double>(), K.data<double>(), V.data<double>(), kp, out.data<double>(), s.B,
                                    s.H, s.Hkv, s.Tq, s.Tk, s.D, s.Dv, s.scale, opt.causal);
  else if (reference_kernels_forced())
    kernels::ref::attention<float>(Q.data<float>(), K.data<float>(), V.data<float>(), kp, out.data<float>(), s.B, s.H,
                                   s.Hkv, s.Tq, s.Tk, s.D, s.Dv, float(s.scale), opt.causal);
  else
    kernels::simd::attention(Q.data<float>(), K.data<float>(), V.data<float>(), kp, out.data<float>(), s.B, s.H,
                             s.Hkv, s.Tq, s.Tk, s.D, s.Dv, float(s.scale), opt.causal);
  if (!autograd::needs_grad({&q, &k, &v})) return out;
  // Backward by recomputing the weights P (nothing of size Tq x Tk is kept from the forward):
  //   dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)), dQ = s dS K, dK = s dS^T Q,
  // with the GQA head groups summed back onto their key/value head.
  return autograd::record("attention", out, {&q, &k, &v},
                          [Q = detach(Q), K = detach(K), V = detach(V), s, opt](const Tensor& g) {
    const Tensor Kr = repeat_kv_heads(K, s.H), Vr = repeat_kv_heads(V, s.H);
    const Tensor P = attention_probs(Q, Kr, s, opt);
    const Tensor dP = matmul(g, Vr.transpose(-2, -1));
    const Tensor dS = mul(P, sub(dP, sum(mul(dP, P), -1, true)));
    const Tensor dQ = mul(matmul(dS, Kr), s.scale);
    Tensor dK = mul(matmul(dS.transpose(-2, -1), Q), s.scale);
    Tensor dV = matmul(P.transpose(-2, -1), g);
    const int64_t group = s.H / s.Hkv;
    if (group > 1) {
      dK = sum(dK.view({s.B, s.Hkv, group, s.Tk, s.D}), 2);
      dV = sum(dV.view({s.B, s.Hkv, group, s.Tk, s.Dv}), 2);
    }
    return Grads{dQ, dK, dV};
  });
}

Tensor attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt) {
  const AttnShape s = check_attention(q, k, v, opt);
  return matmul(attention_probs(q, repeat_kv_heads(k, s.H), s, opt), repeat_kv_heads(v, s.H));
}

void register_attention_ops(std::vector<OpInfo>& out) {
  out.push_back({"attention", "attention", true, true, true});
}

}  // namespace rscapret::ops
