// `rscapret selftest`: runs a few ops on random data, checks each fast kernel against its scalar
// reference, and prints results and timings. The main job until the embedded default model lands.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "app/commands.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "kernels/cpu/parallel.h"
#include "tensor/rng.h"

namespace rscapret::app {

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

struct Case {
  std::string name;
  std::string shape;
  std::function<Tensor()> run;
};

int run_selftest(int64_t n, uint64_t seed) {
  Generator gen(seed);
  const Tensor x = gen.normal({n, n});
  const Tensor y = gen.normal({n, n});
  const Tensor w = gen.normal({n});
  const Tensor b = gen.normal({n});
  const Tensor ids = gen.randint({64}, n);
  const Tensor q = gen.normal({2, 4, 64, 32}), k = gen.normal({2, 2, 64, 32}), v = gen.normal({2, 2, 64, 32});
  const std::string nn = std::to_string(n) + "x" + std::to_string(n);
  const std::vector<Case> cases = {
      {"add", nn, [&] { return ops::add(x, y); }},
      {"silu", nn, [&] { return ops::silu(x); }},
      {"gelu_erf", nn, [&] { return ops::gelu_erf(x); }},
      {"softmax", nn, [&] { return ops::softmax(x, -1); }},
      {"layer_norm", nn, [&] { return ops::layer_norm(x, w, b, 1e-5); }},
      {"rms_norm", nn, [&] { return ops::rms_norm(x, w, 1e-6); }},
      {"sum(dim=0)", nn, [&] { return ops::sum(x, 0); }},
      {"matmul", nn + " @ " + nn, [&] { return ops::matmul(x, y.transpose(0, 1)); }},
      {"matmul bf16 weight", nn + " @ bf16", [&] { return ops::matmul(x, ops::cast(y, DType::bf16).transpose(0, 1)); }},
      {"cross_entropy", nn, [&] { return ops::cross_entropy(x.narrow(0, 0, 64), ids); }},
      {"attention (GQA, causal)", "2x4x64x32", [&] {
         ops::AttentionOptions o;
         o.causal = true;
         return ops::attention(q, k, v, o);
       }},
  };
  std::printf("rscapret selftest: %zu ops registered, %d threads, seed %llu\n", ops::op_registry().size(),
              kernels::num_threads(), static_cast<unsigned long long>(seed));
  std::printf("%-26s %-22s %12s %12s %14s  %s\n", "op", "shape", "fast ms", "ref ms", "max |fast-ref|", "sample");
  int failures = 0;
  for (const Case& c : cases) {
    c.run();  // warm-up: thread pool start, first-touch of buffers
    auto t0 = std::chrono::steady_clock::now();
    const Tensor fast = c.run();
    auto t1 = std::chrono::steady_clock::now();
    Tensor ref;
    {
      ops::ReferenceKernelsGuard guard;
      ref = c.run();
    }
    auto t2 = std::chrono::steady_clock::now();
    const double diff = max_abs_diff(fast, ref);
    const double scale = std::max(1.0, std::sqrt(double(n)));
    const bool ok = std::isfinite(diff) && diff < 1e-3 * scale;  // f32 sums of n terms
    failures += !ok;
    const double sample = fast.reshape({-1}).at({0});
    std::printf("%-26s %-22s %12.3f %12.3f %14.3g  %.6f%s\n", c.name.c_str(), c.shape.c_str(),
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(t2 - t1).count(), diff, sample, ok ? "" : "  MISMATCH");
  }
  std::printf(failures ? "selftest: %d mismatches\n" : "selftest: all fast kernels agree with their references\n",
              failures);
  return failures ? 1 : 0;
}

}  // namespace

void add_selftest_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("selftest", "run a few ops on random data; print results and timings");
  static int64_t n = 512;
  static uint64_t seed = 1;
  cmd->add_option("--size", n, "matrix side")->check(CLI::Range(1, 8192));
  cmd->add_option("--seed", seed, "random seed");
  cmd->callback([] {
    if (run_selftest(n, seed) != 0) throw Error("[selftest] fast kernels disagree with references");
  });
}

}  // namespace rscapret::app
