// The emulator itself (simt.h): warp shuffles and barriers behave as on the hardware, and a
// kernel that breaks the execution model fails the launch with a message instead of passing.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

namespace {

// Each warp sums its lanes' values with an xor butterfly; lane 0 writes the warp's sum.
__global__ void warp_sums(const float* x, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = __ldg(x + i);
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  if (threadIdx.x % 32 == 0) out[i / 32] = v;
}

// Thread i reads what thread i + 1 wrote to shared memory: right only with the barrier between.
__global__ void neighbour(const float* x, float* out, bool barrier) {
  float* s = reinterpret_cast<float*>(simt::state().smem);
  s[threadIdx.x] = x[threadIdx.x];
  if (barrier) __syncthreads();
  out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

// Lanes of one warp at different collectives.
__global__ void diverging(float* out) {
  float v = 1.0f;
  if (threadIdx.x % 2)
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  else
    __syncthreads();
  out[threadIdx.x] = v;
}

TEST(Simt, ShufflesReduceAWarp) {
  std::vector<float> x(128), out(4, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  simt::register_buffer(x.data(), x.size() * 4);
  simt::launch(dim3(2), dim3(64), 0, [&] { warp_sums(x.data(), out.data()); });
  simt::clear_buffers();
  for (int w = 0; w < 4; ++w) EXPECT_EQ(out[size_t(w)], float(32 * 32 * w + 31 * 32 / 2)) << w;
}

TEST(Simt, AMissingBarrierShowsWhenWarpsRunApart) {
  std::vector<float> x(64), out(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  for (bool barrier : {true, false}) {
    const simt::Timing serial(/*lazy_copies=*/false, /*warp_serial=*/true);
    simt::launch(dim3(1), dim3(64), 64 * 4, [&] { neighbour(x.data(), out.data(), barrier); });
    // Thread 31 reads thread 32's slot, which warp 1 has not written yet when warp 0 runs alone.
    if (barrier)
      EXPECT_EQ(out[31], 32.0f);
    else
      EXPECT_NE(out[31], 32.0f);
  }
}

TEST(Simt, BrokenKernelsFailTheLaunch) {
  std::vector<float> x(32), out(64);
  simt::register_buffer(x.data(), x.size() * 4);
  // 64 threads read 64 floats from a 32-float buffer.
  EXPECT_THROW(simt::launch(dim3(1), dim3(64), 0, [&] { warp_sums(x.data(), out.data()); }), simt::Violation);
  simt::clear_buffers();
  EXPECT_THROW(simt::launch(dim3(1), dim3(32), 0, [&] { diverging(out.data()); }), simt::Violation);
  EXPECT_THROW(simt::launch(dim3(1), dim3(48), 0, [] {}), simt::Violation);  // not whole warps
  // The emulator is usable after a violation.
  std::vector<float> y(32, 1.0f), sum(1);
  simt::register_buffer(y.data(), y.size() * 4);
  simt::launch(dim3(1), dim3(32), 0, [&] { warp_sums(y.data(), sum.data()); });
  simt::clear_buffers();
  EXPECT_EQ(sum[0], 32.0f);
}

// Launch configurations the device refuses fail the launch: an empty grid, grid y past 65535, more
// than 1024 threads, more than 227 KB of dynamic shared memory, or more than 48 KB without the
// kernel's opt-in; copies between overlapping ranges (undefined in CUDA) fail too.
__global__ void nothing() {}

TEST(Simt, RefusesWhatTheDeviceRefuses) {
  const auto body = [] { nothing(); };
  EXPECT_THROW(simt::launch(dim3(0), dim3(32), 0, body), simt::Violation);
  EXPECT_THROW(simt::launch(dim3(1, 65536), dim3(32), 0, body), simt::Violation);
  EXPECT_THROW(simt::launch(dim3(1), dim3(1056), 0, body), simt::Violation);
  EXPECT_THROW(simt::launch(dim3(1), dim3(32), 228 * 1024, body), simt::Violation);
  const void* kernel = reinterpret_cast<const void*>(&nothing);
  EXPECT_NO_THROW(simt::launch(dim3(1), dim3(32), 48 * 1024, body, false, kernel));
  EXPECT_THROW(simt::launch(dim3(1), dim3(32), 64 * 1024, body, false, kernel), simt::Violation);
  ASSERT_EQ(cudaFuncSetAttribute(&nothing, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024), cudaSuccess);
  EXPECT_NO_THROW(simt::launch(dim3(1), dim3(32), 64 * 1024, body, false, kernel));
  EXPECT_THROW(simt::launch(dim3(1), dim3(32), 64 * 1024 + 16, body, false, kernel), simt::Violation);

  std::vector<float> buf(64);
  simt::register_buffer(buf.data(), buf.size() * 4);
  EXPECT_EQ(cudaMemcpyAsync(buf.data(), buf.data() + 32, 32 * 4, cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_THROW(cudaMemcpyAsync(buf.data(), buf.data() + 16, 32 * 4, cudaMemcpyDeviceToDevice), simt::Violation);
  simt::clear_buffers();
}

}  // namespace
