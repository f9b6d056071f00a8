// The f32 SIMT GEMM (kernels/cuda/gemm_f32.cu: matmul of the f32 path, any operand strides), its
// own source on the host emulator (simt.h). The kernel promises exact f32 FMAs in ascending k, so
// every element must have the bits of that loop on the host, and lie within f32 rounding of the
// double reference (kernels/cpu/ref); partial tiles, transposed and broadcast operands, batches,
// K = 0, and the same bits when each warp runs alone to its barrier (no missing barrier).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/gemm_f32.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::Guarded;
using emu_test::normal;
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;

constexpr float kUnwritten = -6.25e23f;  // what C and its guards start as: a value no case computes

// Element strides of A [M,K] and B [K,N] and their batch strides (0: one matrix for every batch).
struct Case {
  int64_t M, K, N, batch;
  bool a_transposed, b_transposed, a_broadcast;
};

TEST(EmulatedGemmF32, HasTheBitsOfOrderedFmasAndMatchesTheReference) {
  const Case cases[] = {
      {70, 37, 67, 3, false, false, false},  // partial 64 x 64 tiles and a partial k step, a batch
      {64, 48, 64, 1, true, false, false},   // A read transposed (k fastest is not unit stride)
      {33, 20, 90, 2, false, true, true},    // B transposed (the Linear weight), A broadcast over batches
      {5, 0, 7, 2, false, false, false},     // K = 0: zeros
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "M" << c.M << " K" << c.K << " N" << c.N << " batch " << c.batch
                                      << (c.a_transposed ? " A^T" : "") << (c.b_transposed ? " B^T" : "")
                                      << (c.a_broadcast ? " A broadcast" : ""));
    const int64_t a_batches = c.a_broadcast ? 1 : c.batch;
    const std::vector<float> a = normal(size_t(a_batches * c.M * c.K), 1), b = normal(size_t(c.batch * c.K * c.N), 2);
    const int64_t sam = c.a_transposed ? 1 : c.K, sak = c.a_transposed ? c.M : 1, sab = c.a_broadcast ? 0 : c.M * c.K;
    const int64_t sbk = c.b_transposed ? 1 : c.N, sbn = c.b_transposed ? c.K : 1, sbb = c.K * c.N;
    const auto run = [&] {
      Guarded<float> A(a), B(b), C(size_t(c.batch * c.M * c.N), kUnwritten);
      const Registered reg{A.whole(), B.whole(), C.whole()};
      kc::matmul_f32(A.data(), sam, sak, sab, B.data(), sbk, sbn, sbb, C.data(), c.M, c.K, c.N, c.batch, 0);
      EXPECT_TRUE(C.guards_intact()) << "written outside C";
      return C.payload();
    };
    const std::vector<float> got = run();
    for (int64_t bt = 0; bt < c.batch; ++bt) {
      const float* Ab = a.data() + bt * sab;
      const float* Bb = b.data() + bt * sbb;
      std::vector<float> want(size_t(c.M * c.N));
      ref::matmul(Ab, sam, sak, Bb, sbk, sbn, want.data(), c.M, c.K, c.N);
      for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = 0; n < c.N; ++n) {
          float fma_loop = 0.f;
          double magnitude = 0;  // sum |a b|: the scale of f32 rounding error in a K-term sum
          for (int64_t k = 0; k < c.K; ++k) {
            fma_loop = std::fmaf(Ab[m * sam + k * sak], Bb[k * sbk + n * sbn], fma_loop);
            magnitude += std::fabs(double(Ab[m * sam + k * sak]) * Bb[k * sbk + n * sbn]);
          }
          const float g = got[size_t((bt * c.M + m) * c.N + n)];
          ASSERT_EQ(emu_test::bits(g), emu_test::bits(fma_loop)) << "batch " << bt << " (" << m << ", " << n << ")";
          // K roundings of at most 2^-24 of the running magnitude each.
          ASSERT_NEAR(g, want[size_t(m * c.N + n)], 1e-6 * c.K * magnitude + 1e-30);
        }
    }
    const simt::Timing serial(/*lazy_copies=*/false, /*warp_serial=*/true);
    const std::vector<float> again = run();
    EXPECT_EQ(std::memcmp(again.data(), got.data(), got.size() * 4), 0) << "C depends on the timing";
  }
}

}  // namespace
