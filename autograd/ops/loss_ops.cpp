// Cross-entropy with ignore_index and the mean over valid targets (Hugging Face semantics), fused
// (one pass of logsumexp per row) and composed (log_softmax, gather, mean) as its oracle.
#include <cmath>
#include <limits>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cuda/cuda_kernels.h"

namespace rscapret::ops {

namespace {

struct CeInputs {
  Tensor logits;   // [R, V] contiguous, compute dtype
  Tensor targets;  // [R] i64 contiguous
  int64_t valid = 0;
};

CeInputs prepare(const char* op, const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  const Device dev = logits.device();  // targets may be a host tensor: checked there, then moved
  RS_CHECK(logits.dim() >= 1, ShapeError, op, "logits need a vocabulary dim, got ", format_shape(logits.shape()));
  Shape expect(logits.shape().begin(), logits.shape().end() - 1);
  RS_CHECK(targets.shape() == expect, ShapeError, op, "targets ", format_shape(targets.shape()),
           " must match logits ", format_shape(logits.shape()), " without the last dim");
  RS_CHECK(targets.dtype() == DType::i64 || targets.dtype() == DType::i32, DTypeError, op,
           "targets must be i32 or i64, got ", targets.describe());
  const DType ct = dev.is_cuda() ? detail::cuda_compute_dtype(op, {&logits}) : detail::compute_dtype(op, {&logits});
  const int64_t V = logits.shape().back();
  CeInputs in;
  in.logits = detail::as_dtype(logits, ct).contiguous().reshape({-1, V});
  // Targets are checked on the host before they move (a kernel must never index outside the
  // vocabulary): host targets, the usual case, make one trip to the device; device targets are
  // copied back for the check (they are small).
  const Tensor flat = targets.to(DType::i64).contiguous().reshape({-1});
  const Tensor host_targets = flat.to(Device::cpu());
  in.targets = flat.device() == dev ? flat : host_targets.to(dev);
  const int64_t* t = host_targets.data<int64_t>();
  for (int64_t i = 0; i < host_targets.numel(); ++i) {
    if (t[i] == ignore_index) continue;
    RS_CHECK(t[i] >= 0 && t[i] < V, IndexError, op, "target ", t[i], " out of range [0, ", V,
             ") (ignore_index is ", ignore_index, ")");
    ++in.valid;
  }
  return in;
}

// The CUDA path: one fused kernel streams each row's vocabulary for loss and log-sum-exp; the
// backward writes (softmax - onehot) * g / valid from the saved lse without a [R, V] temporary
// beyond the gradient itself.
Tensor cuda_cross_entropy(const Tensor& logits, const CeInputs& in, int64_t ignore_index) {
  const Device dev = in.logits.device();
  const int64_t R = in.targets.numel(), V = in.logits.shape()[1];
  Tensor per_row = Tensor::empty({R}, DType::f32, dev), lse = Tensor::empty({R}, DType::f32, dev);
  kernels::cuda::cross_entropy_forward(in.logits.data<float>(), in.targets.data<int64_t>(), per_row.data<float>(),
                                       lse.data<float>(), R, V, ignore_index, dev.index);
  const double inv_valid = in.valid ? 1.0 / double(in.valid) : std::numeric_limits<double>::quiet_NaN();
  Tensor loss;
  {
    autograd::NoGradGuard no_grad;
    loss = mul(sum(per_row, 0), inv_valid);
  }
  if (!autograd::needs_grad({&logits})) return loss;
  return autograd::record("cross_entropy", loss, {&logits},
                          [L = in.logits, t = in.targets, lse, inv_valid, shape = logits.shape(), ignore_index](
                              const Tensor& g) {
    const Tensor scale = detail::on_device(mul(g, inv_valid), DType::f32, L.device()).contiguous();
    Tensor d = Tensor::empty(L.shape(), DType::f32, L.device());
    kernels::cuda::cross_entropy_backward(L.data<float>(), t.data<int64_t>(), lse.data<float>(), scale.data<float>(),
                                          d.data<float>(), L.shape()[0], L.shape()[1], ignore_index, L.device().index);
    return std::vector<Tensor>{d.reshape(shape)};
  });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  const CeInputs in = prepare("cross_entropy", logits, targets, ignore_index);
  if (in.logits.device().is_cuda()) return cuda_cross_entropy(logits, in, ignore_index);
  const int64_t R = in.targets.numel(), V = logits.shape().back();
  const DType ct = in.logits.dtype();
  Tensor per_row = Tensor::empty({R}, ct);
  if (ct == DType::f64)
    kernels::ref::cross_entropy_rows<double>(in.logits.data<double>(), in.targets.data<int64_t>(),
                                             per_row.data<double>(), R, V, ignore_index);
  else if (reference_kernels_forced())
    kernels::ref::cross_entropy_rows<float>(in.logits.data<float>(), in.targets.data<int64_t>(), per_row.data<float>(),
                                            R, V, ignore_index);
  else
    kernels::simd::cross_entropy_rows(in.logits.data<float>(), in.targets.data<int64_t>(), per_row.data<float>(), R,
                                      V, ignore_index);
  // Mean in double, in row order: the same value whatever the thread count.
  const std::vector<double> rows = per_row.to_vector<double>();
  double total = 0;
  for (double r : rows) total += r;
  const double mean = in.valid ? total / double(in.valid) : std::numeric_limits<double>::quiet_NaN();
  Tensor loss = Tensor::scalar(mean, ct);
  if (!autograd::needs_grad({&logits})) return loss;
  // d loss / d logits = (softmax - onehot(target)) / valid on valid rows, 0 on ignored rows.
  return autograd::record("cross_entropy", loss, {&logits, &targets},
                          [L = in.logits, t = in.targets, shape = logits.shape(), valid = in.valid, ignore_index](const Tensor& g) {
    const Tensor iota = Tensor::arange(L.shape()[1]).view({1, -1});
    const Tensor t2 = t.view({-1, 1});
    const Tensor zero = Tensor::scalar(0.0, L.dtype());
    Tensor d = sub(softmax(L, -1), where(eq(iota, t2), Tensor::scalar(1.0, L.dtype()), zero));
    d = where(ne(t2, Tensor::from_vector(std::vector<int64_t>{ignore_index}, {1})), d, zero);
    d = mul(d, div(g, Tensor::scalar(double(valid), g.dtype())));
    return std::vector<Tensor>{d.reshape(shape), Tensor()};
  });
}

Tensor cross_entropy_composed(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  const CeInputs in = prepare("cross_entropy", logits, targets, ignore_index);
  const int64_t V = logits.shape().back();
  const DType ct = in.logits.dtype();
  // Differentiable all the way: log_softmax, a one-hot pick, a masked mean.
  const Device dev = in.logits.device();
  const Tensor logp = log_softmax(reshape(logits.dtype() == ct ? logits : cast(logits, ct), {-1, V}), -1);
  const Tensor t2 = in.targets.view({-1, 1});
  const Tensor onehot = where(eq(Tensor::arange(V).to(dev).view({1, -1}), t2), Tensor::scalar(1.0, ct), Tensor::scalar(0.0, ct));
  const Tensor picked = sum(mul(logp, onehot), -1);  // [R]
  const Tensor valid = ne(in.targets, Tensor::from_vector(std::vector<int64_t>{ignore_index}, {1}).to(dev));
  const Tensor total = sum_all(where(valid, picked, Tensor::scalar(0.0, ct)));
  return div(neg(total), Tensor::scalar(in.valid ? double(in.valid) : std::numeric_limits<double>::quiet_NaN(), ct));
}

void register_loss_ops(std::vector<OpInfo>& out) { out.push_back({"cross_entropy", "loss", true, true, true}); }

}  // namespace rscapret::ops
