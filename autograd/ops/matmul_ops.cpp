// Batched, broadcasting matmul. f32 and 16-bit operands through kernels::gemm (OpenBLAS, our packed
// 16-bit kernels); the scalar reference and f64 through kernels/cpu/ref.
#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

namespace {

// Element offset of batch item `b` in a tensor expanded to batch shape (leading dims).
int64_t batch_offset(const Tensor& t, const Shape& batch, int64_t b) {
  int64_t off = 0;
  for (int d = int(batch.size()) - 1; d >= 0; --d) {
    off += (b % batch[d]) * t.strides()[d];
    b /= batch[d];
  }
  return off;
}

template <typename T>
void reference_batches(const Tensor& A, const Tensor& B, Tensor& out, const Shape& batch, int64_t M, int64_t K,
                       int64_t N) {
  const int64_t nb = shape_numel(batch);
  const int r = A.dim();
  for (int64_t b = 0; b < nb; ++b)
    kernels::ref::matmul<T>(A.data<T>() + batch_offset(A, batch, b), A.strides()[r - 2], A.strides()[r - 1],
                            B.data<T>() + batch_offset(B, batch, b), B.strides()[r - 2], B.strides()[r - 1],
                            out.data<T>() + b * M * N, M, K, N);
}

// The stride s with batch_offset(t, batch, b) == b * s for every b, or -1 when the expanded
// batch dims do not collapse to one stride (then the batches are launched one by one).
int64_t uniform_batch_stride(const Tensor& t, const Shape& batch, int64_t nb) {
  if (nb <= 1) return 0;
  const int64_t s = batch_offset(t, batch, 1);
  for (int64_t b = 2; b < nb; ++b)
    if (batch_offset(t, batch, b) != b * s) return -1;
  return s;
}

// a [M, K] (dense rows) @ b [K, N] -> out [M, N] f32 on the CPU, for the folded batch of a Linear.
void cpu_matmul_2d(const Tensor& a, const Tensor& b_in, Tensor& out) {
  const int64_t M = a.shape()[0], K = a.shape()[1], N = b_in.shape()[1];
  const Tensor b = kernels::gemm_layout_ok({nullptr, b_in.dtype(), b_in.strides()[0], b_in.strides()[1]}, K, N)
                       ? b_in
                       : b_in.contiguous();
  kernels::gemm({a.raw_data(), a.dtype(), a.strides()[0], a.strides()[1]},
                {b.raw_data(), b.dtype(), b.strides()[0], b.strides()[1]}, out.data<float>(), M, K, N);
}

// A [batch.., M, K] @ B [batch.., K, N] -> out [batch.., M, N] f32 on the device.
// - With a bf16 operand (bf16 weights): our bf16 tensor-core GEMM, the other operand rounded to
//   bf16 first, as PyTorch's bf16 autocast does (the CPU instead computes such products in f32,
//   so the two differ by bf16 rounding of that operand: about 1e-3 relative).
// - Otherwise exact f32 (no TF32), operands converted to f32 on the device.
void cuda_matmul(const Tensor& a_in, const Tensor& b_in, Tensor& out, const Shape& a_full, const Shape& b_full,
                 const Shape& batch, int64_t M, int64_t K, int64_t N) {
  const int r = int(a_full.size());
  const int64_t nb = shape_numel(batch);
  const int device = out.device().index;
  if (b_in.dim() == 2 && nb > 1 && a_in.is_contiguous() && a_in.dim() == r) {
    // x [batch.., M, K] @ W [K, N] (every Linear): the batches are consecutive rows of one
    // [batch M, K] matrix, so one GEMM fills the GPU where `batch` GEMMs of M rows each would not.
    Tensor flat_out = out.view({nb * M, N});
    cuda_matmul(a_in.view({nb * M, K}), b_in, flat_out, {nb * M, K}, {K, N}, {}, nb * M, K, N);
    return;
  }
  if (a_in.dtype() == DType::bf16 || b_in.dtype() == DType::bf16) {
    const Tensor a = a_in.to(DType::bf16), b = b_in.to(DType::bf16);
    Tensor A = a.expand(a_full), B = b.expand(b_full);
    if (A.strides()[r - 1] != 1) A = a.contiguous().expand(a_full);
    const bool b_nk = B.strides()[r - 2] == 1 && B.strides()[r - 1] >= K;  // B^T of a dense [N, K]
    if (!b_nk && B.strides()[r - 1] != 1) B = b.contiguous().expand(b_full);
    const int64_t lda = A.strides()[r - 2], ldb = b_nk ? B.strides()[r - 1] : B.strides()[r - 2];
    const auto* pa = static_cast<const uint16_t*>(A.raw_data());  // bf16 bit patterns
    const auto* pb = static_cast<const uint16_t*>(B.raw_data());
    for (int64_t i = 0; i < nb; ++i)
      kernels::cuda::gemm_bf16(pa + batch_offset(A, batch, i), lda, pb + batch_offset(B, batch, i), ldb, b_nk,
                               out.data<float>() + i * M * N,
                               DType::f32, N, nullptr, kernels::cuda::GemmActivation::none, M, N, K, device);
    return;
  }
  const Tensor A = detail::as_dtype(a_in, DType::f32).expand(a_full), B = detail::as_dtype(b_in, DType::f32).expand(b_full);
  const int64_t sab = uniform_batch_stride(A, batch, nb), sbb = uniform_batch_stride(B, batch, nb);
  if (sab >= 0 && sbb >= 0) {
    kernels::cuda::matmul_f32(A.data<float>(), A.strides()[r - 2], A.strides()[r - 1], sab, B.data<float>(),
                              B.strides()[r - 2], B.strides()[r - 1], sbb, out.data<float>(), M, K, N, nb, device);
    return;
  }
  for (int64_t i = 0; i < nb; ++i)
    kernels::cuda::matmul_f32(A.data<float>() + batch_offset(A, batch, i), A.strides()[r - 2], A.strides()[r - 1], 0,
                              B.data<float>() + batch_offset(B, batch, i), B.strides()[r - 2], B.strides()[r - 1], 0,
                              out.data<float>() + i * M * N, M, K, N, 1, device);
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const Device dev = detail::common_device("matmul", {&a_in, &b_in});
  RS_CHECK(a_in.device() == b_in.device(), DeviceError, "matmul", "operands on different devices: ",
           a_in.describe(), " vs ", b_in.describe());
  const DType ct = dev.is_cuda() ? detail::cuda_compute_dtype("matmul", {&a_in, &b_in})
                                 : detail::compute_dtype("matmul", {&a_in, &b_in});
  RS_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, ShapeError, "matmul", "needs at least 1-D operands, got ",
           format_shape(a_in.shape()), " and ", format_shape(b_in.shape()));
  // NumPy rules for vectors: a [K] is [1, K]; b [K] is [K, 1]; the added dim is dropped at the end.
  const Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0) : a_in;
  const Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(1) : b_in;
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  const int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  RS_CHECK(K == K2, ShapeError, "matmul", "inner dims differ: ", format_shape(a_in.shape()), " @ ",
           format_shape(b_in.shape()));
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  Shape a_full = batch, b_full = batch, out_shape = batch;
  a_full.insert(a_full.end(), {M, K});
  b_full.insert(b_full.end(), {K, N});
  out_shape.insert(out_shape.end(), {M, N});
  Tensor out = Tensor::empty(out_shape, ct, dev);
  const int64_t nb = shape_numel(batch);

  if (dev.is_cuda()) {
    if (out.numel() > 0) cuda_matmul(a, b, out, a_full, b_full, batch, M, K, N);
  } else if (ct == DType::f64 || reference_kernels_forced()) {
    const Tensor A = detail::as_dtype(a, ct).expand(a_full), B = detail::as_dtype(b, ct).expand(b_full);
    if (ct == DType::f64) reference_batches<double>(A, B, out, batch, M, K, N);
    else reference_batches<float>(A, B, out, batch, M, K, N);
  } else if (b_in.dim() == 2 && nb > 1 && a_in.is_contiguous() && a_in.dim() == int(a_full.size())) {
    // x [batch.., M, K] @ W [K, N] (every Linear): the batches are consecutive rows of one
    // [batch M, K] matrix. One GEMM converts or packs W once, not once per batch item.
    Tensor flat_out = out.view({nb * M, N});
    cpu_matmul_2d(a_in.view({nb * M, K}), b_in, flat_out);
  } else {
    Tensor A = a.expand(a_full), B = b.expand(b_full);
    const int r = int(a_full.size());
    auto operand = [&](const Tensor& t) {
      return kernels::MatrixOperand{nullptr, t.dtype(), t.strides()[r - 2], t.strides()[r - 1]};
    };
    // A layout BLAS cannot read (e.g. a broadcast row) is made dense once, for all batches.
    if (!kernels::gemm_layout_ok(operand(A), M, K)) A = a.contiguous().expand(a_full);
    if (!kernels::gemm_layout_ok(operand(A), M, K)) A = A.contiguous();
    if (!kernels::gemm_layout_ok(operand(B), K, N)) B = b.contiguous().expand(b_full);
    if (!kernels::gemm_layout_ok(operand(B), K, N)) B = B.contiguous();
    const char* pa = static_cast<const char*>(A.raw_data());
    const char* pb = static_cast<const char*>(B.raw_data());
    for (int64_t i = 0; i < nb; ++i) {
      kernels::MatrixOperand oa = operand(A), ob = operand(B);
      oa.data = pa + size_t(batch_offset(A, batch, i)) * A.element_size();
      ob.data = pb + size_t(batch_offset(B, batch, i)) * B.element_size();
      kernels::gemm(oa, ob, out.data<float>() + i * M * N, M, K, N);
    }
  }
  if (a_in.dim() == 1) out = out.squeeze(out.dim() - 2);
  if (b_in.dim() == 1) out = out.squeeze(out.dim() - 1);
  if (!autograd::needs_grad({&a_in, &b_in})) return out;
  // dA = dC B^T and dB = A^T dC, summed over broadcast batch dims; vectors get their dim back.
  return autograd::record("matmul", out, {&a_in, &b_in},
                          [a = detach(a), b = detach(b), sa = a_in.shape(), sb = b_in.shape(), va = a_in.dim() == 1,
                           vb = b_in.dim() == 1, wa = a_in.requires_grad(), wb = b_in.requires_grad()](const Tensor& g) {
    Tensor G = g;
    if (va) G = G.unsqueeze(G.dim() - 1);
    if (vb) G = G.unsqueeze(G.dim());
    Tensor ga, gb;
    if (wa) ga = detail::sum_to(matmul(G, b.transpose(-2, -1)), a.shape()).reshape(sa);
    if (wb && b.dim() == 2 && a.dim() > 2) {
      // A shared 2-D weight under batched inputs (every Linear): fold the batch into K, one GEMM
      // dB = A[B*M, K]^T G[B*M, N], instead of B products summed afterwards.
      const int64_t K = a.shape().back(), N = G.shape().back();
      const Tensor a2 = a.reshape({-1, K}), g2 = G.reshape({-1, N});
      if (b.strides()[0] == 1 && b.strides()[1] == K && vb == false) {
        // b is W^T of a dense W [N, K] (how Linear calls us): produce dW = G^T A in W's own
        // layout, so the gradient reaching W is dense and never needs a transposing copy.
        gb = matmul(g2.transpose(0, 1), a2).transpose(0, 1);
      } else {
        gb = matmul(a2.transpose(0, 1), g2).reshape(sb);
      }
    } else if (wb) {
      gb = detail::sum_to(matmul(a.transpose(-2, -1), G), b.shape()).reshape(sb);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

void register_matmul_ops(std::vector<OpInfo>& out) { out.push_back({"matmul", "matmul", true, true, true}); }

}  // namespace rscapret::ops
