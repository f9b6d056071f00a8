// The CUDA LayerNorm, RMSNorm and rotary kernels (kernels/cuda/norm.cu, rope.cu) against the CPU:
// forwards against kernels::ref in double; the fused backwards against the gradient formulas
// evaluated in double. Outputs start poisoned (NaN), so an element a kernel never writes fails the
// comparison (rel_err turns any NaN into +inf), and every buffer's guards must stay intact.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;
using kernels::RopeLayout;

// Widths: one element, odd and small, warp-sized, the GPT-2 width, block-per-row widths, and one
// that is a multiple of nothing useful.
constexpr int64_t kCols[] = {1, 7, 64, 768, 4096, 5000};
constexpr int64_t kRows[] = {1, 3, 1000};
constexpr float kEps = 1e-5f;

// Forwards: f32 two-pass row sums (tree order) against the double reference; a few ulp of the row
// statistics, ~1e-6 relative at 5000 columns.
constexpr double kForwardTol = 1e-5;
// dx: a handful of f32 operations per element after two row sums; measured against the size of
// the terms that cancel (see scaled_err).
constexpr double kDxTol = 1e-5;
// dw/db: column sums over up to 1000 rows in f32 (chunked, then chunks in order).
constexpr double kParamTol = 1e-4;

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<double> zeros(int64_t n) { return std::vector<double>(static_cast<size_t>(n), 0.0); }

// ||got - ref|| / ||scale||: for dx, whose terms gh, mean(gh) and xhat mean(gh xhat) can nearly
// cancel (RMSNorm with one column: dx = rstd gh eps / (x^2 + eps)); f32 rounding is relative to
// the terms, not to what is left of them. NaN or inf in got gives +inf.
double scaled_err(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& scale) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    den += scale[i] * scale[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Row statistics in double, as the reference forward computes them.
struct Stats {
  std::vector<double> mean, rstd;
};
Stats row_stats(const std::vector<float>& x, int64_t rows, int64_t cols, bool centered) {
  Stats s{zeros(rows), zeros(rows)};
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * cols;
    double mean = 0, ss = 0;
    if (centered) {
      for (int64_t i = 0; i < cols; ++i) mean += xr[i];
      mean /= double(cols);
    }
    for (int64_t i = 0; i < cols; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
    s.mean[size_t(r)] = mean;
    s.rstd[size_t(r)] = 1.0 / std::sqrt(ss / double(cols) + double(kEps));
  }
  return s;
}

// Inputs with a non-zero mean (0.5) and spread 2, so centring matters.
std::vector<float> norm_input(int64_t n, uint64_t seed) {
  std::vector<float> x = random_normal(n, seed, 2.0f);
  for (float& v : x) v += 0.5f;
  return x;
}

void check_layer_norm_forward(int64_t rows, int64_t cols, bool affine) {
  SCOPED_TRACE(::testing::Message() << "layer_norm rows " << rows << " cols " << cols << " affine " << affine);
  const std::vector<float> x = norm_input(rows * cols, 11 + rows + cols);
  const std::vector<float> w = random_normal(cols, 12), b = random_normal(cols, 13);
  const std::vector<double> xd = to_double(x), wd = to_double(w), bd = to_double(b);
  std::vector<double> y_ref = zeros(rows * cols), mean_ref = zeros(rows), rstd_ref = zeros(rows);
  kernels::ref::layer_norm<double>(xd.data(), affine ? wd.data() : nullptr, affine ? bd.data() : nullptr,
                                   y_ref.data(), mean_ref.data(), rstd_ref.data(), rows, cols, double(kEps));

  DeviceBuffer<float> X(x), W(w), B(b), Y(rows * cols), M(rows), R(rows);
  // Without affine parameters the statistics outputs are left null too (the inference path).
  kc::layer_norm(X.get(), affine ? W.get() : nullptr, affine ? B.get() : nullptr, Y.get(),
                 affine ? M.get() : nullptr, affine ? R.get() : nullptr, rows, cols, kEps, 0);
  EXPECT_LE(rel_err(Y.download(), y_ref), kForwardTol) << "y";
  if (affine) {
    EXPECT_LE(rel_err(M.download(), mean_ref), kForwardTol) << "mean";
    EXPECT_LE(rel_err(R.download(), rstd_ref), kForwardTol) << "rstd";
  }
  for (auto* buf : {&X, &W, &B, &Y, &M, &R}) EXPECT_TRUE(buf->guards_intact());
}

void check_rms_norm_forward(int64_t rows, int64_t cols, bool affine) {
  SCOPED_TRACE(::testing::Message() << "rms_norm rows " << rows << " cols " << cols << " affine " << affine);
  const std::vector<float> x = norm_input(rows * cols, 21 + rows + cols);
  const std::vector<float> w = random_normal(cols, 22);
  const std::vector<double> xd = to_double(x), wd = to_double(w);
  std::vector<double> y_ref = zeros(rows * cols), rstd_ref = zeros(rows);
  kernels::ref::rms_norm<double>(xd.data(), affine ? wd.data() : nullptr, y_ref.data(), rstd_ref.data(), rows, cols,
                                 double(kEps));

  DeviceBuffer<float> X(x), W(w), Y(rows * cols), R(rows);
  kc::rms_norm(X.get(), affine ? W.get() : nullptr, Y.get(), affine ? R.get() : nullptr, rows, cols, kEps, 0);
  EXPECT_LE(rel_err(Y.download(), y_ref), kForwardTol) << "y";
  if (affine) {
    EXPECT_LE(rel_err(R.download(), rstd_ref), kForwardTol) << "rstd";
  }
  for (auto* buf : {&X, &W, &Y, &R}) EXPECT_TRUE(buf->guards_intact());
}

// The backward of a norm in double from the formulas (centered: LayerNorm, else RMSNorm):
//   dx = rstd (gh - [mean(gh)] - xhat mean(gh xhat)), dw = sum_rows dy xhat, db = sum_rows dy.
// scale = rstd |gh| per element, the size of dx's terms (for scaled_err).
struct NormGrads {
  std::vector<double> dx, dw, db, scale;
};
NormGrads norm_grads(const std::vector<float>& dy, const std::vector<float>& x, const std::vector<float>* w,
                     const Stats& s, int64_t rows, int64_t cols, bool centered) {
  NormGrads g{zeros(rows * cols), zeros(cols), zeros(cols), zeros(rows * cols)};
  std::vector<double> gh = zeros(cols), xhat = zeros(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const double mu = s.mean[size_t(r)], rs = s.rstd[size_t(r)];
    double sum_gh = 0, sum_ghx = 0;
    for (int64_t i = 0; i < cols; ++i) {
      const double d = dy[size_t(r * cols + i)];
      xhat[size_t(i)] = (double(x[size_t(r * cols + i)]) - mu) * rs;
      gh[size_t(i)] = w ? d * double((*w)[size_t(i)]) : d;
      sum_gh += gh[size_t(i)];
      sum_ghx += gh[size_t(i)] * xhat[size_t(i)];
      g.dw[size_t(i)] += d * xhat[size_t(i)];
      g.db[size_t(i)] += d;
    }
    const double mean_gh = centered ? sum_gh / double(cols) : 0.0, mean_ghx = sum_ghx / double(cols);
    for (int64_t i = 0; i < cols; ++i) {
      g.dx[size_t(r * cols + i)] = rs * (gh[size_t(i)] - mean_gh - xhat[size_t(i)] * mean_ghx);
      g.scale[size_t(r * cols + i)] = rs * std::abs(gh[size_t(i)]);
    }
  }
  return g;
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// The kernel gets the statistics rounded to f32, as the forward would save them.
void check_norm_backward(int64_t rows, int64_t cols, bool centered, bool with_w) {
  SCOPED_TRACE(::testing::Message() << (centered ? "layer_norm" : "rms_norm") << "_backward rows " << rows << " cols "
                                    << cols << " weight " << with_w);
  const std::vector<float> x = norm_input(rows * cols, 31 + rows + cols), dy = random_normal(rows * cols, 32);
  const std::vector<float> w = random_normal(cols, 33);
  const Stats s = row_stats(x, rows, cols, centered);
  const NormGrads ref = norm_grads(dy, x, with_w ? &w : nullptr, s, rows, cols, centered);

  DeviceBuffer<float> DY(dy), X(x), W(w), M(to_float(s.mean)), R(to_float(s.rstd));
  DeviceBuffer<float> DX(rows * cols), DW(cols), DB(cols);
  if (centered)
    kc::layer_norm_backward(DY.get(), X.get(), with_w ? W.get() : nullptr, M.get(), R.get(), DX.get(), DW.get(),
                            DB.get(), rows, cols, 0);
  else
    kc::rms_norm_backward(DY.get(), X.get(), with_w ? W.get() : nullptr, R.get(), DX.get(), DW.get(), rows, cols, 0);
  EXPECT_LE(scaled_err(DX.download(), ref.dx, ref.scale), kDxTol) << "dx";
  EXPECT_LE(rel_err(DW.download(), ref.dw), kParamTol) << "dw";
  if (centered) {
    EXPECT_LE(rel_err(DB.download(), ref.db), kParamTol) << "db";
  }
  for (auto* buf : {&DY, &X, &W, &M, &R, &DX, &DW, &DB}) EXPECT_TRUE(buf->guards_intact());
}

TEST(CudaNorm, LayerNormForwardMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRows)
    for (int64_t cols : kCols)
      for (bool affine : {true, false}) check_layer_norm_forward(rows, cols, affine);
}

TEST(CudaNorm, RmsNormForwardMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRows)
    for (int64_t cols : kCols)
      for (bool affine : {true, false}) check_rms_norm_forward(rows, cols, affine);
}

// Rows of at most 1024 columns (cols % 4 == 0, aligned) are read once into registers
// (kc::set_cuda_norm_single_read); off, the three-pass kernel runs. Both match the reference, and
// agree with each other to a few ulp (different summation order); the bf16 output of the single-read
// kernel is the rounding of its f32 output bit for bit; an input one float off alignment takes the
// three-pass kernel and is still right. Widths: one chunk, a partial last chunk per lane (516, 1000),
// and the widest. Added in the thirteenth session without a GPU.
TEST(CudaNorm, SingleReadRowsAgreeWithTheThreePassKernel) {
  RS_REQUIRE_CUDA();
  const int64_t rows = 37;
  const bool was = kc::cuda_norm_single_read();  // RSCAPRET_DISABLE may have set it off for the run
  for (const int64_t cols : {int64_t(4), int64_t(516), int64_t(1000), int64_t(1024)}) {
    for (const bool on : {true, false}) {
      kc::set_cuda_norm_single_read(on);
      check_layer_norm_forward(rows, cols, true);
      check_rms_norm_forward(rows, cols, true);
    }
    kc::set_cuda_norm_single_read(true);  // the comparison below needs both kernels
    SCOPED_TRACE(::testing::Message() << "cols " << cols);
    const std::vector<float> x = norm_input(rows * cols, 41 + cols), w = random_normal(cols, 42),
                             b = random_normal(cols, 43);
    DeviceBuffer<float> X(x), W(w), B(b), Y1(rows * cols), Y3(rows * cols);
    DeviceBuffer<uint16_t> Y16(rows * cols);
    kc::layer_norm(X.get(), W.get(), B.get(), Y1.get(), nullptr, nullptr, rows, cols, kEps, 0);
    kc::layer_norm_bf16_out(X.get(), W.get(), B.get(), Y16.get(), rows, cols, kEps, 0);
    kc::set_cuda_norm_single_read(false);
    kc::layer_norm(X.get(), W.get(), B.get(), Y3.get(), nullptr, nullptr, rows, cols, kEps, 0);
    kc::set_cuda_norm_single_read(was);
    const std::vector<float> y1 = Y1.download(), y3 = Y3.download();
    EXPECT_LE(rel_err(y1, to_double(y3)), 1e-6) << "single read vs three passes";
    const std::vector<uint16_t> y16 = Y16.download();
    size_t mismatches = 0;
    for (size_t i = 0; i < y1.size(); ++i) mismatches += to_bf16(y1[i]) != y16[i];
    EXPECT_EQ(mismatches, 0u) << "bf16 output is the rounding of the f32 output";
    for (auto* buf : {&X, &W, &B, &Y1, &Y3}) EXPECT_TRUE(buf->guards_intact());
    EXPECT_TRUE(Y16.guards_intact());
  }
  kc::set_cuda_norm_single_read(was);
  // x one float past a 16-byte boundary: the three-pass kernel, still the reference's values.
  const int64_t cols = 64;
  const std::vector<float> x = norm_input(rows * cols + 1, 44);
  const std::vector<double> xd(x.begin() + 1, x.end());
  std::vector<double> y_ref = zeros(rows * cols);
  kernels::ref::rms_norm<double>(xd.data(), nullptr, y_ref.data(), nullptr, rows, cols, double(kEps));
  DeviceBuffer<float> X(x), Y(rows * cols);
  kc::rms_norm(X.get() + 1, nullptr, Y.get(), nullptr, rows, cols, kEps, 0);
  EXPECT_LE(rel_err(Y.download(), y_ref), kForwardTol) << "unaligned x";
  EXPECT_TRUE(Y.guards_intact());
}

TEST(CudaNorm, LayerNormBackwardMatchesTheFormulas) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRows)
    for (int64_t cols : kCols)
      for (bool with_w : {true, false}) check_norm_backward(rows, cols, true, with_w);
}

TEST(CudaNorm, RmsNormBackwardMatchesTheFormulas) {
  RS_REQUIRE_CUDA();
  for (int64_t rows : kRows)
    for (int64_t cols : kCols)
      for (bool with_w : {true, false}) check_norm_backward(rows, cols, false, with_w);
}

// The real chain: the statistics the forward saved feed the backward (warp and block widths).
TEST(CudaNorm, BackwardFromTheForwardsStatistics) {
  RS_REQUIRE_CUDA();
  for (int64_t cols : {int64_t(768), int64_t(5000)}) {
    SCOPED_TRACE(::testing::Message() << "cols " << cols);
    const int64_t rows = 300;
    const std::vector<float> x = norm_input(rows * cols, 41), dy = random_normal(rows * cols, 42);
    const std::vector<float> w = random_normal(cols, 43), b = random_normal(cols, 44);
    DeviceBuffer<float> X(x), W(w), B(b), Y(rows * cols), M(rows), R(rows);
    DeviceBuffer<float> DY(dy), DX(rows * cols), DW(cols), DB(cols);
    kc::layer_norm(X.get(), W.get(), B.get(), Y.get(), M.get(), R.get(), rows, cols, kEps, 0);
    kc::layer_norm_backward(DY.get(), X.get(), W.get(), M.get(), R.get(), DX.get(), DW.get(), DB.get(), rows, cols, 0);
    const NormGrads ref = norm_grads(dy, x, &w, row_stats(x, rows, cols, true), rows, cols, true);
    EXPECT_LE(scaled_err(DX.download(), ref.dx, ref.scale), kDxTol) << "layer_norm dx";
    EXPECT_LE(rel_err(DW.download(), ref.dw), kParamTol) << "layer_norm dw";
    EXPECT_LE(rel_err(DB.download(), ref.db), kParamTol) << "layer_norm db";

    DX.poison();
    DW.poison();
    kc::rms_norm(X.get(), W.get(), Y.get(), R.get(), rows, cols, kEps, 0);
    kc::rms_norm_backward(DY.get(), X.get(), W.get(), R.get(), DX.get(), DW.get(), rows, cols, 0);
    const NormGrads rms = norm_grads(dy, x, &w, row_stats(x, rows, cols, false), rows, cols, false);
    EXPECT_LE(scaled_err(DX.download(), rms.dx, rms.scale), kDxTol) << "rms_norm dx";
    EXPECT_LE(rel_err(DW.download(), rms.dw), kParamTol) << "rms_norm dw";
    for (auto* buf : {&X, &W, &B, &Y, &M, &R, &DY, &DX, &DW, &DB}) EXPECT_TRUE(buf->guards_intact());
  }
}

// dx, dw and db are each optional: a null one is skipped and the others are still right; an
// output not asked for is never written (it stays poisoned).
TEST(CudaNorm, BackwardOutputsAreOptional) {
  RS_REQUIRE_CUDA();
  const int64_t rows = 1000, cols = 768;
  const std::vector<float> x = norm_input(rows * cols, 51), dy = random_normal(rows * cols, 52);
  const std::vector<float> w = random_normal(cols, 53);
  const Stats s = row_stats(x, rows, cols, true);
  const NormGrads ref = norm_grads(dy, x, &w, s, rows, cols, true);
  DeviceBuffer<float> DY(dy), X(x), W(w), M(to_float(s.mean)), R(to_float(s.rstd));
  DeviceBuffer<float> DX(rows * cols), DW(cols), DB(cols);

  kc::layer_norm_backward(DY.get(), X.get(), W.get(), M.get(), R.get(), nullptr, DW.get(), nullptr, rows, cols, 0);
  EXPECT_LE(rel_err(DW.download(), ref.dw), kParamTol) << "dw alone";
  for (float v : DB.download()) ASSERT_TRUE(std::isnan(v)) << "db was written although null";

  kc::layer_norm_backward(DY.get(), X.get(), W.get(), M.get(), R.get(), nullptr, nullptr, DB.get(), rows, cols, 0);
  EXPECT_LE(rel_err(DB.download(), ref.db), kParamTol) << "db alone";

  kc::layer_norm_backward(DY.get(), X.get(), W.get(), M.get(), R.get(), DX.get(), nullptr, nullptr, rows, cols, 0);
  EXPECT_LE(scaled_err(DX.download(), ref.dx, ref.scale), kDxTol) << "dx alone";

  const Stats rs = row_stats(x, rows, cols, false);
  const NormGrads rref = norm_grads(dy, x, &w, rs, rows, cols, false);
  DeviceBuffer<float> RR(to_float(rs.rstd)), DX2(rows * cols);
  kc::rms_norm_backward(DY.get(), X.get(), W.get(), RR.get(), DX2.get(), nullptr, rows, cols, 0);
  EXPECT_LE(scaled_err(DX2.download(), rref.dx, rref.scale), kDxTol) << "rms dx without dw";
  for (auto* buf : {&DY, &X, &W, &M, &R, &DX, &DW, &DB, &RR, &DX2}) EXPECT_TRUE(buf->guards_intact());
}

// The column sums have a fixed order: the same inputs give the same bits every run.
TEST(CudaNorm, BackwardIsDeterministic) {
  RS_REQUIRE_CUDA();
  for (int64_t cols : {int64_t(768), int64_t(5000)}) {
    const int64_t rows = 1000;
    const std::vector<float> x = norm_input(rows * cols, 61), dy = random_normal(rows * cols, 62);
    const std::vector<float> w = random_normal(cols, 63);
    const Stats s = row_stats(x, rows, cols, true);
    DeviceBuffer<float> DY(dy), X(x), W(w), M(to_float(s.mean)), R(to_float(s.rstd));
    DeviceBuffer<float> DX(rows * cols), DW(cols), DB(cols);
    std::vector<float> first[3];
    for (int run = 0; run < 2; ++run) {
      kc::layer_norm_backward(DY.get(), X.get(), W.get(), M.get(), R.get(), DX.get(), DW.get(), DB.get(), rows, cols,
                              0);
      const std::vector<float> now[3] = {DX.download(), DW.download(), DB.download()};
      for (int k = 0; k < 3; ++k) {
        if (run == 0) {
          first[k] = now[k];
        } else {
          ASSERT_EQ(first[k].size(), now[k].size());
          EXPECT_EQ(0, std::memcmp(first[k].data(), now[k].data(), now[k].size() * sizeof(float)))
              << "output " << k << " differs between runs at cols " << cols;
        }
      }
      DX.poison();
      DW.poison();
      DB.poison();
    }
  }
}

// ---- rope ----

// Positions 0 .. 4096 (random, with both ends present), [B, T].
std::vector<int64_t> rope_positions(int64_t B, int64_t T, uint64_t seed) {
  std::vector<int64_t> pos = random_ids(B * T, 4097, seed);
  pos.front() = 0;
  pos.back() = 4096;
  return pos;
}

// Both sides compute the angle, cos/sin and the rotation in double and round once to f32; CUDA's
// double pow/sin/cos are within 2 ulp (of double) of glibc's, which moves an f32 result by at most
// one ulp, and rarely: 1e-6 relative.
constexpr double kRopeTol = 1e-6;

void check_rope(int64_t B, int64_t T, int64_t H, int64_t D, int64_t rotary_dim, RopeLayout layout, bool inverse) {
  SCOPED_TRACE(::testing::Message() << "rope B " << B << " T " << T << " H " << H << " D " << D << " rotary "
                                    << rotary_dim << (layout == RopeLayout::interleaved ? " interleaved" : " half_split")
                                    << (inverse ? " inverse" : ""));
  const double theta = 10000.0;
  const std::vector<float> x = random_normal(B * T * H * D, 71 + D + rotary_dim);
  const std::vector<int64_t> pos = rope_positions(B, T, 72);
  std::vector<float> y_ref(x.size());
  kernels::ref::rope<float>(x.data(), y_ref.data(), pos.data(), B, T, H, D, rotary_dim, theta, layout, inverse);

  DeviceBuffer<float> X(x), Y(int64_t(x.size()));
  DeviceBuffer<int64_t> P(pos);
  kc::rope(X.get(), Y.get(), P.get(), B, T, H, D, rotary_dim, theta, layout, inverse, 0);
  const std::vector<float> y = Y.download();
  EXPECT_LE(rel_err(y, y_ref), kRopeTol);
  // The features past rotary_dim are copied bit for bit.
  for (int64_t row = 0; row < B * T * H; ++row)
    for (int64_t d = rotary_dim; d < D; ++d)
      ASSERT_EQ(std::memcmp(&y[size_t(row * D + d)], &x[size_t(row * D + d)], sizeof(float)), 0)
          << "pass-through feature " << d << " of row " << row;

  // In place (x == y) gives the same result: each thread reads a pair before writing it.
  DeviceBuffer<float> Z(x);
  kc::rope(Z.get(), Z.get(), P.get(), B, T, H, D, rotary_dim, theta, layout, inverse, 0);
  EXPECT_EQ(Z.download(), y) << "in place";
  for (auto* buf : {&X, &Y, &Z}) EXPECT_TRUE(buf->guards_intact());
  EXPECT_TRUE(P.guards_intact());
}

TEST(CudaRope, MatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (RopeLayout layout : {RopeLayout::half_split, RopeLayout::interleaved})
    for (bool inverse : {false, true}) {
      check_rope(2, 7, 3, 64, 64, layout, inverse);     // full rotation
      check_rope(1, 5, 4, 96, 32, layout, inverse);     // rotary_dim < D: a pass-through tail
      check_rope(3, 4, 2, 128, 0, layout, inverse);     // no rotation at all
      check_rope(1, 3, 2, 2304, 2200, layout, inverse); // 1100 pairs: cos/sin computed per pair, not cached
    }
}

// The inverse undoes the forward (a rotation by -angle), up to two f32 roundings.
TEST(CudaRope, InverseUndoesTheForward) {
  RS_REQUIRE_CUDA();
  for (RopeLayout layout : {RopeLayout::half_split, RopeLayout::interleaved}) {
    const int64_t B = 2, T = 9, H = 4, D = 64, rotary_dim = 48;
    const std::vector<float> x = random_normal(B * T * H * D, 81);
    DeviceBuffer<float> X(x), Y(B * T * H * D), Z(B * T * H * D);
    DeviceBuffer<int64_t> P(rope_positions(B, T, 82));
    kc::rope(X.get(), Y.get(), P.get(), B, T, H, D, rotary_dim, 500000.0, layout, false, 0);
    kc::rope(Y.get(), Z.get(), P.get(), B, T, H, D, rotary_dim, 500000.0, layout, true, 0);
    EXPECT_LE(rel_err(Z.download(), to_double(x)), 1e-6);
    for (auto* buf : {&X, &Y, &Z}) EXPECT_TRUE(buf->guards_intact());
  }
}

}  // namespace
}  // namespace rscapret::testing
