// The decode GEMV (bf16 weights, one activation row) on weights in a mmapped file versus the same
// bytes in anonymous memory, each beside a plain read of the same bytes: how close the kernel
// streams to what the memory gives on that kind of page. Decode of a mmapped 7B model is this product over 13.5 GB; here 2 GiB of
// [N, 4096] bf16 rows stand for it (larger than every cache, small enough to stay in the page cache).
// bytes_per_second counts the weight bytes read.
//   ./build/bench/cpu/bench_gemv_mmap --benchmark_min_time=2
// RSCAPRET_BENCH_DIR: where the 2 GiB file is written (default /tmp); it is removed at exit.
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/common/read_words.h"
#include "kernels/cpu/gemv_half.h"
#include "tensor/dtype.h"
#include "tensor/rng.h"

namespace {

using namespace rscapret;
constexpr int64_t kK = 4096;
constexpr int64_t kN = int64_t(256) << 10;  // 262,144 rows x 8 KB = 2 GiB

struct Weights {
  std::string path;
  const uint16_t* mapped = nullptr;  // file-backed, read-only
  std::vector<uint16_t> anon;        // the same bytes in anonymous memory
  std::vector<float> x;              // the activation row [K]
  ~Weights() {
    if (mapped) munmap(const_cast<uint16_t*>(mapped), size_t(kN * kK * 2));
    if (!path.empty()) std::remove(path.c_str());
  }
};

Weights& weights() {
  static Weights w = [] {
    Weights w;
    const char* dir = std::getenv("RSCAPRET_BENCH_DIR");
    w.path = std::string(dir ? dir : "/tmp") + "/rscapret_bench_gemv_" + std::to_string(getpid()) + ".bin";
    Generator g(3);
    w.x = g.normal({kK}).to_vector<float>();
    w.anon.resize(size_t(kN * kK));
    // Values of a trained layer's size (|w| ~ 0.02): bf16 of a cheap hash, not the RNG (2 GiB).
    for (size_t i = 0; i < w.anon.size(); ++i) {
      uint32_t h = uint32_t(i) * 2654435761u;
      h ^= h >> 15;
      w.anon[i] = f32_to_bf16((float(h & 0xFFFF) / 65536.0f - 0.5f) * 0.04f);
    }
    const int fd = ::open(w.path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0) std::abort();
    const char* p = reinterpret_cast<const char*>(w.anon.data());
    for (size_t off = 0, n = w.anon.size() * 2; off < n;) {
      const ssize_t k = ::write(fd, p + off, std::min<size_t>(n - off, size_t(1) << 26));
      if (k <= 0) std::abort();
      off += size_t(k);
    }
    void* m = mmap(nullptr, size_t(kN * kK * 2), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) std::abort();
    w.mapped = static_cast<const uint16_t*>(m);
    return w;
  }();
  return w;
}

// A plain read of every byte (2 threads as the GEMV): the bound the GEMV is measured against.
void BM_Read(benchmark::State& st, bool mapped) {
  Weights& w = weights();
  const uint64_t* p = reinterpret_cast<const uint64_t*>(mapped ? w.mapped : w.anon.data());
  for (auto _ : st) benchmark::DoNotOptimize(bench::parallel_word_sum(p, kN * kK / 4));
  st.SetBytesProcessed(int64_t(st.iterations()) * kN * kK * 2);
}

void BM_Gemv(benchmark::State& st, bool mapped) {
  Weights& w = weights();
  std::vector<float> y(static_cast<size_t>(kN));
  const uint16_t* W = mapped ? w.mapped : w.anon.data();
  // Checked before timing: a few rows against a float64 sum (the order of the f32 sums differs).
  kernels::gemv_half(true, w.x.data(), kK, 1, W, kK, kN, kK, y.data(), kN);
  for (int64_t n = 0; n < kN; n += kN / 61) {
    double ref = 0, mag = 0;
    for (int64_t k = 0; k < kK; ++k) {
      const double t = double(w.x[size_t(k)]) * bf16_to_f32(W[n * kK + k]);
      ref += t;
      mag += std::abs(t);
    }
    if (std::abs(y[size_t(n)] - ref) > 1e-5 * mag + 1e-6) {
      st.SkipWithError(("row " + std::to_string(n) + " differs from the float64 sum").c_str());
      return;
    }
  }
  for (auto _ : st) {
    kernels::gemv_half(true, w.x.data(), kK, 1, W, kK, kN, kK, y.data(), kN);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * kN * kK * 2);
}

BENCHMARK_CAPTURE(BM_Read, mmap, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Gemv, mmap, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read, anon, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Gemv, anon, false)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
