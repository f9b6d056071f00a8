#include "tests/ops/op_test_util.h"

#include <cmath>

#include "autograd/dispatch.h"

namespace rscapret::testing {

std::vector<std::pair<std::string, Tensor>> layouts(const Tensor& x) {
  std::vector<std::pair<std::string, Tensor>> out = {{"contiguous", x}};
  if (x.dim() >= 2) {
    // Same values, stored transposed: permute a contiguous copy of x^T back.
    Tensor t = x.transpose(0, x.dim() - 1).contiguous().transpose(0, x.dim() - 1);
    out.push_back({"transposed", t});
  }
  if (x.dim() >= 1) {
    Shape big = x.shape();
    big.back() *= 2;
    Tensor buffer = Tensor::full(big, is_floating(x.dtype()) ? 1e30 : 7, x.dtype());  // poison between used elements
    Tensor strided = buffer.slice(x.dim() - 1, 0, big.back(), 2);
    strided.copy_from(x);
    out.push_back({"strided", strided});
  }
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

ToleranceUsage& tolerance_usage() {
  static ToleranceUsage usage;
  return usage;
}

double expect_close(const std::string& what, const Tensor& got, const Tensor& want, Tolerance tol) {
  ++tolerance_usage().comparisons;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  if (got.shape() != want.shape()) return 0;
  const auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double used = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool bad_nan = std::isnan(g[i]) || std::isnan(w[i]);
    const double err = std::abs(g[i] - w[i]);
    const double allowed = tol.atol + tol.rtol * std::abs(w[i]);
    if (bad_nan || !(err <= allowed) ) {
      ADD_FAILURE() << what << ": element " << i << " got " << g[i] << " want " << w[i] << " (error " << err
                    << ", allowed " << allowed << ")";
      return 1e9;
    }
    if (allowed > 0) used = std::max(used, err / allowed);
  }
  tolerance_usage().max_fraction = std::max(tolerance_usage().max_fraction, used);
  return used;
}

double expect_fast_matches_reference(const std::string& what, const std::function<Tensor()>& fn, Tolerance tol) {
  const Tensor fast = fn();
  Tensor ref;
  {
    ops::ReferenceKernelsGuard guard;
    ref = fn();
  }
  return expect_close(what, fast, ref, tol);
}

}  // namespace rscapret::testing
