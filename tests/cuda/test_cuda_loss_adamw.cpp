// The CUDA cross-entropy (kernels/cuda/cross_entropy.cu) and fused AdamW (kernels/cuda/adamw.cu)
// against the CPU: cross-entropy against kernels::ref and the softmax formula in double, AdamW
// against kernels::ref::adamw_update<float> bit for bit. Outputs start poisoned (NaN), so an
// element a kernel never writes fails, and every buffer's guards must stay intact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;

constexpr int64_t kIgnore = -100;

// ---- cross-entropy ----

// Loss and lse: f32 online sums of exp over up to 128k terms (per thread, then a tree) against
// double; a few ulp of the sum, ~1e-6 relative.
constexpr double kCeForwardTol = 1e-5;
// dlogits = softmax from the f32 lse: lse's rounding (~1e-6 absolute at |lse| ~ 10) moves every
// probability by that much relative.
constexpr double kCeBackwardTol = 1e-5;

struct CeCase {
  int64_t rows, V;
  std::vector<float> logits;
  std::vector<int64_t> targets;
};

// Random targets, with row 0 at the first class, row 1 at the last, and every 5th row from row 2
// ignored.
CeCase make_case(int64_t rows, int64_t V, uint64_t seed, float scale, float offset) {
  CeCase c{rows, V, random_normal(rows * V, seed, scale), random_ids(rows, V, seed + 1)};
  for (float& x : c.logits) x += offset;
  c.targets[0] = 0;
  if (rows > 1) c.targets[1] = V - 1;
  for (int64_t r = 2; r < rows; r += 5) c.targets[size_t(r)] = kIgnore;
  return c;
}

bool ignored(const CeCase& c, int64_t r) { return c.targets[size_t(r)] == kIgnore; }

std::vector<double> ref_loss(const CeCase& c) {
  const std::vector<double> x(c.logits.begin(), c.logits.end());
  std::vector<double> loss(size_t(c.rows));
  kernels::ref::cross_entropy_rows<double>(x.data(), c.targets.data(), loss.data(), c.rows, c.V, kIgnore);
  return loss;
}

// logsumexp of each row in double (0 on ignored rows, matching what the test compares there).
std::vector<double> ref_lse(const CeCase& c) {
  std::vector<double> lse(size_t(c.rows), 0.0);
  for (int64_t r = 0; r < c.rows; ++r) {
    if (ignored(c, r)) continue;
    const float* row = c.logits.data() + r * c.V;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c.V; ++j) m = std::max(m, double(row[j]));
    for (int64_t j = 0; j < c.V; ++j) s += std::exp(double(row[j]) - m);
    lse[size_t(r)] = m + std::log(s);
  }
  return lse;
}

// (exp(x - lse) - onehot) * scale in double, zero on ignored rows.
std::vector<double> ref_grad(const CeCase& c, const std::vector<double>& lse, double scale) {
  std::vector<double> d(c.logits.size(), 0.0);
  for (int64_t r = 0; r < c.rows; ++r) {
    if (ignored(c, r)) continue;
    for (int64_t j = 0; j < c.V; ++j) {
      const size_t k = size_t(r * c.V + j);
      d[k] = (std::exp(double(c.logits[k]) - lse[size_t(r)]) - (j == c.targets[size_t(r)] ? 1.0 : 0.0)) * scale;
    }
  }
  return d;
}

// Ignored rows: loss exactly 0, lse finite, gradient exactly 0.
void expect_ignored_rows_clean(const CeCase& c, const std::vector<float>& loss, const std::vector<float>& lse,
                               const std::vector<float>* grad) {
  for (int64_t r = 0; r < c.rows; ++r) {
    if (!ignored(c, r)) continue;
    EXPECT_EQ(loss[size_t(r)], 0.0f) << "ignored row " << r;
    EXPECT_TRUE(std::isfinite(lse[size_t(r)])) << "ignored row " << r;
    if (!grad) continue;
    for (int64_t j = 0; j < c.V; ++j) {
      ASSERT_EQ((*grad)[size_t(r * c.V + j)], 0.0f) << "ignored row " << r << " class " << j;
    }
  }
}

// Forward and backward of one case. misalign: the logits start one float past a 16-byte boundary
// (the scalar path even when V is a multiple of 4). lse_from_gpu: the backward reference uses the
// kernel's f32 lse instead of the exact one (for huge logits, whose f32 lse is only good to an
// ulp of 1e4 ~ 1e-3: the test then checks the kernel's arithmetic, not that representation limit).
void check_ce(const CeCase& c, bool misalign, bool lse_from_gpu) {
  SCOPED_TRACE(::testing::Message() << "cross_entropy rows " << c.rows << " V " << c.V
                                    << (misalign ? " misaligned" : ""));
  const int64_t n = c.rows * c.V, shift = misalign ? 1 : 0;
  std::vector<float> padded(size_t(n + shift), 0.0f);
  std::copy(c.logits.begin(), c.logits.end(), padded.begin() + shift);
  DeviceBuffer<float> L(padded), LOSS(c.rows), LSE(c.rows), D(n + shift), SCALE(std::vector<float>{0.37f});
  DeviceBuffer<int64_t> T(c.targets);
  const float* logits = L.get() + shift;

  kc::cross_entropy_forward(logits, T.get(), LOSS.get(), LSE.get(), c.rows, c.V, kIgnore, 0);
  const std::vector<float> loss = LOSS.download(), lse = LSE.download();
  const std::vector<double> want_loss = ref_loss(c), want_lse = ref_lse(c);
  EXPECT_LE(rel_err(loss, want_loss), kCeForwardTol) << "loss";
  std::vector<float> lse_valid;  // lse on the rows that are not ignored
  std::vector<double> want_lse_valid, gpu_lse(size_t(c.rows), 0.0);
  for (int64_t r = 0; r < c.rows; ++r) {
    gpu_lse[size_t(r)] = lse[size_t(r)];
    if (ignored(c, r)) continue;
    lse_valid.push_back(lse[size_t(r)]);
    want_lse_valid.push_back(want_lse[size_t(r)]);
  }
  EXPECT_LE(rel_err(lse_valid, want_lse_valid), kCeForwardTol) << "lse";

  kc::cross_entropy_backward(logits, T.get(), LSE.get(), SCALE.get(), D.get() + shift, c.rows, c.V, kIgnore, 0);
  std::vector<float> grad = D.download();
  grad.erase(grad.begin(), grad.begin() + shift);
  EXPECT_LE(rel_err(grad, ref_grad(c, lse_from_gpu ? gpu_lse : want_lse, 0.37)), kCeBackwardTol) << "dlogits";
  expect_ignored_rows_clean(c, loss, lse, &grad);
  for (auto* buf : {&L, &LOSS, &LSE, &D, &SCALE}) EXPECT_TRUE(buf->guards_intact());
  EXPECT_TRUE(T.guards_intact());
}

TEST(CudaCrossEntropy, MatchesTheReference) {
  RS_REQUIRE_CUDA();
  // V = 5 (tiny), 32000 (LLaMA, float4 path), 50257 (GPT-2, odd: scalar path), 128256 (LLaMA 3).
  const int64_t cases[][2] = {{64, 5}, {16, 32000}, {7, 50257}, {4, 128256}};
  for (const auto& rc : cases) check_ce(make_case(rc[0], rc[1], 100 + rc[1], 2.0f, 0.0f), false, false);
}

TEST(CudaCrossEntropy, MisalignedLogitsTakeTheScalarPath) {
  RS_REQUIRE_CUDA();
  check_ce(make_case(9, 32000, 201, 2.0f, 0.0f), true, false);
  check_ce(make_case(9, 8, 202, 2.0f, 0.0f), true, false);
}

// Logits around 1e4 (and spread over +-1e4): the online max keeps every exp finite; the loss is
// formed as (max - x[t]) + log(sum), exact to f32 precision.
TEST(CudaCrossEntropy, LargeLogitsDoNotOverflow) {
  RS_REQUIRE_CUDA();
  check_ce(make_case(12, 32000, 301, 3.0f, 1e4f), false, true);
  check_ce(make_case(12, 50257, 302, 1e4f, 0.0f), false, true);
  check_ce(make_case(6, 5, 303, 3.0f, -1e4f), false, true);
}

// Every row ignored: zeros everywhere, nothing else written.
TEST(CudaCrossEntropy, AllRowsIgnored) {
  RS_REQUIRE_CUDA();
  CeCase c = make_case(5, 1000, 401, 1.0f, 0.0f);
  std::fill(c.targets.begin(), c.targets.end(), kIgnore);
  DeviceBuffer<float> L(c.logits), LOSS(c.rows), LSE(c.rows), D(c.rows * c.V), SCALE(std::vector<float>{1.0f});
  DeviceBuffer<int64_t> T(c.targets);
  kc::cross_entropy_forward(L.get(), T.get(), LOSS.get(), LSE.get(), c.rows, c.V, kIgnore, 0);
  kc::cross_entropy_backward(L.get(), T.get(), LSE.get(), SCALE.get(), D.get(), c.rows, c.V, kIgnore, 0);
  const std::vector<float> grad = D.download();
  expect_ignored_rows_clean(c, LOSS.download(), LSE.download(), &grad);
  for (auto* buf : {&L, &LOSS, &LSE, &D, &SCALE}) EXPECT_TRUE(buf->guards_intact());
}

// ---- AdamW ----

// Distance in units in the last place; NaN or inf against a finite value counts as huge.
int64_t ulp_diff(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return INT64_MAX;
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i >= 0 ? int64_t(i) : -(int64_t(i) & 0x7fffffff);  // -0 and +0 both 0
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

int64_t max_ulp(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INT64_MAX;
  int64_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, ulp_diff(got[i], want[i]));
  return worst;
}

kernels::AdamWStep make_step(double lr, double b1, double b2, double eps, double wd, int t) {
  return {lr, b1, b2, eps, wd, 1.0 - std::pow(b1, double(t)), 1.0 - std::pow(b2, double(t))};
}

// One parameter tensor on both sides: host state updated by the reference, device state by the kernel.
struct Param {
  std::vector<float> p, m, v;
  DeviceBuffer<float> P, G, M, V;
  explicit Param(int64_t n, uint64_t seed)
      : p(random_normal(n, seed)), m(size_t(n), 0.0f), v(size_t(n), 0.0f), P(p), G(n), M(m), V(v) {}
};

// Runs `steps` AdamW steps over tensors of `sizes` (gradients of varied scale, some exact zeros)
// and returns the largest ulp difference between kernel and reference over p, m and v.
int64_t run_adamw(const std::vector<int64_t>& sizes, int steps, double lr, double b1, double b2, double eps,
                  double wd) {
  std::vector<std::unique_ptr<Param>> params;
  for (size_t k = 0; k < sizes.size(); ++k) params.push_back(std::make_unique<Param>(sizes[k], 500 + k));
  int64_t worst = 0;
  for (int t = 1; t <= steps; ++t) {
    const kernels::AdamWStep step = make_step(lr, b1, b2, eps, wd, t);
    std::vector<kc::AdamWTensor> table;
    for (size_t k = 0; k < params.size(); ++k) {
      Param& q = *params[k];
      const int64_t n = int64_t(q.p.size());
      std::vector<float> g = random_normal(n, 1000 * t + k, k % 2 ? 1e-3f : 3.0f);
      for (int64_t i = 0; i < n; i += 7) g[size_t(i)] = 0.0f;
      q.G.upload(g);
      kernels::ref::adamw_update<float>(q.p.data(), g.data(), q.m.data(), q.v.data(), n, step);
      table.push_back({q.P.get(), q.G.get(), q.M.get(), q.V.get(), n});
    }
    kc::adamw_update(table.data(), int(table.size()), step, 0);
    for (size_t k = 0; k < params.size(); ++k) {
      Param& q = *params[k];
      SCOPED_TRACE(::testing::Message() << "step " << t << " tensor " << k << " of " << q.p.size());
      const int64_t u = std::max({max_ulp(q.P.download(), q.p), max_ulp(q.M.download(), q.m),
                                  max_ulp(q.V.download(), q.v)});
      EXPECT_LE(u, 1) << "p, m or v differ from the reference by " << u << " ulp";
      worst = std::max(worst, u);
      for (auto* buf : {&q.P, &q.G, &q.M, &q.V}) EXPECT_TRUE(buf->guards_intact());
    }
  }
  return worst;
}

// Expected bit-identical (explicit round-to-nearest operations in the reference's order); 1 ulp is
// allowed so that a single difference shows as a number rather than a mystery, and is reported.
TEST(CudaAdamW, FiveTensorsOverSeveralStepsMatchTheCpu) {
  RS_REQUIRE_CUDA();
  const std::vector<int64_t> sizes = {1, 3, 1000, 65537, 0};
  const int64_t a = run_adamw(sizes, 5, 1e-3, 0.9, 0.999, 1e-8, 0.1);
  // beta1 = 0.3: lerp weight 0.7 >= 0.5, PyTorch's other lerp form; no weight decay.
  const int64_t b = run_adamw(sizes, 4, 3e-2, 0.3, 0.95, 1e-6, 0.0);
  std::cout << "[ CudaAdamW ] max ulp difference vs the CPU reference: " << std::max(a, b) << "\n";
  RecordProperty("max_ulp", int(std::max(a, b)));
}

// More tensors than one launch's descriptor table holds (several launches), empty ones between.
TEST(CudaAdamW, ManyTensorsSpanSeveralLaunches) {
  RS_REQUIRE_CUDA();
  std::vector<int64_t> sizes;
  for (int k = 0; k < 150; ++k) sizes.push_back(k % 11 == 0 ? 0 : (k * 397) % 5003 + 1);
  const int64_t worst = run_adamw(sizes, 2, 1e-3, 0.9, 0.999, 1e-8, 0.01);
  std::cout << "[ CudaAdamW ] max ulp difference over 150 tensors: " << worst << "\n";
}

}  // namespace
}  // namespace rscapret::testing
