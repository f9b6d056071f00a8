// The registry-driven gradient test: every differentiable op's vjp against central finite
// differences in float64 (tests/common/gradcheck.h), on odd shapes, non-contiguous inputs and
// broadcasting. GradCoverage fails for any differentiable op without a case here.
#include <map>

#include "autograd/registry.h"
#include "tests/common/gradcheck.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

Tensor f64(Generator& g, const Shape& s, double lo = -2, double hi = 2) { return g.uniform(s, lo, hi, DType::f64); }

// Checks f on every layout of the first input (contiguous, transposed, strided).
void check_layouts(const std::string& name, const Fn& f, Inputs in) {
  for (auto& [layout, x0] : layouts(in[0])) {
    Inputs v = in;
    v[0] = x0;
    gradcheck(name + " " + layout, f, v);
  }
}

void unary(Generator& g, const std::string& name, const std::function<Tensor(const Tensor&)>& op, double lo = -2,
           double hi = 2) {
  for (const Shape& s : {Shape{7}, Shape{3, 5}, Shape{2, 1, 3}})
    check_layouts(name, [&](const Inputs& x) { return op(x[0]); }, {f64(g, s, lo, hi)});
}

void binary(Generator& g, const std::string& name, const std::function<Tensor(const Tensor&, const Tensor&)>& op,
            bool positive_b = false) {
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{3, 5}, {3, 5}}, {{3, 5}, {5}}, {{4, 1, 3}, {2, 1}}, {{2, 3}, {}}}) {
    const Tensor b = positive_b ? f64(g, sb, 0.5, 2) : f64(g, sb);
    check_layouts(name, [&](const Inputs& x) { return op(x[0], x[1]); }, {f64(g, sa), b});
  }
}

std::map<std::string, std::function<void(Generator&)>> build() {
  std::map<std::string, std::function<void(Generator&)>> c;
  c["neg"] = [](Generator& g) { unary(g, "neg", [](const Tensor& x) { return ops::neg(x); }); };
  c["exp"] = [](Generator& g) { unary(g, "exp", [](const Tensor& x) { return ops::exp(x); }); };
  c["log"] = [](Generator& g) { unary(g, "log", [](const Tensor& x) { return ops::log(x); }, 0.2, 3); };
  c["sqrt"] = [](Generator& g) { unary(g, "sqrt", [](const Tensor& x) { return ops::sqrt(x); }, 0.2, 3); };
  c["rsqrt"] = [](Generator& g) { unary(g, "rsqrt", [](const Tensor& x) { return ops::rsqrt(x); }, 0.2, 3); };
  c["tanh"] = [](Generator& g) { unary(g, "tanh", [](const Tensor& x) { return ops::tanh(x); }); };
  c["sigmoid"] = [](Generator& g) { unary(g, "sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }); };
  c["gelu_erf"] = [](Generator& g) { unary(g, "gelu_erf", [](const Tensor& x) { return ops::gelu_erf(x); }, -4, 4); };
  c["gelu_tanh"] = [](Generator& g) { unary(g, "gelu_tanh", [](const Tensor& x) { return ops::gelu_tanh(x); }, -4, 4); };
  c["quick_gelu"] = [](Generator& g) { unary(g, "quick_gelu", [](const Tensor& x) { return ops::quick_gelu(x); }, -4, 4); };
  c["silu"] = [](Generator& g) { unary(g, "silu", [](const Tensor& x) { return ops::silu(x); }, -4, 4); };
  c["pow_scalar"] = [](Generator& g) {
    for (double e : {2.0, 0.5, -1.0, 1.7}) unary(g, "pow_scalar", [e](const Tensor& x) { return ops::pow_scalar(x, e); }, 0.3, 2);
  };
  c["add"] = [](Generator& g) { binary(g, "add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }); };
  c["sub"] = [](Generator& g) { binary(g, "sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }); };
  c["mul"] = [](Generator& g) { binary(g, "mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }); };
  c["div"] = [](Generator& g) { binary(g, "div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b); }, true); };
  c["where"] = [](Generator& g) {
    const Tensor cond = ops::gt(g.uniform({3, 5}, -1, 1), Tensor::scalar(0.0));
    check_layouts("where", [cond](const Inputs& x) { return ops::where(cond, x[0], x[1]); }, {f64(g, {3, 5}), f64(g, {5})});
  };
  c["masked_fill"] = [](Generator& g) {
    const Tensor mask = ops::gt(g.uniform({3, 1}, -1, 1), Tensor::scalar(0.0));
    check_layouts("masked_fill", [mask](const Inputs& x) { return ops::masked_fill(x[0], mask, 3.0); }, {f64(g, {3, 5})});
  };
  auto reduce = [](const char* name, std::function<Tensor(const Tensor&, int, bool)> op) {
    return [=](Generator& g) {
      for (int d : {0, 1, -1})
        for (bool keep : {false, true})
          check_layouts(name, [&](const Inputs& x) { return op(x[0], d, keep); }, {f64(g, {3, 4, 5})});
    };
  };
  c["sum"] = reduce("sum", [](const Tensor& x, int d, bool k) { return ops::sum(x, d, k); });
  c["mean"] = reduce("mean", [](const Tensor& x, int d, bool k) { return ops::mean(x, d, k); });
  c["max"] = reduce("max", [](const Tensor& x, int d, bool k) { return ops::max(x, d, k); });
  c["logsumexp"] = reduce("logsumexp", [](const Tensor& x, int d, bool k) { return ops::logsumexp(x, d, k); });
  c["softmax"] = reduce("softmax", [](const Tensor& x, int d, bool) { return ops::softmax(x, d); });
  c["log_softmax"] = reduce("log_softmax", [](const Tensor& x, int d, bool) { return ops::log_softmax(x, d); });
  c["layer_norm"] = [](Generator& g) {
    check_layouts("layer_norm", [](const Inputs& x) { return ops::layer_norm(x[0], x[1], x[2], 1e-5); },
                  {f64(g, {3, 7}), f64(g, {7}), f64(g, {7})});
    check_layouts("layer_norm no affine", [](const Inputs& x) { return ops::layer_norm(x[0], Tensor(), Tensor(), 1e-5); },
                  {f64(g, {2, 2, 5})});
  };
  c["rms_norm"] = [](Generator& g) {
    check_layouts("rms_norm", [](const Inputs& x) { return ops::rms_norm(x[0], x[1], 1e-6); }, {f64(g, {3, 7}), f64(g, {7})});
  };
  c["rope"] = [](Generator& g) {
    const Tensor pos = Tensor::from_vector(std::vector<int64_t>{0, 3, 17}, {3});
    for (auto layout : {ops::RopeLayout::half_split, ops::RopeLayout::interleaved})
      check_layouts("rope", [&](const Inputs& x) { return ops::rope(x[0], pos, 100.0, layout, 4); }, {f64(g, {2, 3, 2, 6})});
  };
  c["embedding"] = [](Generator& g) {
    const Tensor ids = Tensor::from_vector(std::vector<int64_t>{3, 0, 3, 5, 1, 3}, {2, 3});  // repeats accumulate
    check_layouts("embedding", [ids](const Inputs& x) { return ops::embedding(x[0], ids); }, {f64(g, {6, 4})});
  };
  c["index_select"] = [](Generator& g) {
    const Tensor idx = Tensor::from_vector(std::vector<int64_t>{2, 0, 2}, {3});
    for (int d = 0; d < 2; ++d)
      check_layouts("index_select", [&](const Inputs& x) { return ops::index_select(x[0], d, idx); }, {f64(g, {4, 3})});
  };
  c["index_add"] = [](Generator& g) {
    const Tensor idx = Tensor::from_vector(std::vector<int64_t>{2, 0, 2}, {3});
    check_layouts("index_add", [idx](const Inputs& x) { return ops::index_add(x[0], 0, idx, x[1]); },
                  {f64(g, {4, 3}), f64(g, {3, 3})});
  };
  c["concat"] = [](Generator& g) {
    for (int d = 0; d < 2; ++d)
      check_layouts("concat", [d](const Inputs& x) { return ops::concat({x[0], x[1], x[0]}, d); }, {f64(g, {2, 3}), f64(g, {2, 3})});
  };
  c["stack"] = [](Generator& g) {
    check_layouts("stack", [](const Inputs& x) { return ops::stack({x[0], x[1]}, 1); }, {f64(g, {2, 3}), f64(g, {2, 3})});
  };
  c["cast"] = [](Generator& g) {
    // Through f32 the forward values are rounded to ~6e-8 relative: a step h = 1e-2 keeps that
    // rounding at ~1e-5 of the difference quotient, and the function is linear (no truncation error).
    gradcheck("cast f64->f32->f64", [](const Inputs& x) { return ops::cast(ops::cast(x[0], DType::f32), DType::f64); },
              {f64(g, {3, 4})}, 17, {1e-2, 1e-4, 1e-4});
  };
  c["matmul"] = [](Generator& g) {
    for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {4, 5}}, {{2, 3, 4}, {4, 2}}, {{2, 1, 3, 4}, {3, 4, 2}},
                                                                      {{4}, {4, 3}}, {{3, 4}, {4}}})
      check_layouts("matmul", [](const Inputs& x) { return ops::matmul(x[0], x[1]); }, {f64(g, sa), f64(g, sb)});
  };
  c["linear_q8"] = [](Generator& g) {
    // Gradient in x; the quantized weight is a constant (a partial last block included).
    for (const auto& [xs, N, K] : std::vector<std::tuple<Shape, int64_t, int64_t>>{{{3, 40}, 5, 40}, {{2, 2, 33}, 4, 33}}) {
      const ops::Q8Weight q = ops::quantize_q8(g.normal({N, K}));
      check_layouts("linear_q8", [q](const Inputs& x) { return ops::linear_q8(x[0], q.codes, q.scales); }, {f64(g, xs)});
    }
  };
  c["cross_entropy"] = [](Generator& g) {
    const Tensor t = Tensor::from_vector(std::vector<int64_t>{2, -100, 0, 4}, {2, 2});
    check_layouts("cross_entropy", [t](const Inputs& x) { return ops::cross_entropy(x[0], t); }, {f64(g, {2, 2, 5})});
    check_layouts("cross_entropy composed", [t](const Inputs& x) { return ops::cross_entropy_composed(x[0], t); },
                  {f64(g, {2, 2, 5})});
  };
  c["attention"] = [](Generator& g) {
    struct A { int64_t B, H, Hkv, Tq, Tk; bool causal, mask; };
    for (const A& a : {A{1, 2, 2, 3, 3, false, false}, A{2, 4, 2, 3, 3, true, true}, A{1, 2, 1, 2, 5, true, false}}) {
      ops::AttentionOptions o;
      o.causal = a.causal;
      if (a.mask) o.key_keep = Tensor::from_vector(std::vector<bool>{true, false, true, true, true, false}, {2, 3});
      check_layouts("attention", [o](const Inputs& x) { return ops::attention(x[0], x[1], x[2], o); },
                    {f64(g, {a.B, a.H, a.Tq, 4}), f64(g, {a.B, a.Hkv, a.Tk, 4}), f64(g, {a.B, a.Hkv, a.Tk, 3})});
    }
  };
  // Views.
  c["reshape"] = [](Generator& g) { check_layouts("reshape", [](const Inputs& x) { return ops::reshape(x[0], {5, 3}); }, {f64(g, {3, 5})}); };
  c["permute"] = [](Generator& g) { check_layouts("permute", [](const Inputs& x) { return ops::permute(x[0], {2, 0, 1}); }, {f64(g, {2, 3, 4})}); };
  c["transpose"] = [](Generator& g) { check_layouts("transpose", [](const Inputs& x) { return ops::transpose(x[0], 0, -1); }, {f64(g, {2, 3, 4})}); };
  c["narrow"] = [](Generator& g) { check_layouts("narrow", [](const Inputs& x) { return ops::narrow(x[0], 1, 1, 2); }, {f64(g, {2, 4})}); };
  c["select"] = [](Generator& g) { check_layouts("select", [](const Inputs& x) { return ops::select(x[0], 0, -1); }, {f64(g, {3, 4})}); };
  c["expand"] = [](Generator& g) { check_layouts("expand", [](const Inputs& x) { return ops::expand(x[0], {2, 3, 4}); }, {f64(g, {3, 1})}); };
  c["squeeze"] = [](Generator& g) { check_layouts("squeeze", [](const Inputs& x) { return ops::squeeze(x[0], 1); }, {f64(g, {3, 1, 2})}); };
  c["unsqueeze"] = [](Generator& g) { check_layouts("unsqueeze", [](const Inputs& x) { return ops::unsqueeze(x[0], 1); }, {f64(g, {3, 2})}); };
  c["contiguous"] = [](Generator& g) { check_layouts("contiguous", [](const Inputs& x) { return ops::contiguous(x[0]); }, {f64(g, {3, 2})}); };
  return c;
}

const std::map<std::string, std::function<void(Generator&)>>& cases() {
  static const auto c = build();
  return c;
}

TEST(GradCoverage, EveryDifferentiableOpHasAGradientTest) {
  for (const auto& op : ops::op_registry()) {
    if (op.differentiable) {
      EXPECT_TRUE(cases().count(op.name)) << "differentiable op '" << op.name << "' has no gradient test";
    }
  }
}

class Gradients : public ::testing::TestWithParam<std::string> {};
TEST_P(Gradients, MatchFiniteDifferences) {
  Generator g(99);
  cases().at(GetParam())(g);
}
std::vector<std::string> names() {
  std::vector<std::string> n;
  for (const auto& op : ops::op_registry())
    if (op.differentiable) n.push_back(op.name);
  return n;
}
INSTANTIATE_TEST_SUITE_P(AllOps, Gradients, ::testing::ValuesIn(names()), [](const auto& i) { return i.param; });

}  // namespace
}  // namespace rscapret::testing
