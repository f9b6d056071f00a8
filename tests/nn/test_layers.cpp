// Forward checks of the layers against hand computations (loops in double).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "nn/nn.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;

// y[r, o] = sum_i x[r, i] W[o, i] + b[o], rows r of x [R, I].
std::vector<double> linear_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
                               int64_t R, int64_t I, int64_t O) {
  std::vector<double> y(size_t(R * O));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t o = 0; o < O; ++o) {
      double s = b.empty() ? 0 : b[size_t(o)];
      for (int64_t i = 0; i < I; ++i) s += x[size_t(r * I + i)] * w[size_t(o * I + i)];
      y[size_t(r * O + o)] = s;
    }
  return y;
}

TEST(NnLayers, LinearMatchesHandComputation) {
  Generator g(3);
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool bias : {true, false}) {
      Init init;
      init.dtype = dt;
      Linear lin(5, 3, bias, init);
      EXPECT_EQ(lin.weight.shape(), (Shape{3, 5}));
      EXPECT_EQ(lin.bias.defined(), bias);
      const Tensor x = randn(g, {2, 4, 5}, dt);  // [B, T, in]
      const Tensor y = lin(x);
      EXPECT_EQ(y.shape(), (Shape{2, 4, 3}));
      EXPECT_EQ(y.dtype(), dt);
      const auto want = linear_ref(values(x), values(lin.weight), bias ? values(lin.bias) : std::vector<double>{}, 8, 5, 3);
      // f32: 5-term dot products of O(1) values, ~1e-6 relative.
      expect_close("linear", y, Tensor::from_vector(want, {2, 4, 3}), dt == DType::f64 ? 1e-12 : 1e-5, 1e-5);
    }
  }
  EXPECT_THROW(Linear(5, 3)(Tensor::zeros({2, 4})), ShapeError);
}

TEST(NnLayers, LinearAppliesItsActivation) {
  Generator g(5);
  Linear lin(6, 4, true, Init{DType::f64});
  const Tensor x = randn(g, {3, 6}, DType::f64);
  const auto pre = linear_ref(values(x), values(lin.weight), values(lin.bias), 3, 6, 4);
  const std::pair<Activation, double (*)(double)> acts[] = {
      {Activation::quick_gelu, [](double v) { return v / (1 + std::exp(-1.702 * v)); }},
      {Activation::gelu_erf, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }},
      {Activation::gelu_tanh, [](double v) { return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }},
      {Activation::silu, [](double v) { return v / (1 + std::exp(-v)); }},
      {Activation::none, [](double v) { return v; }}};
  for (const auto& [act, f] : acts) {
    std::vector<double> want = pre;
    for (double& v : want) v = f(v);
    expect_close("linear + activation", lin.forward(x, act), Tensor::from_vector(want, {3, 4}), 1e-12, 1e-12);
  }
  // ops::linear checks its own shapes (Linear's message names in_features first).
  EXPECT_THROW(ops::linear(x, Tensor::zeros({6}, DType::f64)), ShapeError);                  // weight not [N, K]
  EXPECT_THROW(ops::linear(x, lin.weight, Tensor::zeros({5}, DType::f64)), ShapeError);     // bias not [N]
  EXPECT_THROW(ops::linear(Tensor::zeros({3, 5}, DType::f64), lin.weight), ShapeError);   // K differs
}

TEST(NnLayers, LinearWithBf16WeightsEqualsRoundedF32) {
  Generator g(4);
  Linear lin(64, 16);
  const Tensor x = randn(g, {3, 64});
  lin.to(DType::bf16);
  const Tensor y = lin(x);
  EXPECT_EQ(y.dtype(), DType::f32);
  // The same (rounded) weights in f32: only the accumulation order may differ.
  const auto want = linear_ref(values(x), values(lin.weight), values(lin.bias), 3, 64, 16);
  expect_close("bf16 linear", y, Tensor::from_vector(want, {3, 16}), 1e-4, 1e-5);
}

TEST(NnLayers, QuantizedLinearMultipliesByItsCodes) {
  // After quantize_q8 the layer is x dequant(W)^T + b, then its activation: compared with the
  // same computation on the dequantized weight in double (f32 sums of 100 terms: 1e-5).
  Generator g(6);
  Linear lin(100, 7);
  lin.freeze();
  const Tensor x = randn(g, {2, 3, 100});
  lin.quantize_q8();
  EXPECT_TRUE(lin.is_quantized());
  EXPECT_FALSE(lin.weight.defined()) << "the full-precision weight is released";
  EXPECT_EQ(lin.q8_weight().codes.dtype(), DType::i8);
  const Tensor w = ops::dequantize_q8(lin.q8_weight().codes, lin.q8_weight().scales);
  const auto pre = linear_ref(values(x), values(w), values(lin.bias), 6, 100, 7);
  std::vector<double> want = pre;
  for (double& v : want) v = v / (1 + std::exp(-v));
  expect_close("q8 linear", lin(x), Tensor::from_vector(pre, {2, 3, 7}), 1e-5, 1e-5);
  expect_close("q8 linear + silu", lin.forward(x, Activation::silu), Tensor::from_vector(want, {2, 3, 7}), 1e-5, 1e-5);
  EXPECT_EQ(lin.num_parameters(), 707) << "the slot keeps its shape";

  // Gradients still flow through the frozen quantized layer to its input.
  Tensor xg = x.clone();
  xg.set_requires_grad(true);
  const Tensor gx = autograd::grad(ops::sum_all(lin(xg)), {xg}).at(0);
  std::vector<double> col(100, 0.0);  // d sum / dx_i = sum_o W[o, i]
  for (int64_t o = 0; o < 7; ++o)
    for (int64_t i = 0; i < 100; ++i) col[size_t(i)] += w.data<float>()[o * 100 + i];
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t i = 0; i < 100; ++i) ASSERT_NEAR(gx.data<float>()[r * 100 + i], col[size_t(i)], 1e-5);

  // A weight that reappears in the slot (a load, or materialize() filling it) is refused, not
  // silently preferred or ignored.
  EXPECT_THROW(lin.quantize_q8(), ValueError) << "quantized twice";
  lin.materialize();
  EXPECT_THROW(lin(x), ValueError);
}

TEST(NnLayers, OnlyFrozenLinearsAreQuantized) {
  Linear trainable(64, 4);
  EXPECT_THROW(trainable.quantize_q8(), ValueError);
  MLP mlp(64, 96, Activation::silu, true);
  mlp.freeze();
  mlp.fc2->unfreeze();
  EXPECT_EQ(quantize_linears_q8(mlp), 1);
  EXPECT_TRUE(mlp.fc1->is_quantized());
  EXPECT_FALSE(mlp.fc2->is_quantized());
  EXPECT_EQ(quantize_linears_q8(mlp), 0) << "a quantized layer is not quantized again";
}

TEST(NnLayers, LayerNormAndRMSNorm) {
  Generator g(5);
  const int64_t R = 6, C = 7;
  const Tensor x = randn(g, {2, 3, C}, DType::f64, 3.0);
  LayerNorm ln(C, 1e-5, true, true, Init{DType::f64});
  ln.weight = randn(g, {C}, DType::f64);
  ln.bias = randn(g, {C}, DType::f64);
  RMSNorm rms(C, 1e-6, Init{DType::f64});
  rms.weight = randn(g, {C}, DType::f64);
  const auto xv = values(x), w = values(ln.weight), b = values(ln.bias), rw = values(rms.weight);
  std::vector<double> want_ln(xv.size()), want_rms(xv.size());
  for (int64_t r = 0; r < R; ++r) {
    double mean = 0, var = 0, ms = 0;
    for (int64_t c = 0; c < C; ++c) mean += xv[size_t(r * C + c)] / C;
    for (int64_t c = 0; c < C; ++c) {
      const double d = xv[size_t(r * C + c)] - mean;
      var += d * d / C;  // biased variance, as PyTorch
      ms += xv[size_t(r * C + c)] * xv[size_t(r * C + c)] / C;
    }
    for (int64_t c = 0; c < C; ++c) {
      const size_t i = size_t(r * C + c);
      want_ln[i] = (xv[i] - mean) / std::sqrt(var + 1e-5) * w[size_t(c)] + b[size_t(c)];
      want_rms[i] = xv[i] / std::sqrt(ms + 1e-6) * rw[size_t(c)];
    }
  }
  expect_close("layer_norm", ln(x), Tensor::from_vector(want_ln, x.shape()), 1e-12, 1e-12);
  expect_close("rms_norm", rms(x), Tensor::from_vector(want_rms, x.shape()), 1e-12, 1e-12);
  EXPECT_EQ(values(LayerNorm(4).weight), std::vector<double>(4, 1.0));
  EXPECT_EQ(values(LayerNorm(4).bias), std::vector<double>(4, 0.0));
  EXPECT_FALSE(LayerNorm(4, 1e-5, false).weight.defined());
  EXPECT_THROW(rms(Tensor::zeros({2, 3})), ShapeError);
}

TEST(NnLayers, EmbeddingLooksUpRows) {
  Embedding emb(6, 3);
  const Tensor ids = Tensor::from_vector<int64_t>({5, 0, 5, 2}, {2, 2});
  const Tensor y = emb(ids);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  const auto w = values(emb.weight);
  const std::vector<int64_t> idv = {5, 0, 5, 2};
  std::vector<double> want;
  for (int64_t id : idv)
    for (int c = 0; c < 3; ++c) want.push_back(w[size_t(id * 3 + c)]);
  expect_close("embedding", y, Tensor::from_vector(want, {2, 2, 3}), 0);
  EXPECT_THROW(emb(Tensor::from_vector<int64_t>({6}, {1})), IndexError);
}

TEST(NnLayers, DropoutIsDeterministicAndScaled) {
  const Tensor x = Tensor::ones({4096});
  Dropout a(0.25, 99), b(0.25, 99);
  const Tensor ya = a(x), yb = b(x);
  EXPECT_EQ(values(ya), values(yb));  // same seed, same counter
  int64_t kept = 0;
  for (double v : values(ya)) {
    EXPECT_TRUE(v == 0.0 || std::abs(v - 1.0 / 0.75) < 1e-6) << v;
    kept += v != 0.0;
  }
  // Binomial(4096, 0.75): stddev ~28, so +-150 is > 5 sigma.
  EXPECT_NEAR(double(kept), 0.75 * 4096, 150);
  EXPECT_EQ(a.counter(), 1u);
  const Tensor second = a(x);
  EXPECT_NE(values(second), values(ya));  // a fresh mask per call
  b.set_counter(1);
  EXPECT_EQ(values(b(x)), values(second));  // resume reproduces it
  a.eval();
  EXPECT_EQ(a(x).raw_data(), x.raw_data());  // identity, not even a copy
  Dropout all(1.0, 1);
  EXPECT_EQ(values(all(x)), std::vector<double>(4096, 0.0));
  EXPECT_THROW(Dropout(1.5, 1), ValueError);
}

double quick_gelu(double v) { return v / (1 + std::exp(-1.702 * v)); }
double silu(double v) { return v / (1 + std::exp(-v)); }

TEST(NnLayers, MlpQuickGeluAndSwiGLU) {
  Generator g(6);
  const int64_t R = 5, C = 4, Hd = 6;
  const Tensor x = randn(g, {R, C}, DType::f64);
  MLP mlp(C, Hd, Activation::quick_gelu, true, Init{DType::f64});
  auto h = linear_ref(values(x), values(mlp.fc1->weight), values(mlp.fc1->bias), R, C, Hd);
  for (double& v : h) v = quick_gelu(v);
  const auto want = linear_ref(h, values(mlp.fc2->weight), values(mlp.fc2->bias), R, Hd, C);
  expect_close("mlp", mlp(x), Tensor::from_vector(want, {R, C}), 1e-12, 1e-12);

  SwiGLU sw(C, Hd, false, Init{DType::f64});
  EXPECT_FALSE(sw.gate_proj->bias.defined());
  auto gate = linear_ref(values(x), values(sw.gate_proj->weight), {}, R, C, Hd);
  const auto up = linear_ref(values(x), values(sw.up_proj->weight), {}, R, C, Hd);
  for (size_t i = 0; i < gate.size(); ++i) gate[i] = silu(gate[i]) * up[i];
  const auto want2 = linear_ref(gate, values(sw.down_proj->weight), {}, R, Hd, C);
  expect_close("swiglu", sw(x), Tensor::from_vector(want2, {R, C}), 1e-12, 1e-12);

  std::vector<std::string> names;
  for (auto& [n, t] : sw.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"gate_proj.weight", "up_proj.weight", "down_proj.weight"}));
  EXPECT_EQ(activation_from_name("gelu_pytorch_tanh"), Activation::gelu_tanh);
  EXPECT_THROW(activation_from_name("relu6"), ValueError);
}

}  // namespace
}  // namespace rscapret::testing
