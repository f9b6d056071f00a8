// Cross-entropy fused with softmax (kernels/cuda/cross_entropy.cu), its own source on the host
// emulator (simt.h), against the CPU reference kernels (kernels/cpu/ref: cross_entropy_rows for the
// loss, reduce_rows' logsumexp for lse, softmax minus the one-hot in double for the gradient):
// both kernels of each direction (float4 rows when V % 4 == 0 and the rows are 16-byte aligned,
// scalar otherwise, an unaligned base included), the three block sizes (64, 256 and 512 threads
// by vocabulary size) with rows shorter than the block and rows that wrap around it, ignored rows
// and all-ignored batches, targets at both ends of the row, logits far from 0 (where the loss must
// not be lse - x[t]), masked (-inf) logits, NaN, and an out-of-range target. Outputs are followed
// by sentinels (a write past the end changes their bits).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cuda/cross_entropy.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::normal;
using emu_test::Registered;
using emu_test::expect_like;
using emu_test::kSentinel;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::kernels::ReduceOp;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int64_t kIgnore = -100;
constexpr size_t kPad = 6;

// A float buffer whose data starts `shift` floats past a 16-byte boundary (std::vector's storage
// is 16-byte aligned here; checked), followed by kPad sentinels.
struct Buf {
  std::vector<float> storage;
  size_t shift, n;
  Buf(const std::vector<float>& v, size_t shift_) : storage(shift_, 0.f), shift(shift_), n(v.size()) {
    storage.insert(storage.end(), v.begin(), v.end());
    storage.insert(storage.end(), kPad, kSentinel);
  }
  float* data() { return storage.data() + shift; }
  float operator[](size_t i) const { return storage[shift + i]; }
  void expect_untouched_tail() const {
    for (size_t i = shift + n; i < storage.size(); ++i)
      EXPECT_EQ(bits(storage[i]), bits(kSentinel)) << "written past the end at " << i - shift;
  }
};

struct Forward {
  Buf loss, lse;
};
// The forward on logits [rows, V] placed `shift` floats off a 16-byte boundary; lse not asked for
// when with_lse is false (its buffer then stays all sentinels).
Forward forward(const std::vector<float>& logits, const std::vector<int64_t>& targets, int64_t V, size_t shift,
                bool with_lse, int64_t ignore_index = kIgnore) {
  const int64_t rows = int64_t(targets.size());
  Buf x(logits, shift);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data()) % 16, shift * 4 % 16);  // the path the case means to take
  Forward f{Buf(std::vector<float>(size_t(rows), kSentinel), 0), Buf(std::vector<float>(size_t(rows), kSentinel), 0)};
  const Registered reg{{x.data(), logits.size() * 4},
                       {targets.data(), targets.size() * 8},
                       {f.loss.data(), size_t(rows) * 4},
                       {f.lse.data(), size_t(rows) * 4}};
  kc::cross_entropy_forward(x.data(), targets.data(), f.loss.data(), with_lse ? f.lse.data() : nullptr, rows, V,
                            ignore_index, 0);
  x.expect_untouched_tail();
  return f;
}

// loss and lse against the reference; 0 (bits) on ignored rows. The kernel's sum of exp runs in
// f32 in another order and merges partial sums with rescaling (each step a few roundings; at most
// V / threads + 5 + 8 steps to a row's result, 2^-24 each), so log(s) is off by up to ~4e-6; the
// loss adds m - x[t] (one rounding) and the final addition: 1e-5 + 2e-7 |loss|. lse = m + log(s)
// has the same bound.
void check_forward(const std::vector<float>& logits, const std::vector<int64_t>& targets, int64_t V, const Forward& f,
                   bool with_lse, int64_t ignore_index = kIgnore) {
  const int64_t rows = int64_t(targets.size());
  std::vector<float> want_loss(static_cast<size_t>(rows)), want_lse(static_cast<size_t>(rows));
  ref::cross_entropy_rows(logits.data(), targets.data(), want_loss.data(), rows, V, ignore_index);
  ref::reduce_rows(ReduceOp::logsumexp, logits.data(), want_lse.data(), rows, V);
  for (int64_t r = 0; r < rows; ++r) {
    const size_t i = size_t(r);
    if (targets[i] == ignore_index) {
      EXPECT_EQ(bits(f.loss[i]), 0u) << "ignored row " << r;
      if (with_lse) {
        EXPECT_EQ(bits(f.lse[i]), 0u) << "ignored row " << r;
      }
      continue;
    }
    expect_like(f.loss[i], want_loss[i], 1e-5 + 2e-7 * std::fabs(want_loss[i]), "loss of row", i);
    if (with_lse) expect_like(f.lse[i], want_lse[i], 1e-5 + 2e-7 * std::fabs(want_lse[i]), "lse of row", i);
  }
  f.loss.expect_untouched_tail();
  if (with_lse) {
    f.lse.expect_untouched_tail();
  } else {
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(bits(f.lse[size_t(r)]), bits(kSentinel)) << "lse written: " << r;
  }
}

// Targets at the row's first and last element and in the middle, and an ignored row.
std::vector<int64_t> targets_for(int64_t rows, int64_t V) {
  std::vector<int64_t> t(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) t[size_t(r)] = r % 4 == 0 ? 0 : r % 4 == 1 ? V - 1 : r % 4 == 2 ? kIgnore : V / 3;
  return t;
}

struct Shape {
  int64_t rows, V;
  size_t shift;  // floats off a 16-byte boundary
};
// 64 threads: V = 7 (scalar, most threads without an element), V = 300 (75 float4 over 64
// threads: some take two) aligned and not; 256 threads: V = 1030 (scalar), 2048 (float4);
// 512 threads: V = 32772 (float4, 8193 of them: thread 0 takes 17) and 32771 (scalar).
constexpr Shape kShapes[] = {{5, 7, 0},    {4, 300, 0},   {4, 300, 1},  {3, 1030, 0},
                             {3, 2048, 0}, {2, 32772, 0}, {1, 32771, 0}};

TEST(EmulatedCrossEntropy, ForwardMatchesTheCpuReference) {
  for (const Shape& s : kShapes) {
    for (const bool with_lse : {true, false}) {
      if (!with_lse && s.V > 2048) continue;  // the null lse is one branch in thread 0: the small rows suffice
      SCOPED_TRACE(::testing::Message() << s.rows << " x " << s.V << " shift " << s.shift
                                        << (with_lse ? "" : " no lse"));
      const std::vector<float> logits = normal(size_t(s.rows * s.V), unsigned(s.V + s.rows), 0.5f);
      const std::vector<int64_t> t = targets_for(s.rows, s.V);
      check_forward(logits, t, s.V, forward(logits, t, s.V, s.shift, with_lse), with_lse);
    }
  }
}

// Rows that stress the numerics, in blocks of 64 and 256 threads, through both kernels:
// logits ~1e4 (the f32 lse there is only good to ~1e-3, so a loss taken as lse - x[t] fails the
// 1e-5 bound; (m - x[t]) + log(s) meets it), -inf logits (masked classes, at index 0, at the end,
// and at the target: loss +inf), a NaN (loss NaN), three +inf away from the target (lse and loss +inf;
// two in one thread's float4, so a thread and a merge each meet an equal infinite maximum), and a target past the end
// (documented: loss NaN, lse still the row's).
TEST(EmulatedCrossEntropy, ForwardSpecialLogits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const int64_t V : {64, 1028}) {
    for (const size_t shift : {size_t(0), size_t(1)}) {
      SCOPED_TRACE(::testing::Message() << "V " << V << " shift " << shift);
      const std::vector<float> base = normal(size_t(V), 31);
      std::vector<float> logits;
      std::vector<int64_t> t;
      auto row = [&](float offset, float scale, int64_t target, std::initializer_list<std::pair<int64_t, float>> set) {
        for (int64_t i = 0; i < V; ++i) logits.push_back(offset + scale * base[size_t(i)]);
        for (const auto& [i, v] : set) logits[logits.size() - size_t(V) + size_t(i)] = v;
        t.push_back(target);
      };
      row(1e4f, 3.f, 5, {});
      row(-3e4f, 3.f, V - 2, {});
      row(0.f, 1.f, 3, {{0, -kInf}, {V - 1, -kInf}, {V / 2, -kInf}});
      row(0.f, 1.f, V / 2, {{V / 2, -kInf}});
      row(0.f, 1.f, 1, {{V - 5, nan}});
      row(0.f, 1.f, 4, {{V / 3, kInf}, {V / 3 + 1, kInf}, {V / 2 + 1, kInf}});  // +inf twice in a float4
      const size_t plus_inf = t.size() - 1;
      row(0.f, 1.f, 2, {});
      // The last row's target is past its end, which the reference would read: its loss is checked
      // alone, against the kernel's promise.
      const size_t past_end = t.size() - 1;
      t[past_end] = V;
      std::vector<float> want_loss(t.size()), want_lse(t.size());
      ref::cross_entropy_rows(logits.data(), t.data(), want_loss.data(), int64_t(past_end), V, kIgnore);
      ref::reduce_rows(ReduceOp::logsumexp, logits.data(), want_lse.data(), int64_t(t.size()), V);
      const Forward f = forward(logits, t, V, shift, true);
      for (size_t r = 0; r < t.size(); ++r) {  // the bounds of check_forward
        // A +inf logit away from the target: lse = +inf (as the reference's logsumexp) and the loss
        // lse - x[t] = +inf (as PyTorch's); the double reference's loss sums exp(inf - inf) = NaN.
        if (r != past_end && r != plus_inf)
          expect_like(f.loss[r], want_loss[r], 1e-5 + 2e-7 * std::fabs(want_loss[r]), "loss", r);
        expect_like(f.lse[r], want_lse[r], 1e-5 + 2e-7 * std::fabs(want_lse[r]), "lse of row", r);
      }
      EXPECT_EQ(want_lse[plus_inf], kInf);
      EXPECT_EQ(f.loss[plus_inf], kInf);
      EXPECT_TRUE(std::isnan(f.loss[past_end])) << f.loss[past_end];
      f.loss.expect_untouched_tail();
      f.lse.expect_untouched_tail();
    }
  }
}

// dlogits = (exp(x - lse) - onehot) * grad_scale against the same in double from the reference's
// lse (rounded to f32, as the kernel receives it). The kernel rounds x - lse (|x - lse| < 16 here:
// 1e-6 relative on exp), expf's own error, the subtraction of the one-hot and the product with the
// scale: (4e-6 p + 2e-7) |scale| with p the probability. Ignored rows are zeros, bit for bit.
TEST(EmulatedCrossEntropy, BackwardIsSoftmaxMinusOneHot) {
  struct Layout {
    size_t logits_shift, dlogits_shift;
  };
  for (const Shape& s : kShapes) {
    for (const Layout L : {Layout{s.shift, 0}, Layout{0, 3}}) {
      // dlogits unaligned alone: on the aligned float4 shapes that run fast
      if (L.dlogits_shift && (s.V % 4 || s.V > 2048 || s.shift)) continue;
      SCOPED_TRACE(::testing::Message() << s.rows << " x " << s.V << " shifts " << L.logits_shift << ", "
                                        << L.dlogits_shift);
      const std::vector<float> logits = normal(size_t(s.rows * s.V), unsigned(s.V + 7 * s.rows), -0.5f);
      const std::vector<int64_t> t = targets_for(s.rows, s.V);
      std::vector<float> lse(static_cast<size_t>(s.rows));
      ref::reduce_rows(ReduceOp::logsumexp, logits.data(), lse.data(), s.rows, s.V);
      const std::vector<float> scale{0.37f};
      Buf x(logits, L.logits_shift), d(std::vector<float>(logits.size(), kSentinel), L.dlogits_shift);
      {
        const Registered reg{{x.data(), logits.size() * 4},
                             {t.data(), t.size() * 8},
                             {lse.data(), lse.size() * 4},
                             {scale.data(), 4},
                             {d.data(), logits.size() * 4}};
        kc::cross_entropy_backward(x.data(), t.data(), lse.data(), scale.data(), d.data(), s.rows, s.V, kIgnore, 0);
      }
      for (int64_t r = 0; r < s.rows; ++r) {
        for (int64_t j = 0; j < s.V; ++j) {
          const size_t i = size_t(r * s.V + j);
          if (t[size_t(r)] == kIgnore) {
            ASSERT_EQ(bits(d[i]), 0u) << "ignored row " << r << " at " << j;
            continue;
          }
          const double p = std::exp(double(logits[i]) - double(lse[size_t(r)]));
          const double want = (p - (j == t[size_t(r)] ? 1.0 : 0.0)) * scale[0];
          ASSERT_NEAR(d[i], want, (4e-6 * p + 2e-7) * scale[0]) << "row " << r << " at " << j;
        }
      }
      d.expect_untouched_tail();
      x.expect_untouched_tail();
    }
  }
}

// A batch where every row is ignored (padding only): the forward writes zeros (loss and lse), the
// backward zeros everywhere, through both kernels of each; rows == 0 (and V == 0 backward) launch
// nothing. Also an ignore_index that is a valid class: its rows are ignored, the others not.
TEST(EmulatedCrossEntropy, IgnoredRowsGiveZeros) {
  for (const int64_t V : {300, 301}) {
    SCOPED_TRACE(::testing::Message() << "V " << V);
    const int64_t rows = 3;
    const std::vector<float> logits = normal(size_t(rows * V), 41);
    const std::vector<int64_t> t(size_t(rows), kIgnore);
    const Forward f = forward(logits, t, V, 0, true);
    check_forward(logits, t, V, f, true);
    const std::vector<float> lse(size_t(rows), 0.f), scale{1.f};
    Buf d(std::vector<float>(logits.size(), kSentinel), 0);
    {
      const Registered reg{{logits.data(), logits.size() * 4},
                           {t.data(), t.size() * 8},
                           {lse.data(), lse.size() * 4},
                           {scale.data(), 4},
                           {d.data(), logits.size() * 4}};
      kc::cross_entropy_backward(logits.data(), t.data(), lse.data(), scale.data(), d.data(), rows, V, kIgnore, 0);
    }
    for (size_t i = 0; i < logits.size(); ++i) ASSERT_EQ(bits(d[i]), 0u) << i;
    d.expect_untouched_tail();

    const std::vector<int64_t> t2{7, 0, 7};  // ignore_index 7: rows 0 and 2 ignored, row 1 not
    check_forward(logits, t2, V, forward(logits, t2, V, 0, true, 7), true, 7);
  }
  const long long launches = simt::state().launches;
  kc::cross_entropy_forward(nullptr, nullptr, nullptr, nullptr, 0, 10, kIgnore, 0);
  kc::cross_entropy_backward(nullptr, nullptr, nullptr, nullptr, nullptr, 0, 10, kIgnore, 0);
  kc::cross_entropy_backward(nullptr, nullptr, nullptr, nullptr, nullptr, 4, 0, kIgnore, 0);
  EXPECT_EQ(simt::state().launches, launches);
}

}  // namespace
