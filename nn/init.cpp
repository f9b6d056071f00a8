#include "nn/init.h"

namespace rscapret::nn {

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

Tensor Fill::make(const Shape& shape, DType dtype, Generator& gen) const {
  // The generator draws f32/f64 only; other float dtypes are drawn in f32 and converted.
  const DType draw = dtype == DType::f64 ? DType::f64 : DType::f32;
  switch (kind) {
    case Kind::zeros: return Tensor::zeros(shape, dtype);
    case Kind::constant: return Tensor::full(shape, a, dtype);
    case Kind::uniform: return gen.uniform(shape, a, b, draw).to(dtype);
    case Kind::normal: return gen.normal(shape, a, b, draw).to(dtype);
  }
  RS_ASSERT(false, "unknown Fill kind");
  return {};
}

}  // namespace rscapret::nn
