// The engine: accumulation, frozen tensors, grad mode, graph lifetime, errors, determinism.
#include <memory>

#include "autograd/autograd.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

Tensor leaf(const std::vector<double>& v, const Shape& s) {
  Tensor t = Tensor::from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, TensorUsedTwiceAccumulates) {
  Tensor x = leaf({1, -2, 3}, {3});
  const Tensor y = ops::sum_all(ops::add(ops::mul(x, x), x));  // d/dx = 2x + 1
  autograd::backward(y);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, -3, 7}));
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1, 2}, {2});
  for (int i = 0; i < 3; ++i) autograd::backward(ops::sum_all(ops::mul(x, 2.0)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, FrozenTensorsGetNoGradientButPassItOn) {
  Generator g(1);
  Tensor x = g.normal({2, 3}, 0, 1, DType::f64);
  x.set_requires_grad(true);
  const Tensor w = g.normal({4, 3}, 0, 1, DType::f64);  // frozen: requires_grad false
  const Tensor y = ops::sum_all(ops::matmul(x, ops::transpose(w, 0, 1)));
  autograd::backward(y);
  EXPECT_FALSE(w.grad().defined());
  // d sum(x W^T) / dx = ones(2, 4) W = column sums of W, for every row.
  const Tensor want = ops::expand(ops::sum(w, 0, true), {2, 3});
  expect_close("x.grad", x.grad(), want.contiguous(), {1e-12, 1e-12});
}

TEST(Autograd, NoGradGuardAndDetachStopRecording) {
  Tensor x = leaf({1, 2}, {2});
  {
    autograd::NoGradGuard guard;
    EXPECT_FALSE(autograd::is_grad_enabled());
    EXPECT_FALSE(ops::mul(x, x).requires_grad());
  }
  EXPECT_TRUE(autograd::is_grad_enabled());
  EXPECT_FALSE(ops::mul(ops::detach(x), 2.0).requires_grad());
  EXPECT_FALSE(x.reshape({2, 1}).requires_grad());  // raw views carry no autograd state
  EXPECT_TRUE(ops::reshape(x, {2, 1}).requires_grad());
}

TEST(Autograd, GraphIsFreedAfterBackwardUnlessRetained) {
  Tensor x = leaf({1, 2, 3}, {3});
  std::weak_ptr<Storage> saved;
  Tensor loss;
  {
    const Tensor a = ops::exp(x);  // saved by the mul below
    saved = a.storage();
    loss = ops::sum_all(ops::mul(a, a));
  }
  EXPECT_FALSE(saved.expired()) << "the graph keeps what the backward needs";
  autograd::backward(loss);
  EXPECT_TRUE(saved.expired()) << "saved tensors are released once their node has run";
  EXPECT_THROW(autograd::backward(loss), ValueError);

  Tensor z = leaf({1, 2}, {2});
  const Tensor l2 = ops::sum_all(ops::mul(z, z));
  autograd::backward(l2, Tensor(), /*retain_graph=*/true);
  autograd::backward(l2);
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(Autograd, Errors) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_THROW(autograd::backward(ops::mul(x, 2.0)), ShapeError);  // non-scalar needs a cotangent
  EXPECT_THROW(autograd::backward(ops::mul(x, 2.0), Tensor::ones({3}, DType::f64)), ShapeError);
  EXPECT_THROW(autograd::backward(Tensor::scalar(1.0)), ValueError);  // nothing requires grad
  EXPECT_THROW(ops::mul(x, 2.0).set_requires_grad(false), ValueError);  // not a leaf
  EXPECT_THROW(Tensor::zeros({2}, DType::i64).set_requires_grad(true), DTypeError);
  const Tensor y = ops::gelu_erf_grad(x);
  EXPECT_THROW(autograd::backward(ops::sum_all(y)), ValueError);  // second derivative
}

TEST(Autograd, GradReturnsWithoutTouchingLeafGrad) {
  Tensor x = leaf({1, 2}, {2}), unused = leaf({5}, {1});
  const auto g = autograd::grad(ops::sum_all(ops::mul(x, 3.0)), {x, unused});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3, 3}));
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{0}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, BackwardIsDeterministic) {
  Generator g(2);
  const Tensor xv = g.normal({64, 33}), wv = g.normal({17, 33});
  auto run = [&] {
    Tensor x = xv.clone(), w = wv.clone();
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    const Tensor h = ops::silu(ops::matmul(x, ops::transpose(w, 0, 1)));
    autograd::backward(ops::sum_all(ops::softmax(ops::layer_norm(h, Tensor(), Tensor(), 1e-5), -1)));
    return std::make_pair(x.grad().to_vector<float>(), w.grad().to_vector<float>());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace rscapret::testing
