// The kernel profiler's bookkeeping (names, tally, table), which runs without a GPU; the recording
// itself is tested on the GPU in tests/cuda/test_cuda_profile.cpp.
#include <gtest/gtest.h>

#include "tensor/device_backend.h"
#include "tensor/error.h"
#include "tensor/kernel_profile.h"

namespace rscapret::profile {
namespace {

TEST(KernelProfile, ShortNamesDropReturnTypeParametersAndNamespaces) {
  EXPECT_EQ(short_kernel_name("void rscapret::kernels::cuda::gemm::gemm_bf16_wgmma_kernel<256>(CUtensorMap_st, "
                              "CUtensorMap_st, rscapret::kernels::cuda::gemm::Epilogue, int)"),
            "gemm_bf16_wgmma_kernel<256>");
  // Namespaces inside template arguments go too; the arguments themselves stay (they tell the
  // variants apart).
  EXPECT_EQ(short_kernel_name("void rscapret::kernels::cuda::(anonymous namespace)::unary_kernel<"
                              "(rscapret::kernels::UnaryOp)3>(float const*, float*, long, float, bool)"),
            "unary_kernel<(UnaryOp)3>");
  EXPECT_EQ(short_kernel_name("void ns::strided_copy_kernel<unsigned int, (ns::DType)4, (ns::DType)3>(void const*, "
                              "void*, ns::Loop, unsigned int)"),
            "strided_copy_kernel<unsigned int, (DType)4, (DType)3>");
  // Not a demangled C++ name (cuBLAS's kernels, C kernels): unchanged.
  EXPECT_EQ(short_kernel_name("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64"),
            "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64");
  EXPECT_EQ(short_kernel_name("plain_kernel(int)"), "plain_kernel");
  EXPECT_EQ(short_kernel_name(""), "");
}

TEST(KernelProfile, TallySumsPerNameLargestFirst) {
  KernelTally t;
  EXPECT_TRUE(t.empty());
  t.add("b", 1000);
  t.add("a", 4000);
  t.add("b", 2500);
  t.add("c", 3500);
  const std::vector<KernelStat> s = t.stats();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].name, "a");
  EXPECT_EQ(s[0].calls, 1);
  EXPECT_DOUBLE_EQ(s[0].total_ms, 0.004);
  // b and c tie at 3.5 us: name order.
  EXPECT_EQ(s[1].name, "b");
  EXPECT_EQ(s[1].calls, 2);
  EXPECT_DOUBLE_EQ(s[1].total_ms, 0.0035);
  EXPECT_DOUBLE_EQ(s[1].max_us, 2.5);
  EXPECT_EQ(s[2].name, "c");
}

TEST(KernelProfile, TableShowsTopRowsTheRestAndTotals) {
  const std::vector<KernelStat> s = {{"gemm", 10, 6.0, 900.0}, {"layer_norm", 20, 3.0, 200.0},
                                     {"add", 40, 1.0, 30.0}};
  const std::string all = format_kernel_profile(s);
  EXPECT_NE(all.find("gemm"), std::string::npos);
  EXPECT_NE(all.find(" 60.0%"), std::string::npos);   // 6 of 10 ms
  EXPECT_NE(all.find("600.00"), std::string::npos);   // gemm's mean: 6 ms / 10 calls
  EXPECT_NE(all.find("device total: 10.000 ms in 70 runs of 3"), std::string::npos);
  const std::string top1 = format_kernel_profile(s, 1);
  EXPECT_EQ(top1.find("layer_norm"), std::string::npos);
  EXPECT_NE(top1.find("(2 more)"), std::string::npos);
  EXPECT_NE(top1.find(" 40.0%"), std::string::npos);  // the two rows left out: 4 of 10 ms
  // The profiler's own counts (dropped records, unreadable buffers) are shown but not totalled.
  std::vector<KernelStat> with_counts = s;
  with_counts.push_back({"[dropped records]", 5, 0.0, 0.0});
  with_counts.push_back({"[buffers with unreadable records]", 1, 0.0, 0.0});
  const std::string counted = format_kernel_profile(with_counts);
  EXPECT_NE(counted.find("device total: 10.000 ms in 70 runs of 3"), std::string::npos) << counted;
  EXPECT_NE(counted.find("[buffers with unreadable records]"), std::string::npos);
  // A long name is cut to the column, not allowed to shift it.
  const std::string long_name(200, 'k');
  const std::string cut = format_kernel_profile({{long_name, 1, 1.0, 1.0}});
  EXPECT_EQ(cut.find(long_name), std::string::npos);
  EXPECT_NE(cut.find(std::string(61, 'k') + "..."), std::string::npos);
}

TEST(KernelProfile, StartWithoutADeviceSaysWhy) {
  if (cuda_runtime::available()) GTEST_SKIP() << "a CUDA device is present: tests/cuda covers the profiler";
  EXPECT_THROW(start_kernel_profile(), DeviceError);
  EXPECT_FALSE(kernel_profile_running());
  EXPECT_THROW(stop_kernel_profile(), DeviceError);
}

}  // namespace
}  // namespace rscapret::profile
