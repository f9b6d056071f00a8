// AdamW against PyTorch's update rule written out by hand, SIMD against the scalar reference,
// groups, and state save/load.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "kernels/cpu/adamw.h"
#include "nn/optim/adamw.h"
#include "tensor/rng.h"

namespace rscapret::nn {
namespace {

// PyTorch's torch.optim.AdamW step for one scalar, in double, straight from its documentation.
struct Expected {
  double p, m = 0, v = 0;
  int t = 0;
  void step(double g, double lr, double b1, double b2, double eps, double wd) {
    ++t;
    p = p - lr * wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double mhat = m / (1 - std::pow(b1, t));
    const double vhat = v / (1 - std::pow(b2, t));
    p = p - lr * mhat / (std::sqrt(vhat) + eps);
  }
};

void three_steps(DType dtype, double wd, double tol) {
  const std::vector<double> p0 = {1.0, -2.0, 0.5, 3.0};
  const std::vector<std::vector<double>> grads = {{0.1, -0.2, 0.3, 0.0}, {-0.5, 0.4, 0.0, 1.0}, {0.2, 0.2, -0.1, -2.0}};
  Tensor p = Tensor::from_vector(p0, {4}).to(dtype);
  p.set_requires_grad(true);
  AdamW opt({ParamGroup{{{"w", p}}, AdamWOptions{0.1, 0.9, 0.999, 1e-8, wd}}});
  std::vector<Expected> want;
  for (double x : p0) want.push_back({x});
  for (const auto& g : grads) {
    p.set_grad(Tensor::from_vector(g, {4}).to(dtype));
    opt.step();
    for (size_t i = 0; i < 4; ++i) want[i].step(g[i], 0.1, 0.9, 0.999, 1e-8, wd);
  }
  const auto got = p.to_vector<double>();
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i].p, tol) << "element " << i;
}

// f64 differs from the formula only by rounding (~1e-16 per op); f32 by ~1e-7 relative on values ~3.
TEST(AdamW, ThreeStepsMatchPyTorchRuleF64) {
  three_steps(DType::f64, 0.0, 1e-12);
  three_steps(DType::f64, 0.01, 1e-12);
}
TEST(AdamW, ThreeStepsMatchPyTorchRuleF32) {
  three_steps(DType::f32, 0.0, 1e-6);
  three_steps(DType::f32, 0.01, 1e-6);
}

TEST(AdamW, SimdKernelMatchesScalarReference) {
  // Same operations in the same order; the compiler may fuse a multiply-add in the vector code
  // (FMA targets) and not in the scalar one: one rounding apart, ~1e-7 relative.
  Generator g(3);
  const int64_t n = 1237;
  const Tensor p0 = g.normal({n}), gr = g.normal({n}), m0 = g.normal({n}, 0, 0.1), v0 = g.uniform({n}, 0, 0.1);
  Tensor p1 = p0.clone(), m1 = m0.clone(), v1 = v0.clone();
  Tensor p2 = p0.clone(), m2 = m0.clone(), v2 = v0.clone();
  const kernels::AdamWStep s{1e-3, 0.9, 0.95, 1e-8, 0.1, 1 - 0.9 * 0.9, 1 - 0.95 * 0.95};
  kernels::ref::adamw_update<float>(p1.data<float>(), gr.data<float>(), m1.data<float>(), v1.data<float>(), n, s);
  kernels::simd::adamw_update(p2.data<float>(), gr.data<float>(), m2.data<float>(), v2.data<float>(), n, s);
  for (auto [a, b] : {std::pair{p1, p2}, std::pair{m1, m2}, std::pair{v1, v2}}) {
    const auto x = a.to_vector<float>(), y = b.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 1e-6 * (1 + std::abs(x[i]))) << i;
  }
}

TEST(AdamW, GroupsLrFactorAndParametersWithoutGradient) {
  Tensor a = Tensor::from_vector(std::vector<double>{1.0}, {1}), b = Tensor::from_vector(std::vector<double>{1.0}, {1}),
         c = Tensor::from_vector(std::vector<double>{1.0}, {1});
  for (Tensor* t : {&a, &b, &c}) t->set_requires_grad(true);
  AdamW opt({ParamGroup{{{"a", a}, {"c", c}}, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.0}},
             ParamGroup{{{"b", b}}, AdamWOptions{0.01, 0.9, 0.999, 1e-8, 0.0}}});
  a.set_grad(Tensor::from_vector(std::vector<double>{1.0}, {1}));
  b.set_grad(Tensor::from_vector(std::vector<double>{1.0}, {1}));
  opt.step(0.5);
  // The first Adam step moves by lr * factor * sign(g) (up to eps).
  EXPECT_NEAR(a.item(), 1.0 - 0.05, 1e-7);
  EXPECT_NEAR(b.item(), 1.0 - 0.005, 1e-7);
  EXPECT_EQ(c.item(), 1.0);  // no gradient: untouched
  EXPECT_EQ(opt.state().at("step.c").item(), 0.0);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(AdamW, RejectsBadParametersAndOptions) {
  Tensor p = Tensor::zeros({2});
  p.set_requires_grad(true);
  EXPECT_THROW(AdamW({ParamGroup{{{"p", p}, {"p", p}}, {}}}), ValueError);
  EXPECT_THROW(AdamW({ParamGroup{{{"p", p}}, AdamWOptions{0.1, 1.0}}}), ValueError);
  EXPECT_THROW(AdamW({ParamGroup{{{"h", Tensor::zeros({2}, DType::bf16)}}, {}}}), DTypeError);
}

TEST(AdamW, StateRoundTripsAndBadStateIsRejected) {
  Generator g(4);
  Tensor w = g.normal({3, 5});
  w.set_requires_grad(true);
  AdamW opt({ParamGroup{{{"w", w}}, {}}});
  w.set_grad(g.normal({3, 5}));
  opt.step();
  const auto path = std::filesystem::temp_directory_path() / "rscapret_adamw_state.safetensors";
  opt.save(path.string());
  AdamW other({ParamGroup{{{"w", w}}, {}}});
  other.load(path.string());
  EXPECT_EQ(other.steps_taken(), 1);
  EXPECT_EQ(other.state().at("exp_avg.w").to_vector<float>(), opt.state().at("exp_avg.w").to_vector<float>());
  // A state for different parameters is refused with a clear error, and changes nothing.
  Tensor v = g.normal({4});
  v.set_requires_grad(true);
  AdamW mismatch({ParamGroup{{{"v", v}}, {}}});
  EXPECT_THROW(mismatch.load(path.string()), FormatError);
  auto bad = opt.state();
  bad["exp_avg.w"] = Tensor::zeros({5, 3});
  EXPECT_THROW(other.load_state(bad), FormatError);
  EXPECT_EQ(other.steps_taken(), 1);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rscapret::nn
