// Helpers for the nn tests: closeness with a stated tolerance, and module parameters as gradcheck
// inputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/rng.h"

namespace rscapret::testing {

// |got - want| <= atol + rtol |want| elementwise; NaN never passes. Returns the worst error.
inline double expect_close(const std::string& what, const Tensor& got, const Tensor& want, double atol,
                           double rtol = 0) {
  EXPECT_EQ(got.shape(), want.shape()) << what;
  if (got.shape() != want.shape()) return 1e9;
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(g[i] - w[i]);
    worst = std::max(worst, err);
    if (!(err <= atol + rtol * std::abs(w[i]))) {
      ADD_FAILURE() << what << ": element " << i << " got " << g[i] << " want " << w[i];
      return worst;
    }
  }
  return worst;
}

// Bit-for-bit equality of two CPU tensors of one dtype and shape.
inline ::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  if (std::memcmp(ca.raw_data(), cb.raw_data(), size_t(ca.numel()) * ca.element_size()) != 0)
    return ::testing::AssertionFailure() << "bits differ";
  return ::testing::AssertionSuccess();
}

inline Tensor randn(Generator& g, const Shape& s, DType dt = DType::f32, double stddev = 1.0) {
  return g.normal(s, 0.0, stddev, dt);
}

// The values of a module parameter as a double vector (for hand computations).
inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// gradcheck inputs are fresh leaves; writing them (bind_params) into the module's slots makes its forward read
// them, so parameters are checked exactly like inputs.
inline void bind_params(nn::Module& m, const std::vector<std::string>& names, const std::vector<Tensor>& xs, size_t first) {
  for (size_t i = 0; i < names.size(); ++i) m.parameter(names[i]) = xs[first + i];
}
inline std::vector<Tensor> current(nn::Module& m, const std::vector<std::string>& names) {
  std::vector<Tensor> out;
  for (const auto& n : names) out.push_back(m.parameter(n).clone());
  return out;
}

}  // namespace rscapret::testing
