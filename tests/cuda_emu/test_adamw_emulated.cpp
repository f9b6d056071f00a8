// The fused multi-tensor AdamW (kernels/cuda/adamw.cu), its own source on the host emulator
// (simt.h), against the CPU reference kernel (kernels/cpu/ref/adamw_ref.cpp) tensor by tensor, bit
// for bit (the kernel promises the reference's operation order with every operation rounded
// once): tensors of different sizes in one descriptor table (a block's tensor found by binary
// search; partial, exact and several blocks of 4096 elements; empty tensors left out), several
// steps with weight decay and the bias corrections of steps 1 to 3, both forms of the lerp, more
// tensors than one table holds (several launches; none for a batch of empty tensors only). Every
// buffer is followed by sentinels: a write past a tensor's end changes their bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::kSentinel;
using emu_test::normal;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::kernels::AdamWStep;

constexpr size_t kPad = 4;

std::vector<float> padded(std::vector<float> v) {
  v.insert(v.end(), kPad, kSentinel);
  return v;
}

// One parameter tensor and its optimizer state, each buffer followed by kPad sentinels.
struct Tensor {
  int64_t n;
  std::vector<float> p, g, m, v;
  Tensor(int64_t n_, unsigned seed) : n(n_) {
    p = padded(normal(size_t(n), seed));
    g = padded(normal(size_t(n), seed + 1));
    std::vector<float> m0 = normal(size_t(n), seed + 2), v0 = normal(size_t(n), seed + 3);
    for (float& e : m0) e *= 0.1f;
    for (float& e : v0) e = 0.1f * e * e;  // a second moment: >= 0
    m = padded(m0);
    v = padded(v0);
  }
  kc::AdamWTensor desc() { return {p.data(), g.data(), m.data(), v.data(), n}; }
};

// Registers every tensor's four buffers (their n elements) for the scope.
struct RegisteredTensors {
  explicit RegisteredTensors(const std::vector<Tensor>& ts) {
    for (const Tensor& t : ts)
      for (const std::vector<float>* b : {&t.p, &t.g, &t.m, &t.v}) simt::register_buffer(b->data(), size_t(t.n) * 4);
  }
  ~RegisteredTensors() { simt::clear_buffers(); }
  RegisteredTensors(const RegisteredTensors&) = delete;
  RegisteredTensors& operator=(const RegisteredTensors&) = delete;
};

AdamWStep step_at(int t, double lr, double beta1, double beta2, double eps, double wd) {
  return AdamWStep{lr, beta1, beta2, eps, wd, 1.0 - std::pow(beta1, t), 1.0 - std::pow(beta2, t)};
}

// Bits, sentinels included: equal past the end means untouched (the reference's tails are sentinels).
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(bits(got[i]), bits(want[i])) << what << " " << i;
}

// One fused update of all of `ts` against the reference run on copies; the launches it took.
long long update_and_check(std::vector<Tensor>& ts, const AdamWStep& s) {
  std::vector<Tensor> want = ts;
  for (Tensor& t : want) ref::adamw_update<float>(t.p.data(), t.g.data(), t.m.data(), t.v.data(), t.n, s);
  std::vector<kc::AdamWTensor> descs;
  for (Tensor& t : ts) descs.push_back(t.desc());
  const long long launches = simt::state().launches;
  {
    const RegisteredTensors reg(ts);
    kc::adamw_update(descs.data(), int(descs.size()), s, 0);
  }
  for (size_t k = 0; k < ts.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "tensor " << k << " of " << ts[k].n);
    expect_same_bits(ts[k].p, want[k].p, "p");
    expect_same_bits(ts[k].m, want[k].m, "m");
    expect_same_bits(ts[k].v, want[k].v, "v");
  }
  return simt::state().launches - launches;
}

// Sizes around the 4096-element block (one element, a partial block, exactly one, one more, more
// than two) and around the 256-thread stride, with empty tensors at the start, between and at the
// end (left out of the table, so the binary search sees only the others). Three steps of new
// gradients with bias corrections 1 - b^t; then the other lerp form (1 - beta1 >= 0.5) with other
// constants, and no weight decay.
TEST(EmulatedAdamW, FusedTableMatchesTheReferenceBitForBit) {
  struct Hyper {
    double lr, beta1, beta2, eps, wd;
    int steps;
  };
  for (const Hyper h : {Hyper{1e-3, 0.9, 0.999, 1e-8, 0.1, 3}, Hyper{3e-2, 0.3, 0.95, 1e-6, 0.0, 2}}) {
    SCOPED_TRACE(::testing::Message() << "beta1 " << h.beta1);
    std::vector<Tensor> ts;
    unsigned seed = 1;
    for (const int64_t n : {0, 1, 3, 255, 256, 0, 257, 4096, 4097, 9000, 0}) ts.emplace_back(n, seed += 10);
    for (int t = 1; t <= h.steps; ++t) {
      SCOPED_TRACE(::testing::Message() << "step " << t);
      for (Tensor& x : ts) {  // a new gradient each step
        const std::vector<float> g = normal(size_t(x.n), seed += 10);
        std::copy(g.begin(), g.end(), x.g.begin());
      }
      EXPECT_EQ(update_and_check(ts, step_at(t, h.lr, h.beta1, h.beta2, h.eps, h.wd)), 1);
    }
  }
}

// The table holds 64 tensors: 64 non-empty ones and empty ones after them take one launch (the
// batch of empty tensors launches nothing, as a grid of 0 blocks would be an error); 67 non-empty
// ones, empty ones among them, take two. A negative size is refused before anything launches.
TEST(EmulatedAdamW, MoreTensorsThanOneTableTakeSeveralLaunches) {
  const AdamWStep s = step_at(5, 2e-3, 0.9, 0.999, 1e-8, 0.05);
  {
    std::vector<Tensor> ts;
    for (int k = 0; k < 64; ++k) ts.emplace_back(1 + k % 7, unsigned(10 * k + 1));
    for (int k = 0; k < 3; ++k) ts.emplace_back(0, 0);
    EXPECT_EQ(update_and_check(ts, s), 1);
  }
  {
    std::vector<Tensor> ts;
    for (int k = 0; k < 66; ++k) ts.emplace_back(k % 9 == 4 ? 0 : 1 + k % 5, unsigned(10 * k + 3));
    for (int k = 0; k < 8; ++k) ts.emplace_back(40 + 5 * k, unsigned(10 * k + 7));  // past the first table
    EXPECT_EQ(update_and_check(ts, s), 2);
  }
  std::vector<float> p(4), g(4), m(4), v(4);
  const kc::AdamWTensor bad[] = {{p.data(), g.data(), m.data(), v.data(), 4},
                                 {p.data(), g.data(), m.data(), v.data(), -1}};
  const long long launches = simt::state().launches;
  EXPECT_THROW(kc::adamw_update(bad, 2, s, 0), rscapret::ValueError);
  EXPECT_EQ(simt::state().launches, launches);
}

}  // namespace
