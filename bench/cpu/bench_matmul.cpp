// f32 matmul through our op against OpenBLAS called directly on the same shape, and with bf16/f16
// weights. Shapes are those of PERFORMANCE.md: the weight is stored [N, K]
// as Hugging Face does, so C = A @ W^T. Counter GFLOPS = 2 M N K per second. `bf16_products`:
// bf16 weights under MatmulPrecision::bf16 (activations rounded to bf16, AVX-512 BF16 dot
// products; skipped on CPUs without them). `Q8`: q8_0 weights through ops::linear_q8 (codes
// streamed for M <= 8, packed f32 panels above); its counter weight_GBs is the weight bytes read
// per second (codes and scales), the figure that bounds decode. `int8_activations`: decode rows
// under MatmulPrecision::int8 (activations quantized too, AVX-512 VNNI dot products);
// `Q8/bf16_products`: above 8 rows under MatmulPrecision::bf16 (weights rounded to bf16 in the panel).
//   ./build/bench/cpu/bench_matmul --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "autograd/ops.h"
#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/quant_q8.h"
#include "tensor/rng.h"

namespace {

using rscapret::DType;
using rscapret::Generator;
using rscapret::Tensor;

struct Shape3 { int64_t M, K, N; };
const Shape3 kShapes[] = {{257, 1024, 1024}, {257, 1024, 4096}, {257, 4096, 1024}, {2056, 1024, 4096},
                          {512, 4096, 4096}, {4096, 4096, 4096}, {1, 4096, 4096}, {1, 4096, 11008},
                          {25, 4096, 4096}, {128, 4096, 11008},  // RS-CapRet step rows, 7B prefill MLP
                          {1, 4096, 32000},                     // decode through a 7B head: past every cache
                          {4, 4096, 11008}, {8, 4096, 11008}};  // short prompts, 4 decode streams

void set_flops(benchmark::State& st, const Shape3& s) {
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * double(s.M) * double(s.K) * double(s.N) * double(st.iterations()) / 1e9,
                                             benchmark::Counter::kIsRate);
  st.SetLabel(std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N));
}

void BM_OpenBLAS(benchmark::State& st) {
  const Shape3 s = kShapes[st.range(0)];
  Generator g(1);
  const Tensor a = g.normal({s.M, s.K}), w = g.normal({s.N, s.K});
  Tensor c = Tensor::empty({s.M, s.N});
  openblas_set_num_threads(rscapret::kernels::num_threads());
  for (auto _ : st) {
    if (s.M == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(s.N), int(s.K), 1.0f, w.data<float>(), int(s.K), a.data<float>(), 1,
                  0.0f, c.data<float>(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(s.M), int(s.N), int(s.K), 1.0f, a.data<float>(), int(s.K),
                  w.data<float>(), int(s.K), 0.0f, c.data<float>(), int(s.N));
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, s);
}

void BM_Ours(benchmark::State& st, DType weight_dtype, rscapret::kernels::MatmulPrecision precision) {
  const Shape3 s = kShapes[st.range(0)];
  if (precision == rscapret::kernels::MatmulPrecision::bf16 && !rscapret::kernels::cpu_has_bf16_dot()) {
    st.SkipWithError("no AVX-512 BF16 on this CPU");
    return;
  }
  const rscapret::kernels::MatmulPrecisionGuard guard(precision);
  Generator g(1);
  const Tensor a = g.normal({s.M, s.K});
  const Tensor w = g.normal({s.N, s.K}).to(weight_dtype);
  const Tensor wt = w.transpose(0, 1);  // a view: [K, N] with the [N, K] storage
  for (auto _ : st) {
    Tensor c = rscapret::ops::matmul(a, wt);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, s);
}

// f32 products with the 16-bit weight packed and widened in registers
// (kernels::gemm_f32_16bit_weights, the default path for 16-bit weights since the seventh session),
// called directly.
void BM_F32ProductsPacked(benchmark::State& st, DType weight_dtype) {
  const Shape3 s = kShapes[st.range(0)];
  if (!rscapret::kernels::cpu_has_avx512() || s.M <= 8) {
    st.SkipWithError(s.M <= 8 ? "decode rows: the GEMV's job" : "no AVX-512 on this CPU");
    return;
  }
  Generator g(1);
  const Tensor a = g.normal({s.M, s.K});
  const Tensor w = g.normal({s.N, s.K}).to(weight_dtype);
  Tensor c = Tensor::empty({s.M, s.N});
  for (auto _ : st) {
    rscapret::kernels::gemm_f32_16bit_weights({a.raw_data(), DType::f32, s.K, 1}, {w.raw_data(), weight_dtype, 1, s.K},
                                             c.data<float>(), s.M, s.K, s.N);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, s);
}

void BM_Q8(benchmark::State& st, rscapret::kernels::MatmulPrecision precision) {
  const Shape3 s = kShapes[st.range(0)];
  if (precision == rscapret::kernels::MatmulPrecision::int8 && (s.M > 8 || !rscapret::kernels::cpu_has_vnni())) {
    st.SkipWithError(s.M > 8 ? "int8 activations: decode rows only" : "no AVX-512 VNNI on this CPU");
    return;
  }
  if (precision == rscapret::kernels::MatmulPrecision::bf16 && (s.M <= 8 || !rscapret::kernels::cpu_has_bf16_dot())) {
    st.SkipWithError(s.M <= 8 ? "bf16 products: above 8 rows only" : "no AVX-512 BF16 on this CPU");
    return;
  }
  const rscapret::kernels::MatmulPrecisionGuard guard(precision);
  Generator g(1);
  const Tensor a = g.normal({s.M, s.K});
  const rscapret::ops::Q8Weight q = rscapret::ops::quantize_q8(g.normal({s.N, s.K}, 0.0, 0.02));
  for (auto _ : st) {
    Tensor c = rscapret::ops::linear_q8(a, q.codes, q.scales);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(st, s);
  st.counters["weight_GBs"] = benchmark::Counter(double(q.codes.numel() + 4 * q.scales.numel()) *
                                                     double(st.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void args(benchmark::internal::Benchmark* b) {
  for (int i = 0; i < int(std::size(kShapes)); ++i) b->Arg(i);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_OpenBLAS)->Apply(args);
using rscapret::kernels::MatmulPrecision;
BENCHMARK_CAPTURE(BM_Ours, f32, DType::f32, MatmulPrecision::f32)->Apply(args);
BENCHMARK_CAPTURE(BM_Ours, bf16_weights, DType::bf16, MatmulPrecision::f32)->Apply(args);
BENCHMARK_CAPTURE(BM_Ours, f16_weights, DType::f16, MatmulPrecision::f32)->Apply(args);
BENCHMARK_CAPTURE(BM_Ours, bf16_products, DType::bf16, MatmulPrecision::bf16)->Apply(args);
BENCHMARK_CAPTURE(BM_F32ProductsPacked, bf16, DType::bf16)->Apply(args);
BENCHMARK_CAPTURE(BM_F32ProductsPacked, f16, DType::f16)->Apply(args);
BENCHMARK_CAPTURE(BM_Q8, f32_activations, MatmulPrecision::f32)->Apply(args);
BENCHMARK_CAPTURE(BM_Q8, int8_activations, MatmulPrecision::int8)->Apply(args);
BENCHMARK_CAPTURE(BM_Q8, bf16_products, MatmulPrecision::bf16)->Apply(args);

}  // namespace

BENCHMARK_MAIN();
