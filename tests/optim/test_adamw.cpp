// AdamW against PyTorch's update rule written out by hand, SIMD against the scalar reference,
// groups, and the optimizer's own error paths. State files: test_adamw_state.cpp.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <filesystem>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/parallel.h"
#include "nn/optim/adamw.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"

namespace rscapret::nn {
namespace {

// PyTorch's torch.optim.AdamW step for one scalar, in double, from its documented algorithm
// (independent of the implementation under test).
struct Expected {
  double p, m = 0, v = 0;
  int t = 0;
  void step(double g, const AdamWOptions& o) {
    ++t;
    p = p - o.lr * o.weight_decay * p;
    m = o.beta1 * m + (1 - o.beta1) * g;
    v = o.beta2 * v + (1 - o.beta2) * g * g;
    const double mhat = m / (1 - std::pow(o.beta1, t));
    const double vhat = v / (1 - std::pow(o.beta2, t));
    p = p - o.lr * mhat / (std::sqrt(vhat) + o.eps);
  }
};

Tensor leaf(const std::vector<double>& values, DType dtype) {
  Tensor t = Tensor::from_vector(values, {int64_t(values.size())}).to(dtype);
  t.set_requires_grad(true);
  return t;
}

// Three steps of an optimizer with two groups of different settings; gradients set by hand.
void three_steps(DType dtype, const AdamWOptions& oa, const AdamWOptions& ob, double tol) {
  const std::vector<double> a0 = {1.0, -2.0, 0.5, 3.0}, b0 = {0.25, -0.75, 4.0};
  const std::vector<std::vector<double>> ga = {{0.1, -0.2, 0.3, 0.0}, {-0.5, 0.4, 0.0, 1.0}, {0.2, 0.2, -0.1, -2.0}};
  const std::vector<std::vector<double>> gb = {{1.5, -0.01, 0.0}, {-3.0, 0.02, 1e-3}, {0.5, 0.0, -1e-3}};
  Tensor a = leaf(a0, dtype), b = leaf(b0, dtype);
  AdamW opt({ParamGroup{{{"a", a}}, oa}, ParamGroup{{{"b", b}}, ob}});
  std::vector<Expected> wa, wb;
  for (double x : a0) wa.push_back({x});
  for (double x : b0) wb.push_back({x});
  for (size_t s = 0; s < 3; ++s) {
    a.set_grad(Tensor::from_vector(ga[s], {4}).to(dtype));
    b.set_grad(Tensor::from_vector(gb[s], {3}).to(dtype));
    opt.step();
    for (size_t i = 0; i < wa.size(); ++i) wa[i].step(ga[s][i], oa);
    for (size_t i = 0; i < wb.size(); ++i) wb[i].step(gb[s][i], ob);
  }
  const auto got_a = a.to_vector<double>(), got_b = b.to_vector<double>();
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_NEAR(got_a[i], wa[i].p, tol) << "a[" << i << "]";
  for (size_t i = 0; i < wb.size(); ++i) EXPECT_NEAR(got_b[i], wb[i].p, tol) << "b[" << i << "]";
}

// Group a: PyTorch's defaults; group b: FROMAGe's betas, another lr and eps. Then both with weight
// decay, and a beta1 below 0.5 (PyTorch's other lerp form).
const AdamWOptions kTorch{0.1, 0.9, 0.999, 1e-8, 0.0}, kFromage{0.03, 0.9, 0.95, 1e-6, 0.0};
const AdamWOptions kTorchWd{0.1, 0.9, 0.999, 1e-8, 0.01}, kSmallBeta1Wd{0.05, 0.3, 0.8, 1e-4, 0.1};

// f64 differs from the formula only by rounding (~1e-16 per op); f32 by ~1e-7 relative on values ~4.
TEST(AdamW, ThreeStepsTwoGroupsMatchPyTorchRuleF64) {
  three_steps(DType::f64, kTorch, kFromage, 1e-12);
  three_steps(DType::f64, kTorchWd, kSmallBeta1Wd, 1e-12);
}
TEST(AdamW, ThreeStepsTwoGroupsMatchPyTorchRuleF32) {
  three_steps(DType::f32, kTorch, kFromage, 1e-6);
  three_steps(DType::f32, kTorchWd, kSmallBeta1Wd, 1e-6);
}

// The SIMD kernel does the reference's operations in the same order, each rounded once (no
// multiply-add contraction in either file): the same bits.
void expect_simd_matches_ref(int64_t n, int64_t offset, const kernels::AdamWStep& s) {
  Generator g(uint64_t(n) * 7 + uint64_t(offset));
  const Tensor p0 = g.normal({n + offset}), gr = g.normal({n + offset}), m0 = g.normal({n + offset}, 0, 0.1),
               v0 = g.uniform({n + offset}, 0, 0.1);
  Tensor p1 = p0.clone(), m1 = m0.clone(), v1 = v0.clone();
  Tensor p2 = p0.clone(), m2 = m0.clone(), v2 = v0.clone();
  // offset shifts the pointers off the allocation's alignment
  kernels::ref::adamw_update<float>(p1.data<float>() + offset, gr.data<float>() + offset, m1.data<float>() + offset,
                                    v1.data<float>() + offset, n, s);
  kernels::simd::adamw_update(p2.data<float>() + offset, gr.data<float>() + offset, m2.data<float>() + offset,
                              v2.data<float>() + offset, n, s);
  for (auto [a, b] : {std::pair{p1, p2}, std::pair{m1, m2}, std::pair{v1, v2}}) {
    const auto x = a.to_vector<float>(), y = b.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(x[i], y[i]) << "n " << n << ", offset " << offset << ", element " << i;
  }
}

TEST(AdamW, SimdKernelMatchesScalarReferenceOnOddSizes) {
  const kernels::AdamWStep late{1e-3, 0.9, 0.95, 1e-8, 0.1, 1 - std::pow(0.9, 7), 1 - std::pow(0.95, 7)};
  const kernels::AdamWStep small_beta1{1e-2, 0.2, 0.5, 1e-6, 0.0, 1 - 0.2, 1 - 0.5};
  for (int64_t n : {0, 1, 3, 7, 15, 17, 31, 33, 1237, (1 << 15) * 2 + 13})  // the last spans 3 parallel chunks
    for (int64_t offset : {0, 1}) {
      expect_simd_matches_ref(n, offset, late);
      expect_simd_matches_ref(n, offset, small_beta1);
    }
}

TEST(AdamW, SimdKernelGivesTheSameBitsOnEverySimdTarget) {
  // Each target this machine runs (e.g. SSE4 without FMA, AVX2, AVX-512) against the reference,
  // so a run resumed on another machine continues bit for bit.
  const kernels::AdamWStep s{1e-3, 0.9, 0.95, 1e-8, 0.1, 1 - std::pow(0.9, 3), 1 - std::pow(0.95, 3)};
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    expect_simd_matches_ref(1237, 1, s);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the best target
}

TEST(AdamW, KernelBitsDoNotDependOnTheThreadCount) {
  const int64_t n = (1 << 15) * 3 + 5;
  Generator g(5);
  const Tensor p0 = g.normal({n}), gr = g.normal({n});
  const kernels::AdamWStep s{1e-3, 0.9, 0.95, 1e-8, 0.1, 0.1, 0.05};
  const int threads = kernels::num_threads();
  std::vector<std::vector<float>> out;
  for (int t : {1, 3, std::max(threads, 2)}) {
    kernels::set_num_threads(t);
    Tensor p = p0.clone(), m = Tensor::zeros({n}), v = Tensor::zeros({n});
    kernels::simd::adamw_update(p.data<float>(), gr.data<float>(), m.data<float>(), v.data<float>(), n, s);
    out.push_back(p.to_vector<float>());
  }
  kernels::set_num_threads(threads);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
}

TEST(AdamW, GroupsLrFactorsAndParametersWithoutGradient) {
  Tensor a = leaf({1.0}, DType::f64), b = leaf({1.0}, DType::f64), c = leaf({1.0}, DType::f64);
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
  EXPECT_EQ(opt.state().at("step.a").item(), 1.0);
  // One factor per group (a schedule per group). The second step of a constant gradient also
  // moves by lr * factor.
  opt.step(std::vector<double>{1.0, 0.0});
  EXPECT_NEAR(a.item(), 1.0 - 0.05 - 0.1, 1e-7);
  EXPECT_NEAR(b.item(), 1.0 - 0.005, 1e-7);  // factor 0: not moved
  EXPECT_EQ(opt.steps_taken(), 2);
  EXPECT_THROW(opt.step(std::vector<double>{1.0}), ValueError);
  EXPECT_THROW(opt.step(std::vector<double>{1.0, NAN}), ValueError);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(AdamW, RejectsBadParametersAndOptions) {
  Tensor p = Tensor::zeros({2});
  p.set_requires_grad(true);
  EXPECT_THROW(AdamW({ParamGroup{{{"p", p}, {"p", p}}, {}}}), ValueError);
  EXPECT_THROW(AdamW({ParamGroup{{{"p", p}}, AdamWOptions{0.1, 1.0}}}), ValueError);
  EXPECT_THROW(AdamW({ParamGroup{{{"p", p}}, AdamWOptions{NAN}}}), ValueError);
  EXPECT_THROW(AdamW({ParamGroup{{{"h", Tensor::zeros({2}, DType::bf16)}}, {}}}), DTypeError);
}

TEST(AdamW, RefusesReadOnlyMappedWeights) {
  const auto path = std::filesystem::temp_directory_path() / "rscapret_adamw_mapped.safetensors";
  save_safetensors(path, {{"w", Tensor::zeros({4})}});
  {
    Tensor w = load_safetensors(path).at("w");  // a zero-copy view of the read-only mapping
    w.set_requires_grad(true);
    try {
      AdamW opt({ParamGroup{{{"w", w}}, {}}});
      FAIL() << "a read-only parameter was accepted";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
    }
    Tensor copy = w.clone();  // what the error message tells the caller to do
    copy.set_requires_grad(true);
    EXPECT_NO_THROW(AdamW({ParamGroup{{{"w", copy}}, {}}}));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rscapret::nn
