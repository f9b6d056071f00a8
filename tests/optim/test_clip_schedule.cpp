#include <gtest/gtest.h>

#include <cmath>

#include "nn/optim/clip.h"
#include "nn/optim/schedule.h"

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

TEST(ClipGradNorm, NonFiniteNormIsReportedNotApplied) {
  const Tensor a = with_grad({NAN, 1.0});
  EXPECT_TRUE(std::isnan(clip_grad_norm({a}, 1.0)));
  EXPECT_FALSE(grads_finite({a}));
  EXPECT_EQ(a.grad().to_vector<double>()[1], 1.0);
  EXPECT_TRUE(grads_finite({with_grad({1.0})}));
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
  EXPECT_THROW(s.factor(-1), ValueError);
}

}  // namespace
}  // namespace rscapret::nn
