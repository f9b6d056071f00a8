// LayerNorm / RMSNorm forward (kernels/cuda/norm.cu), its own source on the host emulator
// (simt.h), against the CPU reference kernels (kernels/cpu/ref): the single-read forward (rows of
// at most 1024 columns held in registers, one warp a row) and the three-pass kernel it replaces;
// the bf16 output with the bits of rounding the f32 one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/norm.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::normal;
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;

struct NormResult {
  std::vector<float> y, mean, rstd;
  std::vector<uint16_t> y16;
};
NormResult layer_norm(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                      int64_t rows, int64_t cols, bool rms) {
  NormResult r{std::vector<float>(x.size(), NAN), std::vector<float>(size_t(rows), NAN),
               std::vector<float>(size_t(rows), NAN), std::vector<uint16_t>(x.size(), 0x7fc1)};
  const Registered reg{{x.data(), x.size() * 4},           {w.data(), w.size() * 4},
                       {b.data(), b.size() * 4},           {r.y.data(), r.y.size() * 4},
                       {r.mean.data(), r.mean.size() * 4}, {r.rstd.data(), r.rstd.size() * 4},
                       {r.y16.data(), r.y16.size() * 2}};
  if (rms) {
    kc::rms_norm(x.data(), w.data(), r.y.data(), r.rstd.data(), rows, cols, 1e-5f, 0);
  } else {
    kc::layer_norm(x.data(), w.data(), b.data(), r.y.data(), r.mean.data(), r.rstd.data(), rows, cols, 1e-5f, 0);
    kc::layer_norm_bf16_out(x.data(), w.data(), b.data(), r.y16.data(), rows, cols, 1e-5f, 0);
  }
  return r;
}

// Widths below a warp's 32 float4, between, at the 1024 limit, and past it (the three-pass kernel
// either way); row counts leaving the last block of 4 warps partly empty.
TEST(EmulatedNorm, BothForwardKernelsMatchTheCpuReference) {
  for (const int64_t cols : {4, 68, 516, 1024, 1028}) {
    for (const int64_t rows : {1, 7}) {
      for (const bool rms : {false, true}) {
        SCOPED_TRACE(::testing::Message() << (rms ? "rms_norm" : "layer_norm") << " " << rows << " x " << cols);
        const std::vector<float> x = normal(size_t(rows * cols), 1, 0.5f), w = normal(size_t(cols), 2),
                                 b = normal(size_t(cols), 3);
        std::vector<float> y(x.size()), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
        if (rms)
          ref::rms_norm(x.data(), w.data(), y.data(), rstd.data(), rows, cols, 1e-5f);
        else
          ref::layer_norm(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f);
        std::vector<NormResult> runs;
        for (const bool single_read : {true, false}) {
          kc::set_cuda_norm_single_read(single_read);
          runs.push_back(layer_norm(x, w, b, rows, cols, rms));
        }
        kc::set_cuda_norm_single_read(true);
        for (const NormResult& r : runs) {
          // f32 sums in another order than the reference's: a few ulp of |y| <~ 5 (|w| ~ 1).
          for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(r.y[i], y[i], 2e-5f * (1 + std::fabs(y[i]))) << i;
          for (int64_t i = 0; i < rows; ++i) {
            EXPECT_NEAR(r.rstd[size_t(i)], rstd[size_t(i)], 1e-5f * rstd[size_t(i)]);
            if (!rms) {
              EXPECT_NEAR(r.mean[size_t(i)], mean[size_t(i)], 1e-5f);
            }
          }
          if (!rms) {  // the bf16 output is the rounding of the f32 one, bit for bit
            for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(r.y16[i], __float2bfloat16_rn(r.y[i]).x) << i;
          }
        }
      }
    }
  }
}

// The fused backward (dx per row; dw, db as column sums, in one chunk or several partials summed
// after) against the analytic gradient in double: dx = rstd (g - mean(g) - xhat mean(g xhat)) with
// g = w dy (LayerNorm; RMSNorm without the centring), dw = sum dy xhat, db = sum dy.
TEST(EmulatedNorm, BackwardMatchesTheAnalyticGradient) {
  for (const int64_t cols : {68, 1028}) {  // a warp a row, a block a row
    for (const int64_t rows : {5, 40}) {   // one chunk of column sums, several
      for (const bool rms : {false, true}) {
        SCOPED_TRACE(::testing::Message() << (rms ? "rms_norm" : "layer_norm") << " " << rows << " x " << cols);
        const size_t n = size_t(rows * cols);
        const std::vector<float> x = normal(n, 7, 0.3f), w = normal(size_t(cols), 8), b = normal(size_t(cols), 9),
                                 dy = normal(n, 10);
        std::vector<float> y(n), mean(static_cast<size_t>(rows), 0.f), rstd(static_cast<size_t>(rows));
        if (rms)
          ref::rms_norm(x.data(), w.data(), y.data(), rstd.data(), rows, cols, 1e-5f);
        else
          ref::layer_norm(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f);
        std::vector<float> dx(n, NAN), dw(size_t(cols), NAN), db(size_t(cols), NAN);
        {
          const Registered reg{{x.data(), n * 4},
                               {w.data(), w.size() * 4},
                               {dy.data(), n * 4},
                               {mean.data(), mean.size() * 4},
                               {rstd.data(), rstd.size() * 4},
                               {dx.data(), n * 4},
                               {dw.data(), dw.size() * 4},
                               {db.data(), db.size() * 4}};
          if (rms)
            kc::rms_norm_backward(dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(), rows, cols, 0);
          else
            kc::layer_norm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dw.data(),
                                    db.data(), rows, cols, 0);
        }
        std::vector<double> want_dw(size_t(cols), 0.0), want_db(size_t(cols), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          double mg = 0, mgx = 0;
          auto xhat = [&](int64_t c) { return (double(x[size_t(r * cols + c)]) - mean[size_t(r)]) * rstd[size_t(r)]; };
          for (int64_t c = 0; c < cols; ++c) {
            const double g = double(w[size_t(c)]) * dy[size_t(r * cols + c)];
            mg += g / double(cols);
            mgx += g * xhat(c) / double(cols);
            want_dw[size_t(c)] += double(dy[size_t(r * cols + c)]) * xhat(c);
            want_db[size_t(c)] += dy[size_t(r * cols + c)];
          }
          for (int64_t c = 0; c < cols; ++c) {
            const double g = double(w[size_t(c)]) * dy[size_t(r * cols + c)];
            const double want = rstd[size_t(r)] * (g - (rms ? 0.0 : mg) - xhat(c) * mgx);
            ASSERT_NEAR(dx[size_t(r * cols + c)], want, 1e-4 * (1 + std::fabs(want))) << r << "," << c;
          }
        }
        for (int64_t c = 0; c < cols; ++c) {
          ASSERT_NEAR(dw[size_t(c)], want_dw[size_t(c)], 1e-4 * (1 + std::fabs(want_dw[size_t(c)]))) << c;
          if (!rms) {
            ASSERT_NEAR(db[size_t(c)], want_db[size_t(c)], 1e-4 * (1 + std::fabs(want_db[size_t(c)]))) << c;
          }
        }
      }
    }
  }
}

}  // namespace
