// Central finite differences in float64 against autograd: the check every op, module and loss
// gets. For y = f(inputs) and a random cotangent c, compares autograd's c . dy/dx with
// (c . f(x + h e_i) - c . f(x - h e_i)) / 2h for every element i of every input.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/rng.h"

namespace rscapret::testing {

struct GradcheckOptions {
  // h = 1e-6 in float64: truncation error ~h^2 |f'''| ~ 1e-12 and rounding ~eps/h ~ 1e-10, so
  // 1e-6 absolute + 1e-5 relative is far above the noise and far below any real vjp bug.
  double h = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
};

// inputs: float64 tensors (any layout); they are made leaves that require grad. Returns the
// largest |analytic - numeric|.
inline double gradcheck(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                        std::vector<Tensor> inputs, uint64_t seed = 17, GradcheckOptions opt = {}) {
  for (Tensor& x : inputs) {
    EXPECT_EQ(x.dtype(), DType::f64) << what << ": gradcheck wants float64 inputs";
    x = Tensor(x.storage(), x.shape(), x.strides(), x.offset(), x.dtype());  // a fresh leaf handle
    x.set_requires_grad(true);
  }
  const Tensor y = f(inputs);
  EXPECT_TRUE(y.requires_grad()) << what << ": output does not depend on the inputs through autograd";
  if (!y.requires_grad()) return 1e9;
  Generator gen(seed);
  const Tensor c = gen.normal(y.shape(), 0, 1, DType::f64);
  const std::vector<Tensor> analytic = autograd::grad(y, inputs, c);
  const std::vector<double> cv = c.to_vector<double>();

  auto objective = [&](const std::vector<Tensor>& xs) {
    autograd::NoGradGuard no_grad;
    const std::vector<double> yv = f(xs).to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * cv[i];
    return s;
  };
  double worst = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<Tensor> xs;
    for (const Tensor& x : inputs) xs.push_back(x.contiguous().clone());  // same values, perturbable
    double* p = xs[k].data<double>();
    const std::vector<double> a = analytic[k].to_vector<double>();
    for (int64_t i = 0; i < xs[k].numel(); ++i) {
      const double orig = p[i];
      p[i] = orig + opt.h;
      const double up = objective(xs);
      p[i] = orig - opt.h;
      const double down = objective(xs);
      p[i] = orig;
      const double numeric = (up - down) / (2 * opt.h);
      const double err = std::abs(a[size_t(i)] - numeric);
      worst = std::max(worst, err);
      if (!(err <= opt.atol + opt.rtol * std::abs(numeric))) {
        ADD_FAILURE() << what << ": input " << k << " element " << i << " autograd " << a[size_t(i)] << " numeric "
                      << numeric;
        return worst;
      }
    }
  }
  return worst;
}

}  // namespace rscapret::testing
