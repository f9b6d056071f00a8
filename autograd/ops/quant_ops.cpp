// q8_0 weights: quantization, the composed dequantization, and linear_q8 (x @ dequant(W)^T) with
// its input gradient. CPU kernels in kernels/cpu/quant_q8; the scalar reference in
// kernels/cpu/ref/quant_ref.cpp (also the f64 path).
#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/quant_q8.h"
#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::ops {

namespace {

// Shapes and dtypes of a q8_0 weight; returns {N, K}.
std::pair<int64_t, int64_t> check_q8(const char* op, const Tensor& codes, const Tensor& scales) {
  RS_CHECK(codes.defined() && scales.defined(), ValueError, op, "codes and scales must both be given");
  RS_CHECK(codes.dtype() == DType::i8 && codes.dim() == 2, DTypeError, op, "codes must be i8 [N, K], got ",
           codes.describe());
  const int64_t N = codes.shape()[0], K = codes.shape()[1];
  RS_CHECK(scales.dtype() == DType::f32 && scales.dim() == 2 && scales.shape()[0] == N &&
               scales.shape()[1] == kernels::q8_blocks(K),
           ShapeError, op, "scales must be f32 [", N, ", ", kernels::q8_blocks(K), "] for codes ",
           format_shape(codes.shape()), ", got ", scales.describe());
  RS_CHECK(codes.device() == scales.device(), DeviceError, op, "codes and scales on different devices: ",
           codes.describe(), " vs ", scales.describe());
  RS_CHECK(!scales.requires_grad(), ValueError, op,
           "q8_0 weights are frozen: scales that require a gradient cannot be trained");
  return {N, K};
}

// Reference product in T: x [M, K] contiguous -> out [M, N].
template <typename T>
void reference_product(const Tensor& x, const Tensor& codes, const Tensor& scales, Tensor& out, int64_t M, int64_t N,
                       int64_t K) {
  kernels::ref::matmul_q8<T>(x.data<T>(), K, codes.data<int8_t>(), scales.data<float>(), out.data<T>(), M, N, K);
}

}  // namespace

Q8Weight quantize_q8(const Tensor& weight) {
  RS_CHECK(weight.dim() == 2 && is_floating(weight.dtype()) && weight.dtype() != DType::f64, DTypeError,
           "quantize_q8", "weight must be f32, bf16 or f16 [N, K], got ", weight.describe());
  const Tensor w = weight.to(Device::cpu()).contiguous();
  const int64_t N = w.shape()[0], K = w.shape()[1];
  Q8Weight q{Tensor::empty({N, K}, DType::i8), Tensor::empty({N, kernels::q8_blocks(K)}, DType::f32)};
  kernels::quantize_q8({w.raw_data(), w.dtype(), K, 1}, N, K, q.codes.data<int8_t>(), q.scales.data<float>());
  if (weight.device().is_cuda()) q = {q.codes.to(weight.device()), q.scales.to(weight.device())};
  return q;
}

Tensor dequantize_q8(const Tensor& codes, const Tensor& scales) {
  const auto [N, K] = check_q8("dequantize_q8", codes, scales);
  const int64_t blocks = kernels::q8_blocks(K);
  // Each scale repeated over its block of 32, the last block cut to K: [N, K].
  const Tensor per_weight = narrow(reshape(expand(unsqueeze(scales, 2), {N, blocks, kernels::kQ8Block}),
                                           {N, blocks * kernels::kQ8Block}),
                                   1, 0, K);
  return mul(cast(codes, DType::f32), per_weight);  // [N, K]
}

Tensor linear_q8(const Tensor& x, const Tensor& codes, const Tensor& scales) {
  const auto [N, K] = check_q8("linear_q8", codes, scales);
  RS_CHECK(x.dim() >= 1 && x.shape().back() == K, ShapeError, "linear_q8", "input ", format_shape(x.shape()),
           " must end in K = ", K, " (codes ", format_shape(codes.shape()), ")");
  const Device dev = detail::common_device("linear_q8", {&x, &codes});
  if (dev.is_cuda()) {
    detail::cuda_compute_dtype("linear_q8", {&x});
    return matmul(x, transpose(dequantize_q8(codes, scales), 0, 1));  // [..., N]; autograd by composition
  }
  const DType ct = detail::compute_dtype("linear_q8", {&x});
  const int64_t M = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));  // rows, even when K = 0
  const Tensor x2 = detail::as_dtype(x, ct).contiguous();  // [M, K]
  const Tensor c = codes.contiguous(), s = scales.contiguous();
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape, ct);  // [..., N]
  if (ct == DType::f64) {
    reference_product<double>(x2, c, s, out, M, N, K);
  } else if (reference_kernels_forced()) {
    reference_product<float>(x2, c, s, out, M, N, K);
  } else {
    kernels::gemm_q8(x2.data<float>(), K, {c.data<int8_t>(), s.data<float>(), N, K}, M, out.data<float>());
  }
  if (!autograd::needs_grad({&x})) return out;
  // dx = g @ dequant(W): the transposed q8 product in f32; f64 and the forced references multiply
  // by the composed dequantization (matmul's reference path).
  return autograd::record("linear_q8", out, {&x, &codes, &scales},
                          [c, s, xs = x.shape(), ct, N = N, K = K](const Tensor& g) {
    Tensor gx;
    if (ct == DType::f32 && !reference_kernels_forced()) {
      const Tensor g2 = g.to(DType::f32).contiguous();  // [M, N]
      const int64_t M = shape_numel(Shape(xs.begin(), xs.end() - 1));  // rows, even when N = 0
      gx = Tensor::empty(xs, DType::f32);
      kernels::gemm_q8_transposed(g2.data<float>(), {c.data<int8_t>(), s.data<float>(), N, K}, M, gx.data<float>());
    } else {
      gx = matmul(g, cast(dequantize_q8(c, s), ct)).reshape(xs);
    }
    return std::vector<Tensor>{gx, Tensor(), Tensor()};
  });
}

void register_quant_ops(std::vector<OpInfo>& out) { out.push_back({"linear_q8", "matmul", true, true, true}); }

}  // namespace rscapret::ops
