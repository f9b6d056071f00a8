#include <gtest/gtest.h>

#include <cmath>

#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"
#include "tensor/rng.h"

namespace rscapret::nn {
namespace {

Tensor with_grad(std::vector<double> g) {
  Tensor p = Tensor::zeros({int64_t(g.size())}, DType::f64);
  p.set_requires_grad(true);
  p.set_grad(Tensor::from_vector(g, {int64_t(g.size())}));
  return p;
}

TEST(ClipGradNorm, NormScalingAndNoOp) {
  const Tensor a = with_grad({3.0}), b = with_grad({4.0});
  Tensor none = Tensor::zeros({2}, DType::f64);
  none.set_requires_grad(true);  // no gradient: skipped
  EXPECT_DOUBLE_EQ(grad_norm({a, b, none}), 5.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b, none}, 10.0), 5.0);
  EXPECT_EQ(a.grad().item(), 3.0);  // below the threshold: untouched
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 1.0), 5.0);
  EXPECT_NEAR(a.grad().item(), 3.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_NEAR(grad_norm({a, b}), 1.0, 1e-6);
  EXPECT_THROW(clip_grad_norm({a}, 0.0), ValueError);
}

TEST(ClipGradNorm, FollowsPyTorchClampAtTheThreshold) {
  // coef = max_norm / (norm + 1e-6) < 1 already when norm == max_norm: PyTorch scales then too.
  const Tensor a = with_grad({3.0, 4.0});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 5.0), 5.0);
  EXPECT_NEAR(a.grad().to_vector<double>()[0], 3.0 * 5.0 / (5.0 + 1e-6), 1e-15);
  const Tensor b = with_grad({3.0, 4.0});
  clip_grad_norm({b}, 5.0 + 1e-6);  // coef exactly 1: untouched
  EXPECT_EQ(b.grad().to_vector<double>()[0], 3.0);
}

TEST(ClipGradNorm, F32GradsSumInDoubleAnyLayout) {
  // f32 grads are summed in double (no f32 rounding of the squares); a non-contiguous grad gives
  // the norm of its contiguous copy (summed in its logical order: equal up to rounding).
  Tensor p = Tensor::zeros({2, 3});
  p.set_requires_grad(true);
  const std::vector<float> g = {1e-3f, 2.0f, -3.0f, 0.5f, 7.0f, -1e4f};
  p.set_grad(Tensor::from_vector(g, {2, 3}));
  double want = 0;
  for (float x : g) want += double(x) * double(x);
  EXPECT_EQ(grad_norm({p}), std::sqrt(want));
  Tensor q = Tensor::zeros({3, 2});
  q.set_requires_grad(true);
  q.set_grad(Tensor::from_vector(g, {2, 3}).transpose(0, 1));
  EXPECT_DOUBLE_EQ(grad_norm({q}), std::sqrt(want));
}

TEST(ClipGradNorm, SumOfSquaresByOpsMatchesTheDoubleSum) {
  // The device path of grad_norm, run on the host: f32 ops against the double loop.
  Generator gen(3);
  const std::vector<Tensor> ts = {gen.normal({37, 5}), gen.normal({4096}), Tensor::full({3}, 2.0),
                                  gen.normal({6, 4}).transpose(0, 1)};
  double want = 0;
  for (const Tensor& t : ts)
    for (double x : t.to_vector<double>()) want += x * x;
  EXPECT_NEAR(detail::sum_of_squares_by_ops(ts), want, 1e-5 * want);  // f32 partial sums
  EXPECT_EQ(detail::sum_of_squares_by_ops({}), 0.0);
  const Tensor nan = Tensor::from_vector(std::vector<float>{1.0f, NAN}, {2});
  EXPECT_TRUE(std::isnan(detail::sum_of_squares_by_ops({ts[0], nan})));
}

TEST(ClipGradNorm, NonFiniteNormIsReportedNotApplied) {
  const Tensor a = with_grad({NAN, 1.0});
  EXPECT_TRUE(std::isnan(clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(a.grad().to_vector<double>()[1], 1.0);
  EXPECT_TRUE(std::isfinite(grad_norm({with_grad({1.0})})));
  const Tensor inf = with_grad({1.0, -INFINITY});
  EXPECT_TRUE(std::isinf(clip_grad_norm({inf}, 1.0)));
  EXPECT_FALSE(std::isfinite(grad_norm({with_grad({1.0}), inf})));
  EXPECT_EQ(inf.grad().to_vector<double>()[0], 1.0);
  EXPECT_EQ(grad_norm({}), 0.0);  // no gradients at all
}

TEST(Schedule, WarmupThenCosineStepOrConstant) {
  Schedule s;
  s.kind = Schedule::Kind::cosine;
  s.warmup_steps = 100;
  s.total_steps = 1100;
  s.min_factor = 0.1;
  EXPECT_DOUBLE_EQ(s.factor(0), 0.01);
  EXPECT_DOUBLE_EQ(s.factor(99), 1.0);      // end of warmup
  EXPECT_DOUBLE_EQ(s.factor(100), 1.0);     // cosine starts at 1
  EXPECT_NEAR(s.factor(600), 0.55, 1e-12);  // half way: min + (1 - min) / 2
  EXPECT_NEAR(s.factor(1100), 0.1, 1e-12);
  EXPECT_NEAR(s.factor(5000), 0.1, 1e-12);  // stays at the floor
  Schedule st;
  st.kind = Schedule::Kind::step;
  st.step_every = 10;
  st.gamma = 0.5;
  EXPECT_DOUBLE_EQ(st.factor(9), 1.0);
  EXPECT_DOUBLE_EQ(st.factor(10), 0.5);
  EXPECT_DOUBLE_EQ(st.factor(25), 0.25);
  EXPECT_DOUBLE_EQ(Schedule{}.factor(12345), 1.0);
  Schedule warm;  // FROMAGe's: warmup 100, then constant
  warm.warmup_steps = 100;
  EXPECT_DOUBLE_EQ(warm.factor(0), 0.01);
  EXPECT_DOUBLE_EQ(warm.factor(49), 0.5);
  EXPECT_DOUBLE_EQ(warm.factor(99), 1.0);
  EXPECT_DOUBLE_EQ(warm.factor(100000), 1.0);
  Schedule cold;  // cosine without warmup starts at 1
  cold.kind = Schedule::Kind::cosine;
  cold.total_steps = 10;
  EXPECT_DOUBLE_EQ(cold.factor(0), 1.0);
  EXPECT_NEAR(cold.factor(5), 0.5, 1e-15);
  EXPECT_NEAR(cold.factor(10), 0.0, 1e-15);
  EXPECT_THROW(s.factor(-1), ValueError);
  Schedule bad = s;
  bad.min_factor = 1.5;
  EXPECT_THROW(bad.factor(0), ValueError);
}

}  // namespace
}  // namespace rscapret::nn
