// Lab for the Hopper wgmma bf16 GEMM (kernels/cuda/gemm_bf16_wgmma.cuh) against cuBLASLt.
// C[M,N] f32 = A[M,K] @ B[N,K]^T (the forward's x W^T) or A[M,K] @ B[K,N] (the backward's dY W:
// the frozen-7B step's shapes at 16 x 48 tokens) with random bf16 A, B (uniform in [-1, 1]).
// The B [K,N] rows run the raw kernel, not production's self-checked route, so that a layout
// mistake shows here as a failed validation.
// Per shape and variant (BN = 256, BN = 128), before any timing:
//   1. both outputs are poisoned (0xFF bytes = NaN), cuBLASLt and the wgmma kernel run once;
//   2. relative L2 error of the wgmma output against cuBLAS's (both accumulate in f32) < 1e-3
//      (a NaN anywhere, e.g. an unwritten element, fails it);
//   3. 256 sampled entries against a CPU double-precision dot product: max |got - ref| / rms(ref) < 1e-2.
// Only a validated variant is timed: CUDA events on the project's stream, 2 warm-ups, median of 10.
// A failed validation prints "WGMMA VALIDATION FAILED" with the error; the exit code stays 0.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_wgmma.cuh"
#include "kernels/cuda/launch.cuh"

namespace {

namespace kc = rscapret::kernels::cuda;
namespace wg = rscapret::kernels::cuda::wgmma_tma;
using rscapret::DType;
using kc::GemmActivation;

constexpr int kDevice = 0;

#define LAB_CHECK(x)                                                                          \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

uint16_t f32_to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7fffu + ((b >> 16) & 1u);  // round to nearest even (finite inputs)
  return uint16_t(b >> 16);
}
float bf16_to_f32(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint64_t g_rng = 0x9E3779B97F4A7C15ull;
uint64_t next_u64() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}
void fill_random(std::vector<uint16_t>& v) {
  for (auto& x : v) {
    const float u = float(next_u64() >> 40) / float(1 << 24);  // [0, 1)
    x = f32_to_bf16(2.f * u - 1.f);
  }
}

struct Shape {
  int64_t M, N, K;
  bool b_kn = false;  // B [K,N] row-major (else [N,K])
};

double median_ms(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

template <class F>
double time_ms(F&& f, cudaStream_t s) {
  for (int i = 0; i < 2; ++i) f();
  LAB_CHECK(cudaStreamSynchronize(s));
  cudaEvent_t a, b;
  LAB_CHECK(cudaEventCreate(&a));
  LAB_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    LAB_CHECK(cudaEventRecord(a, s));
    f();
    LAB_CHECK(cudaEventRecord(b, s));
    LAB_CHECK(cudaEventSynchronize(b));
    float t = 0;
    LAB_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  LAB_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median_ms(ms);
}

int64_t ldb_of(const Shape& sh) { return sh.b_kn ? sh.N : sh.K; }

template <int BN>
bool run_wgmma(const Shape& sh, const uint16_t* dA, const uint16_t* dB, float* dC, cudaStream_t s) {
  return wg::gemm_bf16_wgmma_f32<BN>(dA, sh.K, dB, ldb_of(sh), !sh.b_kn, dC, sh.N, sh.M, sh.N, sh.K, s);
}

}  // namespace

int main() {
  cudaStream_t s = kc::stream_for(kDevice);
  cudaDeviceProp prop{};
  LAB_CHECK(cudaGetDeviceProperties(&prop, kDevice));
  std::printf("device: %s (cc %d.%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  std::printf("wgmma kernel available (sm_90a device code + cc 9.0): %s\n\n",
              wg::host::wgmma_available(0) ? "yes" : "NO");

  // B [K,N] rows: dX = dY W of the frozen-7B step (768 tokens) for q/k/v/o, the MLP's down and
  // gate/up projections and the LM head, and the square.
  const Shape shapes[] = {{8192, 8192, 8192},        {16448, 1024, 4096},        {16448, 4096, 1024},
                          {1024, 4096, 4096},        {8192, 8192, 8192, true},   {768, 4096, 4096, true},
                          {768, 11008, 4096, true},  {768, 4096, 11008, true},   {768, 4096, 32000, true}};
  struct Row {
    std::string shape, variant;
    double cublas_tf, wgmma_tf;
    bool ok;
    std::string note;
  };
  std::vector<Row> rows;
  bool any_failed = false;

  for (const Shape& sh : shapes) {
    const int64_t M = sh.M, N = sh.N, K = sh.K;
    std::vector<uint16_t> hA(size_t(M * K)), hB(size_t(N * K));
    fill_random(hA);
    fill_random(hB);
    uint16_t *dA, *dB;
    float *dRef, *dC;
    LAB_CHECK(cudaMalloc(&dA, hA.size() * 2));
    LAB_CHECK(cudaMalloc(&dB, hB.size() * 2));
    LAB_CHECK(cudaMalloc(&dRef, size_t(M * N) * 4));
    LAB_CHECK(cudaMalloc(&dC, size_t(M * N) * 4));
    LAB_CHECK(cudaMemcpy(dA, hA.data(), hA.size() * 2, cudaMemcpyHostToDevice));
    LAB_CHECK(cudaMemcpy(dB, hB.data(), hB.size() * 2, cudaMemcpyHostToDevice));
    const double flops = 2.0 * double(M) * double(N) * double(K);
    char shape_name[64];
    std::snprintf(shape_name, sizeof shape_name, "%lldx%lldx%lld %s", (long long)M, (long long)N, (long long)K,
                  sh.b_kn ? "B[K,N]" : "B[N,K]");

    // cuBLASLt reference output.
    auto cublas = [&] {
      kc::gemm_bf16_cublas(dA, K, dB, ldb_of(sh), !sh.b_kn, dRef, DType::f32, N, nullptr, GemmActivation::none, M,
                           N, K, kDevice);
    };
    LAB_CHECK(cudaMemsetAsync(dRef, 0xFF, size_t(M * N) * 4, s));
    cublas();
    LAB_CHECK(cudaStreamSynchronize(s));
    LAB_CHECK(cudaGetLastError());
    std::vector<float> hRef(size_t(M * N)), hC(size_t(M * N));
    LAB_CHECK(cudaMemcpy(hRef.data(), dRef, hRef.size() * 4, cudaMemcpyDeviceToHost));
    const double cublas_ms = time_ms(cublas, s);
    const double cublas_tf = flops / (cublas_ms * 1e-3) / 1e12;

    // Sampled CPU double references (shared by the variants).
    struct Sample {
      int64_t i, j;
      double ref;
    };
    std::vector<Sample> samples;
    double sum_sq = 0;
    for (int t = 0; t < 256; ++t) {
      Sample sm{int64_t(next_u64() % uint64_t(M)), int64_t(next_u64() % uint64_t(N)), 0.0};
      double acc = 0;
      const uint16_t* a = &hA[size_t(sm.i * K)];
      for (int64_t k = 0; k < K; ++k) {
        const uint16_t b = sh.b_kn ? hB[size_t(k * N + sm.j)] : hB[size_t(sm.j * K + k)];
        acc += double(bf16_to_f32(a[k])) * double(bf16_to_f32(b));
      }
      sm.ref = acc;
      sum_sq += acc * acc;
      samples.push_back(sm);
    }
    const double rms_ref = std::sqrt(sum_sq / samples.size());
    // cuBLAS itself against the CPU (sanity of the reference).
    double cublas_cpu_err = 0;
    for (const Sample& sm : samples)
      cublas_cpu_err = std::max(cublas_cpu_err, std::fabs(double(hRef[size_t(sm.i * N + sm.j)]) - sm.ref) / rms_ref);

    for (int variant = 0; variant < 2; ++variant) {
      const char* vname = variant == 0 ? "wgmma 128x256x64" : "wgmma 128x128x64";
      auto launch = [&]() -> bool {
        return variant == 0 ? run_wgmma<256>(sh, dA, dB, dC, s) : run_wgmma<128>(sh, dA, dB, dC, s);
      };
      Row row{shape_name, vname, cublas_tf, 0.0, false, ""};
      LAB_CHECK(cudaMemsetAsync(dC, 0xFF, size_t(M * N) * 4, s));
      if (!launch()) {
        row.note = "launcher returned false (unsupported)";
        any_failed = true;
        std::printf("%s %s: launcher returned false, nothing validated\nWGMMA VALIDATION FAILED\n", shape_name, vname);
      } else {
        // Watchdog: a pipeline deadlock would otherwise hang the check script forever.
        cudaError_t e = cudaErrorNotReady;
        const auto t0 = std::chrono::steady_clock::now();
        while ((e = cudaStreamQuery(s)) == cudaErrorNotReady) {
          if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(20)) {
            std::printf("%s %s: kernel still running after 20 s (deadlock?)\nWGMMA VALIDATION FAILED\n", shape_name,
                        vname);
            std::fflush(stdout);
            std::_Exit(0);
          }
        }
        if (e == cudaSuccess) e = cudaGetLastError();
        if (e != cudaSuccess) {
          std::printf("%s %s: CUDA error %s (context is likely lost; stopping)\n", shape_name, vname,
                      cudaGetErrorString(e));
          std::printf("WGMMA VALIDATION FAILED\n");
          return 0;
        }
        LAB_CHECK(cudaMemcpy(hC.data(), dC, hC.size() * 4, cudaMemcpyDeviceToHost));
        double num = 0, den = 0;
        int64_t nonfinite = 0;
        for (size_t x = 0; x < hC.size(); ++x) {
          const double d = double(hC[x]) - double(hRef[x]);
          if (!std::isfinite(hC[x])) ++nonfinite;
          num += d * d;
          den += double(hRef[x]) * double(hRef[x]);
        }
        const double l2 = std::sqrt(num / den);
        double cpu_err = 0;
        for (const Sample& sm : samples) {
          const double got = hC[size_t(sm.i * N + sm.j)];
          const double e2 = std::isfinite(got) ? std::fabs(got - sm.ref) / rms_ref : INFINITY;
          cpu_err = std::max(cpu_err, e2);
        }
        const bool ok = (l2 < 1e-3) && (cpu_err < 1e-2) && nonfinite == 0;
        std::printf("%s %s: rel L2 vs cuBLAS %.3e, max sampled err vs CPU double %.3e (cuBLAS vs CPU %.3e), "
                    "non-finite %lld -> %s\n",
                    shape_name, vname, l2, cpu_err, cublas_cpu_err, (long long)nonfinite, ok ? "ok" : "FAILED");
        if (!ok) {
          any_failed = true;
          std::printf("WGMMA VALIDATION FAILED (%s, %s)\n", shape_name, vname);
          // Where the first mismatches are, to help debugging.
          int shown = 0;
          for (int64_t x = 0; x < M * N && shown < 5; ++x) {
            const double d = std::fabs(double(hC[x]) - double(hRef[x]));
            if (!(d <= 1e-2 * (1.0 + std::fabs(hRef[x])))) {
              std::printf("  C[%lld, %lld] = %g, cuBLAS %g\n", (long long)(x / N), (long long)(x % N), hC[x],
                          hRef[x]);
              ++shown;
            }
          }
          row.note = "validation failed";
        } else {
          row.ok = true;
          const double ms = time_ms([&] { launch(); }, s);
          row.wgmma_tf = flops / (ms * 1e-3) / 1e12;
        }
      }
      rows.push_back(row);
    }
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dRef);
    cudaFree(dC);
  }

  std::printf("\n| shape (MxNxK, B layout) | variant | cuBLAS TFLOP/s | wgmma TFLOP/s | ratio | validated |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    if (r.ok)
      std::printf("| %s | %s | %.1f | %.1f | %.3f | yes |\n", r.shape.c_str(), r.variant.c_str(), r.cublas_tf,
                  r.wgmma_tf, r.wgmma_tf / r.cublas_tf);
    else
      std::printf("| %s | %s | %.1f | - | - | no (%s) |\n", r.shape.c_str(), r.variant.c_str(), r.cublas_tf,
                  r.note.c_str());
  }
  if (any_failed) std::printf("\nWGMMA VALIDATION FAILED\n");
  return 0;
}
