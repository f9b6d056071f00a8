// Losses against hand computations: the causal-LM shift with ignored labels, l2_normalize, and
// symmetric InfoNCE.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/losses.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;

// -log softmax(row)[target]
double nll(const std::vector<double>& row, int64_t target) {
  double mx = -INFINITY, z = 0;
  for (double v : row) mx = std::max(mx, v);
  for (double v : row) z += std::exp(v - mx);
  return -(row[size_t(target)] - mx - std::log(z));
}

TEST(NnLosses, CausalLmLossShiftsAndSkipsIgnored) {
  Generator g(20);
  const int64_t B = 2, T = 5, V = 7;
  const Tensor logits = randn(g, {B, T, V}, DType::f64);
  // Row 0: a two-token prompt (ignored) then targets; row 1: targets then padding (ignored).
  const std::vector<int64_t> lab = {-100, -100, 3, 6, 0, 2, 4, 1, -100, -100};
  const Tensor labels = Tensor::from_vector(lab, {B, T});
  const auto lv = values(logits);
  double total = 0;
  int valid = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < T; ++t) {
      const int64_t target = lab[size_t(b * T + t + 1)];  // position t predicts token t + 1
      if (target == -100) continue;
      const auto begin = lv.begin() + (b * T + t) * V;
      total += nll(std::vector<double>(begin, begin + V), target);
      ++valid;
    }
  ASSERT_EQ(valid, 5);
  const Tensor loss = causal_lm_loss(logits, labels);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_NEAR(loss.item(), total / valid, 1e-12);
  // The unshifted wrapper sees every position.
  EXPECT_TRUE(std::isfinite(nn::cross_entropy(logits, labels).item()));
  EXPECT_THROW(causal_lm_loss(logits, Tensor::from_vector<int64_t>({1, 2}, {1, 2})), ShapeError);
}

TEST(NnLosses, L2NormalizeGivesUnitRows) {
  Generator g(21);
  const Tensor x = randn(g, {4, 9}, DType::f64, 5.0);
  const auto y = values(l2_normalize(x));
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int c = 0; c < 9; ++c) s += y[size_t(r * 9 + c)] * y[size_t(r * 9 + c)];
    EXPECT_NEAR(s, 1.0, 1e-12);
  }
  // A zero row stays finite (zeros), thanks to eps.
  for (double v : values(l2_normalize(Tensor::zeros({1, 3}, DType::f64)))) EXPECT_EQ(v, 0.0);
}

TEST(NnLosses, InfoNceMatchesHandComputation) {
  Generator g(22);
  const int64_t N = 5, E = 6;
  for (DType dt : {DType::f64, DType::f32}) {
    const Tensor a = randn(g, {N, E}, dt), b = randn(g, {N, E}, dt);
    const Tensor logit_scale = Tensor::scalar(clip_logit_scale_init(), dt);
    const InfoNCE out = info_nce(a, b, logit_scale);

    auto unit = [&](const std::vector<double>& v) {
      std::vector<double> u = v;
      for (int64_t r = 0; r < N; ++r) {
        double s = 0;
        for (int64_t c = 0; c < E; ++c) s += v[size_t(r * E + c)] * v[size_t(r * E + c)];
        for (int64_t c = 0; c < E; ++c) u[size_t(r * E + c)] /= std::sqrt(s);
      }
      return u;
    };
    const auto an = unit(values(a)), bn = unit(values(b));
    const double scale = 1.0 / 0.07;
    std::vector<double> logits(size_t(N * N));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t c = 0; c < E; ++c) s += an[size_t(i * E + c)] * bn[size_t(j * E + c)];
        logits[size_t(i * N + j)] = scale * s;
      }
    double ab = 0, ba = 0;
    for (int64_t i = 0; i < N; ++i) {
      const std::vector<double> row(logits.begin() + i * N, logits.begin() + (i + 1) * N);
      std::vector<double> col(static_cast<size_t>(N));
      for (int64_t j = 0; j < N; ++j) col[size_t(j)] = logits[size_t(j * N + i)];
      ab += nll(row, i) / N;
      ba += nll(col, i) / N;
    }
    // f64: the eps of 1e-12 under l2_normalize's sqrt shifts the unit vectors by ~1e-13 and the
    // logits (scale 14.3) by ~1e-12, which the hand computation leaves out. f32: logits up to ~14
    // from 6-term dots, ~1e-6 relative; the loss is O(1).
    const double tol = dt == DType::f64 ? 1e-10 : 2e-5;
    expect_close("logits", out.logits, Tensor::from_vector(logits, {N, N}), tol * 10, tol);
    EXPECT_NEAR(out.loss_ab.item(), ab, tol);
    EXPECT_NEAR(out.loss_ba.item(), ba, tol);
    EXPECT_NEAR(out.loss.item(), (ab + ba) / 2, tol);
    EXPECT_NEAR(info_nce_loss(a, b, logit_scale).item(), (ab + ba) / 2, tol);
  }
  EXPECT_THROW(info_nce(Tensor::zeros({3, 4}), Tensor::zeros({2, 4}), Tensor::scalar(1.0)), ShapeError);
}

}  // namespace
}  // namespace rscapret::testing
