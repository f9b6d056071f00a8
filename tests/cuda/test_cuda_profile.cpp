// The kernel profiler on the GPU: what ran between start and stop, per kernel, with the GPU's own
// times; one profile at a time; each profile counts only its own work.
#include <string>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#include "tensor/kernel_profile.h"
#include "tensor/rng.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

// Starts a profile, or skips when this machine has no CUPTI library (an environment limit, not a
// fault of the profiler: bench/gpu/check.sh ships one with the packed binaries).
#define RS_START_PROFILE_OR_SKIP()                                                                   \
  do {                                                                                               \
    try {                                                                                            \
      profile::start_kernel_profile();                                                               \
    } catch (const DeviceError& e) {                                                                 \
      if (std::string(e.what()).find("not found") != std::string::npos) GTEST_SKIP() << e.what();   \
      throw;                                                                                         \
    }                                                                                                \
  } while (0)

const profile::KernelStat* find_row(const std::vector<profile::KernelStat>& stats, const std::string& part) {
  for (const auto& s : stats)
    if (s.name.find(part) != std::string::npos) return &s;
  return nullptr;
}

TEST(CudaKernelProfile, RecordsKernelsAndCopiesWithDeviceTimes) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(5);
  const Tensor a_host = g.normal({512, 512}), b_host = g.normal({512, 512});
  RS_START_PROFILE_OR_SKIP();
  EXPECT_TRUE(profile::kernel_profile_running());
  EXPECT_THROW(profile::start_kernel_profile(), DeviceError);  // one at a time
  const Tensor a = a_host.to(Device::cuda(0)), b = b_host.to(Device::cuda(0));
  Tensor sum;
  for (int i = 0; i < 3; ++i) sum = ops::add(a, b);
  const Tensor product = ops::matmul(a, b);
  const Tensor back = product.to(Device::cpu());
  const std::vector<profile::KernelStat> stats = profile::stop_kernel_profile();
  EXPECT_FALSE(profile::kernel_profile_running());
  SCOPED_TRACE(profile::format_kernel_profile(stats));
  const profile::KernelStat* add = find_row(stats, "binary");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->calls, 3);
  EXPECT_GT(add->total_ms, 0.0);
  EXPECT_GT(add->max_us, 0.0);
  EXPECT_LE(add->max_us * 1e-3, add->total_ms);
  const profile::KernelStat* matmul = find_row(stats, "matmul");
  ASSERT_NE(matmul, nullptr);
  EXPECT_GE(matmul->calls, 1);
  EXPECT_NE(find_row(stats, "[memcpy HtoD]"), nullptr);
  EXPECT_NE(find_row(stats, "[memcpy DtoH]"), nullptr);
  EXPECT_EQ(find_row(stats, "[dropped records]"), nullptr);
  EXPECT_THROW(profile::stop_kernel_profile(), DeviceError);  // nothing running now

  // A second profile counts only its own work.
  RS_START_PROFILE_OR_SKIP();
  sum = ops::add(a, b);
  const std::vector<profile::KernelStat> again = profile::stop_kernel_profile();
  const profile::KernelStat* add_again = find_row(again, "binary");
  ASSERT_NE(add_again, nullptr);
  EXPECT_EQ(add_again->calls, 1);
  EXPECT_EQ(find_row(again, "matmul"), nullptr);
}

}  // namespace
}  // namespace rscapret::testing
