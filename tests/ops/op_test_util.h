// Helpers for the op tests: inputs in several layouts, and fast-vs-reference comparison with a
// stated tolerance. NaN never passes.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/rng.h"

namespace rscapret::testing {

// The same values laid out as: contiguous, transposed (a permuted copy viewed back), and every
// second element of a larger buffer. Non-contiguous variants exist only for rank >= 1.
std::vector<std::pair<std::string, Tensor>> layouts(const Tensor& x);

// Tolerance: |fast - ref| <= atol + rtol * |ref|, elementwise.
struct Tolerance {
  double atol = 0;
  double rtol = 0;
};

// Runs fn with the fast kernels and with the scalar references, checks shapes, dtypes and values.
// Returns the largest fraction of the tolerance used (printed, as llm.c does).
double expect_fast_matches_reference(const std::string& what, const std::function<Tensor()>& fn, Tolerance tol);

// Elementwise comparison of two results (any dtype) with the same rule.
double expect_close(const std::string& what, const Tensor& got, const Tensor& want, Tolerance tol);

double max_abs(const Tensor& t);

// Largest fraction of a tolerance used since the last reset (for the printed summary), and the
// number of comparisons made (so a case that compares nothing is caught).
struct ToleranceUsage {
  double max_fraction = 0;
  int comparisons = 0;
};
ToleranceUsage& tolerance_usage();

}  // namespace rscapret::testing
