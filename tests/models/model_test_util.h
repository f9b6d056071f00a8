// Helpers for the model golden tests: reference tensors from expected.safetensors and a
// scale-relative comparison that reports how much of the tolerance was used.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tensor/tensor.h"

namespace rscapret::testing {

struct Diff {
  double max_abs = 0.0;  // max |got - want|
  double scale = 0.0;    // max |want|
  double rel() const { return max_abs / std::max(scale, 1e-30); }
};

inline Diff diff(const Tensor& got, const Tensor& want) {
  const auto g = got.to_vector<double>();
  const auto w = want.to_vector<double>();
  Diff d;
  for (size_t i = 0; i < g.size(); ++i) {
    const double e = std::isnan(g[i]) || std::isnan(w[i]) ? INFINITY : std::abs(g[i] - w[i]);
    d.max_abs = std::max(d.max_abs, e);
    d.scale = std::max(d.scale, std::abs(w[i]));
  }
  return d;
}

// Error relative to the tensor's largest magnitude (elementwise relative error is meaningless for
// entries near zero). NaN never passes.
inline ::testing::AssertionResult close_rel(const std::string& name, const Tensor& got, const Tensor& want,
                                            double tol) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << name << ": shape " << format_shape(got.shape()) << " vs reference "
                                         << format_shape(want.shape());
  const Diff d = diff(got, want);
  const double used = d.rel() / tol;
  std::printf("  %-28s max|err| %.3e  scale %.3e  rel %.3e  (%.1f%% of tol %.0e)\n", name.c_str(), d.max_abs,
              d.scale, d.rel(), 100.0 * used, tol);
  if (!(d.rel() <= tol))
    return ::testing::AssertionFailure() << name << ": relative error " << d.rel() << " > " << tol;
  return ::testing::AssertionSuccess();
}

// Absolute bound, for outputs whose magnitude is not their natural scale (CLIP's logits are
// cosines near 0 times exp(logit_scale)).
inline ::testing::AssertionResult close_abs(const std::string& name, const Tensor& got, const Tensor& want,
                                            double tol) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << name << ": shape " << format_shape(got.shape()) << " vs reference "
                                         << format_shape(want.shape());
  const Diff d = diff(got, want);
  std::printf("  %-28s max|err| %.3e  (%.1f%% of abs tol %.1e)\n", name.c_str(), d.max_abs, 100.0 * d.max_abs / tol, tol);
  if (!(d.max_abs <= tol)) return ::testing::AssertionFailure() << name << ": max error " << d.max_abs << " > " << tol;
  return ::testing::AssertionSuccess();
}

}  // namespace rscapret::testing
