// How modules create their parameters: the dtype, the random generator, and whether to allocate
// at all. A deferred module registers shapes only; load_state_dict fills it, so a 7B skeleton costs
// nothing before its checkpoint is mapped.
#pragma once

#include <cstdint>

#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace rscapret::nn {

// The process-wide generator that layers draw from when Init names none (like torch.manual_seed:
// the same seed and construction order give the same weights).
Generator& default_generator();
void manual_seed(uint64_t seed);

struct Init {
  DType dtype = DType::f32;  // f32 to train, f64 for gradient checks, bf16/f16 for frozen weights
  Generator* gen = nullptr;  // nullptr: default_generator()
  bool deferred = false;     // register shapes only; tensors stay undefined until loaded

  Generator& generator() const { return gen ? *gen : default_generator(); }
};

// A parameter's initial value, kept with its slot so deferred parameters can still be initialised
// later (those a non-strict load left missing).
struct Fill {
  enum class Kind : uint8_t { zeros, constant, uniform, normal };
  Kind kind = Kind::zeros;
  double a = 0.0, b = 0.0;  // constant: a; uniform: [a, b); normal: mean a, stddev b

  static Fill zeros() { return {}; }
  static Fill ones() { return {Kind::constant, 1.0, 0.0}; }
  static Fill constant(double v) { return {Kind::constant, v, 0.0}; }
  static Fill uniform(double lo, double hi) { return {Kind::uniform, lo, hi}; }
  static Fill normal(double mean, double stddev) { return {Kind::normal, mean, stddev}; }

  // A new tensor of shape and dtype (16-bit floats are drawn in f32 and rounded).
  Tensor make(const Shape& shape, DType dtype, Generator& gen) const;
};

}  // namespace rscapret::nn
