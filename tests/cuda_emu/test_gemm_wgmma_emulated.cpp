// The Hopper bf16 GEMM (kernels/cuda/gemm_bf16_wgmma.cuh: TMA copies, mbarrier ring, wgmma with
// shared-memory descriptors, producer and consumer warpgroups), its own source and its own host
// launcher on the host emulator (simt.h, with include/kernels/cuda/wgmma_ptx.cuh modelling the PTX
// from the ISA), against a double reference. B [N,K] (K-major) ran on an H100/H200 and passed there:
// its passing here is what says the emulated swizzle, descriptors and accumulator layout agree with
// the hardware. B [K,N] (MN-major, transposed B) has not run on a GPU: its passing here checks it
// against the ISA's canonical MN-major layout. Covered: both tile widths, M and N tails, a K tail
// (zero-filled by the copy, with NaN in the rows' padding so a read past K shows), more k-tiles than
// stages (the ring wraps and the barriers' phases flip), bias, GELU, the residual epilogue, f32 and
// bf16 output (the 16-byte quad-transposed stores of full tiles included), ldc > N with sentinels
// around and between the rows, the launcher's refusals, the project's B [K,N] self-check, and the
// emulator's own refusals (a deadlock, an unmodelled descriptor).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/gemm_bf16_internal.h"
#include "kernels/cuda/gemm_bf16_wgmma.cuh"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace wg = rscapret::kernels::cuda::wgmma_tma;
namespace gm = rscapret::kernels::cuda::gemm;
namespace kc = rscapret::kernels::cuda;
using kc::GemmActivation;

using emu_test::from_bf16;
using emu_test::to_bf16;

constexpr uint16_t kNaN16 = 0x7fc1;  // bf16 NaN: padding the kernel must never read, C sentinel
constexpr float kSentinel = -7.0f;
constexpr int64_t kGuard = 64;  // sentinel elements before and after C

struct Case {
  int bn;  // 256 or 128
  bool b_is_nk;
  int M, N, K;
  int pad;  // extra elements per row of A, B and C (lda = K + pad, ...)
  bool bias;
  GemmActivation act;
  bool bf16_out;
  bool residual;  // f32 output only
};

double gelu_tanh(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

bool launch(int bn, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk,
            const gm::EpilogueArgs& epi, int64_t K) {
  return bn == 256 ? wg::gemm_bf16_wgmma<256>(A, lda, B, ldb, b_is_nk, epi, K, nullptr)
                   : wg::gemm_bf16_wgmma<128>(A, lda, B, ldb, b_is_nk, epi, K, nullptr);
}

// The launcher's one-time device probe, done up front so that each case counts its own launches.
void probe_once() { ASSERT_TRUE(wg::host::wgmma_available(0)); }

void check(const Case& c, unsigned seed) {
  probe_once();
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  // ldb a multiple of 8 (a TMA row stride is whole 16 bytes) past the row's end rounded up.
  const int64_t lda = c.K + c.pad, ldb = ((c.b_is_nk ? c.K : c.N) + 7) / 8 * 8 + c.pad, ldc = c.N + c.pad,
                ldr = c.N + 4;
  const int64_t b_rows = c.b_is_nk ? c.N : c.K, b_cols = c.b_is_nk ? c.K : c.N;
  std::vector<uint16_t> a(size_t(c.M * lda), kNaN16), b(size_t(b_rows * ldb), kNaN16);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t k = 0; k < c.K; ++k) a[size_t(i * lda + k)] = to_bf16(n(g));
  for (int64_t i = 0; i < b_rows; ++i)
    for (int64_t k = 0; k < b_cols; ++k) b[size_t(i * ldb + k)] = to_bf16(n(g));
  std::vector<float> bias(size_t(c.N)), res(size_t(c.M * ldr));
  for (auto& e : bias) e = n(g);
  for (auto& e : res) e = n(g);
  const size_t c_elems = size_t(c.M * ldc + 2 * kGuard);
  std::vector<float> c32(c_elems, kSentinel);
  std::vector<uint16_t> c16(c_elems, kNaN16);
  void* C = c.bf16_out ? static_cast<void*>(c16.data() + kGuard) : static_cast<void*>(c32.data() + kGuard);
  gm::EpilogueArgs epi{
      C,     ldc, c.bf16_out, gm::epilogue_pair_aligned(C, ldc, c.bf16_out), c.bias ? bias.data() : nullptr,
      c.act, c.M, c.N};
  if (c.residual) epi.residual = res.data(), epi.ldr = ldr;
  const emu_test::Registered reg{{a.data(), a.size() * 2},       {b.data(), b.size() * 2},
                                 {bias.data(), bias.size() * 4}, {res.data(), res.size() * 4},
                                 {c32.data(), c32.size() * 4},   {c16.data(), c16.size() * 2}};
  const long long before = simt::state().launches;
  ASSERT_TRUE(launch(c.bn, a.data(), lda, b.data(), ldb, c.b_is_nk, epi, c.K));
  ASSERT_EQ(simt::state().launches, before + 1);

  auto got_at = [&](size_t i) { return c.bf16_out ? double(from_bf16(c16[i])) : double(c32[i]); };
  auto untouched = [&](size_t i) {
    return c.bf16_out ? c16[i] == kNaN16 : emu_test::bits(c32[i]) == emu_test::bits(kSentinel);
  };
  for (int64_t i = 0; i < kGuard; ++i) {
    ASSERT_TRUE(untouched(size_t(i))) << "before C, " << i;
    ASSERT_TRUE(untouched(c_elems - 1 - size_t(i))) << "after C, " << i;
  }
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at = size_t(kGuard + m * ldc + j);
      if (j >= c.N) {
        ASSERT_TRUE(untouched(at)) << "row gap " << m << "," << j;
        continue;
      }
      double want = 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        const uint16_t bk = c.b_is_nk ? b[size_t(j * ldb + k)] : b[size_t(k * ldb + j)];
        want += double(from_bf16(a[size_t(m * lda + k)])) * from_bf16(bk);
      }
      if (c.bias) want += bias[size_t(j)];
      if (c.act == GemmActivation::gelu_tanh) want = gelu_tanh(want);
      if (c.residual) want += res[size_t(m * ldr + j)];
      // f32 sums of K exact bf16 products (the emulated tensor core rounds each k16 slice into the
      // f32 accumulator): at most ~(K / 16) 2^-24 sum|a b| off, about 1e-5 for these K <= 512 and
      // N(0, 1) inputs (sum|a b| <~ 400), inside 1e-4 (1 + |want|); bf16 output adds one rounding
      // to 8 significant bits (2^-9 relative).
      const double tol = c.bf16_out ? 4e-3 * (1 + std::fabs(want)) : 1e-4 * (1 + std::fabs(want));
      ASSERT_NEAR(got_at(at), want, tol) << "C[" << m << "," << j << "] bn " << c.bn
                                         << (c.b_is_nk ? " B[N,K]" : " B[K,N]");
    }
}

// Under both times a TMA box may land: at the next wait on its barrier (a read of a stage not
// ordered after its full-barrier wait sees old bytes) and at issue (a stage released before the
// wgmma group reading it retired is overwritten first).
void check_both_timings(const Case& c, unsigned seed) {
  for (const bool lazy : {true, false}) {
    SCOPED_TRACE(lazy ? "boxes land at the wait" : "boxes land at issue");
    const simt::Timing t(/*lazy_copies=*/lazy, /*warp_serial=*/false);
    check(c, seed);
  }
}

// K = 488: eight k-tiles (more than either width's 4 or 6 stages), the last one 40 deep (zero fill;
// the NaN row padding past K must not be read). M = 200: a partial second M tile.
// B [N,K], the layout verified on a GPU: the emulation's calibration.
TEST(EmulatedWgmmaGemm, KMajorBMatchesADoubleReference) {
  check_both_timings({256, true, 200, 300, 488, 8, true, GemmActivation::gelu_tanh, false, false}, 1);
  check_both_timings({128, true, 200, 300, 488, 8, true, GemmActivation::none, true, false}, 2);
}

// B [K,N] (MN-major): N = 300 ends inside a 64-column box (zero-filled columns; ldb = 312, the
// padding NaN).
TEST(EmulatedWgmmaGemm, MnMajorBMatchesADoubleReference) {
  check_both_timings({256, false, 200, 300, 488, 8, true, GemmActivation::gelu_tanh, false, false}, 3);
  check_both_timings({128, false, 200, 300, 488, 8, false, GemmActivation::none, true, false}, 4);
  check_both_timings({128, false, 72, 320, 456, 0, true, GemmActivation::none, false, false}, 5);
}

// Full tiles (the epilogue's unguarded paths: 16-byte bf16 stores, f32 pairs) and the residual.
TEST(EmulatedWgmmaGemm, FullTilesAndResidualEpilogue) {
  check_both_timings({256, false, 128, 256, 448, 8, true, GemmActivation::none, true, false}, 6);
  check_both_timings({128, true, 128, 128, 512, 0, false, GemmActivation::none, false, false}, 7);
  check_both_timings({256, true, 130, 264, 464, 8, true, GemmActivation::gelu_tanh, false, true}, 8);
  check_both_timings({128, false, 130, 264, 464, 0, true, GemmActivation::none, false, true}, 9);
}

// The other adversarial order: TMA boxes land when issued (not at the next wait on their barrier)
// and one warp at a time runs up to its next wait (a consumer warp runs ahead of its warpgroup's
// others, the producer alone between them).
TEST(EmulatedWgmmaGemm, WarpSerialTiming) {
  const simt::Timing t(/*lazy_copies=*/false, /*warp_serial=*/true);
  check({128, false, 140, 200, 464, 8, true, GemmActivation::none, false, false}, 10);
  check({256, true, 140, 200, 464, 8, false, GemmActivation::none, false, false}, 11);
}

// The project's own B [K,N] self-check (gemm_bf16.cu runs it on a device before trusting the
// variant), on emulated results of both widths: exact integer sums, compared bit for bit.
TEST(EmulatedWgmmaGemm, KnSelfCheckPasses) {
  probe_once();
  const kc::WgmmaKnSelfCheck c = kc::wgmma_kn_self_check_case();
  for (int bn : {256, 128}) {
    std::vector<float> got(c.expected.size());
    std::memset(got.data(), 0xff, got.size() * 4);  // NaN: an unwritten output fails
    const emu_test::Registered reg{
        {c.a.data(), c.a.size() * 2}, {c.b.data(), c.b.size() * 2}, {got.data(), got.size() * 4}};
    const bool ran = bn == 256 ? wg::gemm_bf16_wgmma_f32<256>(c.a.data(), c.K, c.b.data(), c.N, false, got.data(), c.N,
                                                              c.M, c.N, c.K, nullptr)
                               : wg::gemm_bf16_wgmma_f32<128>(c.a.data(), c.K, c.b.data(), c.N, false, got.data(), c.N,
                                                              c.M, c.N, c.K, nullptr);
    ASSERT_TRUE(ran) << bn;
    EXPECT_TRUE(kc::wgmma_kn_self_check_passes(c, got)) << "width " << bn;
  }
}

// Operands TMA cannot describe: the launcher refuses them and launches nothing.
TEST(EmulatedWgmmaGemm, RefusalsLaunchNothing) {
  probe_once();
  const int M = 64, N = 128, K = 128;
  std::vector<uint16_t> a(size_t(M * K + 64), to_bf16(1.f)), b(size_t(N * K + 64), to_bf16(1.f));
  std::vector<float> c(size_t(M * N), kSentinel);
  const emu_test::Registered reg{{a.data(), a.size() * 2}, {b.data(), b.size() * 2}, {c.data(), c.size() * 4}};
  const gm::EpilogueArgs epi{c.data(), N, false, true, nullptr, GemmActivation::none, M, N};
  const long long before = simt::state().launches;
  EXPECT_FALSE(launch(256, a.data(), K, b.data(), K, true, epi, 100));     // K % 8
  EXPECT_FALSE(launch(256, a.data() + 1, K, b.data(), K, true, epi, K));   // A not 16-byte aligned
  EXPECT_FALSE(launch(128, a.data(), K, b.data() + 4, K, true, epi, K));   // B not 16-byte aligned
  EXPECT_FALSE(launch(256, a.data(), K + 4, b.data(), K, true, epi, K));   // lda % 8
  EXPECT_FALSE(launch(128, a.data(), K, b.data(), N - 8, false, epi, K));  // B [K,N]: ldb < N
  gm::EpilogueArgs narrow = epi;
  narrow.ldc = N - 2;
  EXPECT_FALSE(launch(256, a.data(), K, b.data(), K, true, narrow, K));  // ldc < N
  EXPECT_EQ(simt::state().launches, before);
  for (float v : c) ASSERT_EQ(emu_test::bits(v), emu_test::bits(kSentinel));
}

// The emulator's own checks: a wait nobody will satisfy is a deadlock, not a hang; a descriptor mode
// the model does not know fails instead of being guessed.
__global__ void wait_forever(int) {
  __shared__ __align__(8) uint64_t bar;
  if (threadIdx.x == 0) wg::dev::mbar_init(wg::dev::smem_addr(&bar), 2);
  __syncthreads();
  if (threadIdx.x == 0) wg::dev::mbar_arrive(wg::dev::smem_addr(&bar));  // one of two arrivals
  wg::dev::mbar_wait(wg::dev::smem_addr(&bar), 0);
}
__global__ void swizzle_64b_descriptor(int) {
  float acc[64] = {};
  const uint32_t base = (wg::dev::smem_addr(wg::dev::dynamic_smem_1024()) + 1023u) & ~1023u;
  const uint64_t desc = wg::dev::desc_sw128(base);
  wg::dev::wgmma_fence();
  wg::dev::wgmma_m64n128k16<0>(acc, desc, (desc & ~(uint64_t(3) << 62)) | (uint64_t(2) << 62), 1);
  wg::dev::wgmma_commit();
  wg::dev::wgmma_wait<0>();
}

void expect_violation(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no violation, expected: " << what;
  } catch (const simt::Violation& v) {
    EXPECT_NE(std::string(v.what()).find(what), std::string::npos) << v.what();
  }
}

TEST(EmulatedWgmmaGemm, EmulatorRefusesDeadlocksAndUnmodelledModes) {
  expect_violation([] { wg::launch_unchecked(wait_forever, dim3(1), dim3(64), 0, nullptr, 0); }, "deadlock");
  expect_violation([] { wg::launch_unchecked(swizzle_64b_descriptor, dim3(1), dim3(128), 20000, nullptr, 0); },
                   "layout type 2");
}

}  // namespace
