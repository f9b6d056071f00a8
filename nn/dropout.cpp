#include "nn/dropout.h"

#include "autograd/ops.h"

namespace rscapret::nn {

Tensor dropout(const Tensor& x, double p, Generator& gen) {
  RS_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout", "p must be in [0, 1], got ", p);
  if (p == 0.0) return x;
  const DType ct = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
  // keep = (u >= p) / (1 - p): a constant with no gradient, so the vjp is just g * keep.
  const Tensor u = gen.uniform(x.shape(), 0.0, 1.0, ct);
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  const Tensor keep = ops::where(ops::ge(u, Tensor::scalar(p, ct)), Tensor::scalar(scale, ct), Tensor::scalar(0.0, ct));
  return ops::mul(x, keep);
}

Dropout::Dropout(double p, std::optional<uint64_t> seed) : Module("Dropout"), p_(p) {
  RS_CHECK(p >= 0.0 && p <= 1.0, ValueError, "Dropout", "p must be in [0, 1], got ", p);
  if (seed) {
    seed_ = *seed;
  } else {
    const Tensor s = default_generator().randint({2}, int64_t(1) << 32);
    seed_ = (uint64_t(s.at({0})) << 32) | uint64_t(s.at({1}));
  }
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  // Call n reads counters from n * 2^32 on: 2^34 mask elements per call before two calls overlap.
  Generator gen(seed_);
  gen.set_offset(counter_++ << 32);
  return dropout(x, p_, gen);
}

}  // namespace rscapret::nn
