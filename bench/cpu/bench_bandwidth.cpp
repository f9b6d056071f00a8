// Memory-bound ops against the copy bandwidth measured in the same run. bytes_per_second counts
// what the op must move: reads + writes (copy: 2 x 64 MB; add: 3 x 64 MB; softmax 4096^2: 2 x 64 MB).
// Each op is timed twice: the kernel on preallocated buffers, and the op (allocating its output).
//   ./build/bench/cpu/bench_bandwidth --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstring>

#include "autograd/ops.h"
#include "kernels/cpu/loop.h"
#include "kernels/cpu/simd_kernels.h"
#include "tensor/rng.h"

namespace {

using namespace rscapret;
constexpr int64_t kN = int64_t(16) << 20;  // 16 M floats = 64 MB
constexpr int64_t kRows = 4096, kCols = 4096;

void set_bytes(benchmark::State& st, int64_t bytes_per_iter) {
  st.SetBytesProcessed(int64_t(st.iterations()) * bytes_per_iter);
}

void BM_Copy(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kN});
  Tensor y = Tensor::empty({kN});
  // The best copy we can do on all threads: memcpy of 4 MB chunks spread over the pool.
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  for (auto _ : st) {
    kernels::parallel_for(0, kN, 1 << 20, [&](int64_t b, int64_t e) {
      std::memcpy(dst + b, src + b, size_t(e - b) * 4);
    });
    benchmark::ClobberMemory();
  }
  set_bytes(st, 2 * kN * 4);
}

kernels::BroadcastLoop dense_loop(int64_t n) {
  kernels::BroadcastLoop l;
  l.ndim = 1;
  l.shape[0] = n;
  l.strides[0][0] = l.strides[1][0] = 1;
  return l;
}

void BM_KernelBinary(benchmark::State& st, kernels::BinaryOp op) {
  Generator g(1);
  const Tensor a = g.normal({kN}), b = g.normal({kN});
  Tensor y = Tensor::empty({kN});
  const auto loop = dense_loop(kN);
  for (auto _ : st) {
    kernels::simd::binary(op, a.data<float>(), b.data<float>(), y.data<float>(), loop);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3 * kN * 4);
}

void BM_KernelSilu(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kN});
  Tensor y = Tensor::empty({kN});
  for (auto _ : st) {
    kernels::simd::unary(kernels::UnaryOp::silu, x.data<float>(), y.data<float>(), kN, 0);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 2 * kN * 4);
}

void BM_OpAdd(benchmark::State& st) {
  Generator g(1);
  const Tensor a = g.normal({kN}), b = g.normal({kN});
  for (auto _ : st) benchmark::DoNotOptimize(ops::add(a, b).raw_data());
  set_bytes(st, 3 * kN * 4);
}
void BM_OpMul(benchmark::State& st) {
  Generator g(1);
  const Tensor a = g.normal({kN}), b = g.normal({kN});
  for (auto _ : st) benchmark::DoNotOptimize(ops::mul(a, b).raw_data());
  set_bytes(st, 3 * kN * 4);
}
void BM_OpSilu(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kN});
  for (auto _ : st) benchmark::DoNotOptimize(ops::silu(x).raw_data());
  set_bytes(st, 2 * kN * 4);
}
void BM_OpSoftmax(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kRows, kCols});
  for (auto _ : st) benchmark::DoNotOptimize(ops::softmax(x, -1).raw_data());
  set_bytes(st, 2 * kRows * kCols * 4);
}
void BM_OpLayerNorm(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kRows, kCols}), w = g.normal({kCols}), b = g.normal({kCols});
  for (auto _ : st) benchmark::DoNotOptimize(ops::layer_norm(x, w, b, 1e-5).raw_data());
  set_bytes(st, 2 * kRows * kCols * 4);
}
void BM_OpRmsNorm(benchmark::State& st) {
  Generator g(1);
  const Tensor x = g.normal({kRows, kCols}), w = g.normal({kCols});
  for (auto _ : st) benchmark::DoNotOptimize(ops::rms_norm(x, w, 1e-6).raw_data());
  set_bytes(st, 2 * kRows * kCols * 4);
}

BENCHMARK(BM_Copy)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelBinary, add, kernels::BinaryOp::add)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelBinary, mul, kernels::BinaryOp::mul)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelSilu)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpAdd)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpMul)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpSilu)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpSoftmax)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpLayerNorm)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpRmsNorm)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Copy)->UseRealTime()->Unit(benchmark::kMillisecond)->Name("BM_Copy_again");

}  // namespace

BENCHMARK_MAIN();
