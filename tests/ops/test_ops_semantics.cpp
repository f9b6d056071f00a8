// What the ops mean, beyond fast == reference: fused ops against their composed twins, the
// numerically delicate cases, typed errors, thread-count independence, and the CUDA plug.
#include <cmath>
#include <limits>

#include <xxhash.h>

#include "autograd/dispatch.h"
#include "kernels/cpu/parallel.h"
#include "tensor/device_backend.h"
#include "tests/ops/op_test_util.h"

namespace rscapret::testing {
namespace {

TEST(Attention, FusedMatchesComposedTwin) {
  Generator g(3);
  struct A { int64_t B, H, Hkv, Tq, Tk, D; bool causal, mask; };
  for (const A& a : {A{2, 4, 2, 6, 6, 16, true, true}, A{1, 2, 2, 3, 8, 8, true, false}, A{2, 2, 1, 5, 5, 12, false, true}}) {
    const Tensor q = g.normal({a.B, a.H, a.Tq, a.D}), k = g.normal({a.B, a.Hkv, a.Tk, a.D}),
                 v = g.normal({a.B, a.Hkv, a.Tk, a.D});
    ops::AttentionOptions o;
    o.causal = a.causal;
    if (a.mask) {
      std::vector<bool> keep(size_t(a.B * a.Tk), true);
      keep[1] = false;
      keep[size_t(a.B * a.Tk - 1)] = false;
      o.key_keep = Tensor::from_vector(keep, {a.B, a.Tk});
    }
    for (bool ref : {false, true}) {
      std::unique_ptr<ops::ReferenceKernelsGuard> guard;
      if (ref) guard = std::make_unique<ops::ReferenceKernelsGuard>();
      // Both are f32 with sums over Tk and D terms: 1e-5 covers the different summation orders.
      expect_close("attention fused vs composed", ops::attention(q, k, v, o), ops::attention_composed(q, k, v, o),
                   {1e-5, 1e-5});
    }
    // f64 through the reference: the twins agree to rounding.
    expect_close("attention f64", ops::attention(q.to(DType::f64), k.to(DType::f64), v.to(DType::f64), o),
                 ops::attention_composed(q.to(DType::f64), k.to(DType::f64), v.to(DType::f64), o), {1e-12, 1e-12});
  }
}

TEST(Attention, FullyMaskedQueryGivesZerosAndCausalUsesCacheOffset) {
  Generator g(4);
  const Tensor q = g.normal({1, 1, 2, 4}), k = g.normal({1, 1, 3, 4}), v = g.normal({1, 1, 3, 4});
  ops::AttentionOptions o;
  o.key_keep = Tensor::from_vector(std::vector<bool>{false, false, false}, {1, 3});
  EXPECT_EQ(max_abs(ops::attention(q, k, v, o)), 0.0);
  EXPECT_EQ(max_abs(ops::attention_composed(q, k, v, o)), 0.0);
  // The same with 10 query rows (the blocked kernel), batch item 1 fully masked, item 0 not.
  const Tensor q10 = g.normal({2, 1, 10, 4}), k2 = g.normal({2, 1, 3, 4}), v2 = g.normal({2, 1, 3, 4});
  ops::AttentionOptions o2;
  o2.key_keep = Tensor::from_vector(std::vector<bool>{true, false, true, false, false, false}, {2, 3});
  const Tensor out = ops::attention(q10, k2, v2, o2);
  EXPECT_EQ(max_abs(out.narrow(0, 1, 1)), 0.0);
  expect_close("blocked, partly masked", out.narrow(0, 0, 1), ops::attention_composed(q10, k2, v2, o2).narrow(0, 0, 1),
               {1e-6, 1e-6});
  // Causal with Tq = 1 and Tk = 3 (decoding with a cache): the query sees all three keys.
  ops::AttentionOptions causal;
  causal.causal = true;
  const Tensor q1 = q.narrow(2, 1, 1);
  expect_close("decode step", ops::attention(q1, k, v, causal), ops::attention(q1, k, v), {1e-7, 0});
}

TEST(Attention, RejectsBadShapes) {
  Generator g(5);
  EXPECT_THROW(ops::attention(g.normal({1, 3, 2, 4}), g.normal({1, 2, 2, 4}), g.normal({1, 2, 2, 4})), ShapeError);
  EXPECT_THROW(ops::attention(g.normal({1, 2, 2, 4}), g.normal({1, 2, 2, 5}), g.normal({1, 2, 2, 4})), ShapeError);
  ops::AttentionOptions o;
  o.key_keep = Tensor::ones({1, 3}, DType::boolean);
  EXPECT_THROW(ops::attention(g.normal({1, 2, 2, 4}), g.normal({1, 2, 2, 4}), g.normal({1, 2, 2, 4}), o), ShapeError);
}

TEST(CrossEntropy, HuggingFaceSemantics) {
  // logits for 3 rows over 4 classes; row 1 is ignored.
  const Tensor logits = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 9, 9, 9, 9, 0, 0, 0, 10}, {3, 4});
  const Tensor t = Tensor::from_vector(std::vector<int64_t>{3, -100, 0}, {3});
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0)) - 4.0;
  const double l2 = std::log(3.0 + std::exp(10.0)) - 0.0;
  EXPECT_NEAR(ops::cross_entropy(logits, t).item(), (l0 + l2) / 2, 1e-6);
  EXPECT_NEAR(ops::cross_entropy_composed(logits, t).item(), (l0 + l2) / 2, 1e-6);
  // All targets ignored: NaN, as PyTorch's mean over zero elements.
  const Tensor none = Tensor::from_vector(std::vector<int64_t>{-100, -100, -100}, {3});
  EXPECT_TRUE(std::isnan(ops::cross_entropy(logits, none).item()));
  EXPECT_THROW(ops::cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{4, 0, 0}, {3})), IndexError);
  EXPECT_THROW(ops::cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 0}, {2})), ShapeError);
}

TEST(CrossEntropy, FusedMatchesComposedOnLargeVocabulary) {
  Generator g(6);
  const Tensor logits = g.normal({9, 32000}, 0, 4);
  const Tensor t = g.randint({9}, 32000);
  expect_close("ce 32000", ops::cross_entropy(logits, t), ops::cross_entropy_composed(logits, t), {1e-5, 1e-5});
}

TEST(Softmax, StableForHugeLogitsAndMaskedRows) {
  const Tensor x = Tensor::from_vector(std::vector<float>{1e4f, 1e4f - 1, -1e4f, 3e38f, 3e38f, -3e38f}, {2, 3});
  const auto p = ops::softmax(x, -1).to_vector<double>();
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(p[3], 0.5, 1e-6);
  const auto lp = ops::log_softmax(x, -1).to_vector<double>();
  EXPECT_NEAR(lp[1], -1 - std::log(1 + std::exp(-1.0)), 1e-5);
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor m = Tensor::from_vector(std::vector<float>{-inf, -inf, 2.0f}, {1, 3});
  EXPECT_EQ(ops::logsumexp(m, -1).item(), 2.0);
  EXPECT_EQ(ops::logsumexp(Tensor::from_vector(std::vector<float>{-inf, -inf}, {2}), 0).item(), -inf);
}

TEST(Rope, PositionZeroIsIdentityAndInverseUndoes) {
  Generator g(7);
  const Tensor x = g.normal({1, 4, 2, 8});
  const Tensor zeros = Tensor::zeros({4}, DType::i64);
  for (auto layout : {ops::RopeLayout::half_split, ops::RopeLayout::interleaved}) {
    expect_close("rope at 0", ops::rope(x, zeros, 10000, layout), x, {0, 0});
    const Tensor pos = Tensor::from_vector(std::vector<int64_t>{3, 50, 900, 7}, {4});
    const Tensor back = ops::rope(ops::rope(x, pos, 10000, layout), pos, 10000, layout, -1, true);
    expect_close("rope inverse", back, x, {1e-6, 1e-6});
  }
}

TEST(Rope, InterleavedEqualsHalfSplitAfterPermutingFeatures) {
  // Meta's interleaved pairs (2i, 2i+1) become HF's (i, i + D/2) under the loader's permutation.
  Generator g(8);
  const int64_t D = 12;
  const Tensor x = g.normal({2, 3, 2, D});
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < D / 2; ++i) perm.push_back(2 * i);
  for (int64_t i = 0; i < D / 2; ++i) perm.push_back(2 * i + 1);
  const Tensor p = Tensor::from_vector(perm, {D});
  const Tensor pos = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor a = ops::index_select(ops::rope(x, pos, 500, ops::RopeLayout::interleaved), 3, p);
  const Tensor b = ops::rope(ops::index_select(x, 3, p), pos, 500, ops::RopeLayout::half_split);
  expect_close("layouts", a, b, {1e-6, 0});
}

TEST(Rope, MatchesHandComputedRotation) {
  // D = 2: a single pair rotated by position * theta^0 = position radians.
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 0}, {1, 1, 1, 2});
  const Tensor pos = Tensor::from_vector(std::vector<int64_t>{2}, {1});
  const auto y = ops::rope(x, pos, 10000, ops::RopeLayout::half_split).to_vector<double>();
  EXPECT_NEAR(y[0], std::cos(2.0), 1e-7);
  EXPECT_NEAR(y[1], std::sin(2.0), 1e-7);
}

TEST(Matmul, SixteenBitWeightsAreConvertedPerTile) {
  // K = 2^18 makes the conversion tile (4M floats) 16 columns wide, so N = 40 spans three tiles.
  Generator g(9);
  const Tensor a = g.normal({3, 1 << 18}, 0, 0.1), w = g.normal({40, 1 << 18}, 0, 0.1).to(DType::bf16);
  const Tensor want = ops::matmul(a, w.to(DType::f32).transpose(0, 1));
  // Same products, OpenBLAS on both sides, only the blocking differs: 2^18-term sums of ~1e-2 terms.
  expect_close("tiled bf16", ops::matmul(a, w.transpose(0, 1)), want, {1e-4, 1e-4});
  expect_close("tiled bf16 gemv", ops::matmul(a.narrow(0, 0, 1), w.transpose(0, 1)), want.narrow(0, 0, 1), {1e-4, 1e-4});
}

TEST(Matmul, RowMajorSixteenBitRightOperand) {
  // dX = dY W (a Linear's backward) reads a 16-bit W [N_out, K_in] as B row-major; K = 2^18 rows
  // of 40 make several conversion tiles. The reference is the same product on f32 weights.
  Generator g(10);
  const Tensor dy = g.normal({5, 1 << 17}, 0, 0.1), w = g.normal({1 << 17, 40}, 0, 0.1).to(DType::bf16);
  const Tensor want = ops::matmul(dy, w.to(DType::f32));
  expect_close("row-major bf16 B", ops::matmul(dy, w), want, {1e-4, 1e-4});
  expect_close("row-major f16 B", ops::matmul(dy, w.to(DType::f16)), ops::matmul(dy, w.to(DType::f16).to(DType::f32)),
               {1e-4, 1e-4});
  // A tile narrower than N: 2^17 x 100 bf16 columns -> tiles of 32 columns.
  const Tensor w2 = g.normal({1 << 17, 100}, 0, 0.1).to(DType::bf16);
  expect_close("row-major bf16 B, tiled N", ops::matmul(dy, w2), ops::matmul(dy, w2.to(DType::f32)), {1e-4, 1e-4});
}

TEST(Matmul, ErrorsNameOpAndShapes) {
  try {
    ops::matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()), "[matmul] inner dims differ: (2,3) @ (4,5)");
  }
  EXPECT_THROW(ops::matmul(Tensor::zeros({2, 3}, DType::i64), Tensor::zeros({3, 5})), DTypeError);
  EXPECT_THROW(ops::matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 5})), ShapeError);
}

TEST(Ops, TypedErrors) {
  EXPECT_THROW(ops::add(Tensor::zeros({2, 3}), Tensor::zeros({4})), ShapeError);
  EXPECT_THROW(ops::exp(Tensor::zeros({2}, DType::i64)), DTypeError);
  EXPECT_THROW(ops::where(Tensor::zeros({2}), Tensor::zeros({2}), Tensor::zeros({2})), DTypeError);
  EXPECT_THROW(ops::embedding(Tensor::zeros({5, 3}), Tensor::from_vector(std::vector<int64_t>{5}, {1})), IndexError);
  EXPECT_THROW(ops::embedding(Tensor::zeros({5, 3}), Tensor::from_vector(std::vector<int64_t>{-1}, {1})), IndexError);
  EXPECT_THROW(ops::layer_norm(Tensor::zeros({2, 3}), Tensor::zeros({4}), Tensor(), 1e-5), ShapeError);
  EXPECT_THROW(ops::concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 4})}, 0), ShapeError);
  EXPECT_THROW(ops::sum(Tensor::zeros({2, 3}), 2), IndexError);
  EXPECT_THROW(ops::max(Tensor::zeros({2, 0}), 1), ShapeError);
  EXPECT_THROW(ops::rope(Tensor::zeros({1, 2, 1, 3}), Tensor::zeros({2}, DType::i64), 1e4, ops::RopeLayout::half_split),
               ShapeError);
}

TEST(Ops, IntegerComparisonsAndSixteenBitInputs) {
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, 5, 2}, {3});
  EXPECT_EQ(ops::ne(ids, Tensor::from_vector(std::vector<int64_t>{0}, {1})).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 1, 1}));
  const Tensor h = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).to(DType::bf16);
  EXPECT_EQ(ops::add(h, h).dtype(), DType::f32);
  EXPECT_EQ(ops::add(h, h).to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(Ops, ResultsDoNotDependOnThreadCount) {
  Generator g(10);
  const Tensor x = g.normal({300, 517}), w = g.normal({517}), b = g.normal({517});
  auto run = [&] {
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (const Tensor& t : {ops::softmax(x, -1), ops::layer_norm(x, w, b, 1e-5), ops::rms_norm(x, w, 1e-6),
                            ops::sum(x, 0), ops::silu(x), ops::add(x, w), ops::logsumexp(x, 1)})
      XXH3_64bits_update(st, t.raw_data(), size_t(t.numel()) * t.element_size());
    const uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
  };
  kernels::set_num_threads(1);
  const uint64_t one = run();
  kernels::set_num_threads(2);
  const uint64_t two = run();
  kernels::set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(Cuda, WithoutDeviceTheErrorIsClear) {
  if (cuda_runtime::available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor::zeros({2}).to(Device::cuda(0));
    FAIL() << "expected DeviceError";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("[cuda]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rscapret::testing
