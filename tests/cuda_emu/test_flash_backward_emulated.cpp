// The bf16 flash-attention backward (kernels/cuda/flash_attention_bf16.cu: the delta, dq and dk/dv
// kernels of training), its own source on the host emulator (simt.h), against the double
// reference and tolerances of the GPU tests (tests/cuda/attention_reference.h): production tiles
// at D = 64 and 128, GQA, causal with Tq < Tk, partial tiles, decode-sized Tq = 1, and Tq = 0. The
// gradients must not depend on when copies land or on how warps interleave (no missing wait or
// barrier; no atomics, so the same bits), and nothing is written outside dq, dk, dv. Also the
// kernel lab's tile configurations that wait for a GPU run to become production (the forward
// with 32-key tiles, its 3-stage pipeline, the dq kernel with two m16 tiles per warp): their logic
// is checked here first.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/flash_attention_bf16_launch.cuh"
#include "kernels/cuda/flash_attention_bf16_tiles.cuh"
#include "tests/cuda/attention_reference.h"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace kc = rscapret::kernels::cuda;
namespace fl = rscapret::kernels::cuda::flash;
using namespace rscapret::testing::attention;
using emu_test::Guarded;
using emu_test::Registered;
using rscapret::testing::close_norm_and_max;
using rscapret::testing::from_bf16;
using rscapret::testing::random_normal;
using rscapret::testing::to_bf16;

constexpr uint16_t kUnwritten = 0x7fc1;  // a NaN the kernels never produce
struct Inputs {
  std::vector<uint16_t> q, k, v, dout;
};
Inputs inputs(const Case& c, uint64_t seed) {
  return {to_bf16(random_normal(c.B * c.H * c.Tq * c.D, seed)),
          to_bf16(random_normal(c.B * c.Hkv * c.Tk * c.D, seed + 1)),
          to_bf16(random_normal(c.B * c.Hkv * c.Tk * c.D, seed + 2)),
          to_bf16(random_normal(c.B * c.H * c.Tq * c.D, seed + 3))};
}
fl::Shape shape(const Case& c) {
  return {int(c.B), int(c.H), int(c.Hkv), int(c.Tq), int(c.Tk), float(default_scale(c)), c.causal};
}

struct Forward {
  std::vector<uint16_t> out;
  std::vector<float> lse;
  bool guards_intact;
};
// The forward of tile configuration Fwd, dense layouts.
template <class Fwd>
Forward forward(const Case& c, const Inputs& in) {
  Guarded<uint16_t> q(in.q), k(in.k), v(in.v), out(size_t(c.B * c.H * c.Tq * c.D), kUnwritten);
  Guarded<float> lse(size_t(c.B * c.H * c.Tq), NAN);
  const Registered reg{q.whole(), k.whole(), v.whole(), out.whole(), lse.whole()};
  const fl::FwdParams p{q.data(),
                        k.data(),
                        v.data(),
                        out.data(),
                        lse.data(),
                        shape(c),
                        fl::contiguous_rows(c.H, c.Tq, c.D),
                        fl::contiguous_rows(c.Hkv, c.Tk, c.D),
                        fl::contiguous_rows(c.Hkv, c.Tk, c.D),
                        fl::contiguous_rows(c.H, c.Tq, c.D)};
  fl::forward_with<Fwd>(p, nullptr);
  return {out.payload(), lse.payload(), out.guards_intact() && lse.guards_intact()};
}

struct Grads {
  std::vector<uint16_t> dq, dk, dv;
  bool guards_intact;
};
// The backward of tile configurations Dq, Dkdv (the delta kernel, then dq, then dk/dv), from the
// forward's out and lse; outputs start as kUnwritten, so an element never written shows.
template <class Dq, class Dkdv>
Grads backward(const Case& c, const Inputs& in, const Forward& f) {
  Guarded<uint16_t> q(in.q), k(in.k), v(in.v), out(f.out), dout(in.dout);
  Guarded<float> lse(f.lse), delta(size_t(std::max<int64_t>(c.B * c.H * c.Tq, 1)), NAN);
  Guarded<uint16_t> dq(in.q.size(), kUnwritten), dk(in.k.size(), kUnwritten), dv(in.v.size(), kUnwritten);
  const Registered reg{q.whole(),   k.whole(),     v.whole(),  out.whole(), dout.whole(),
                       lse.whole(), delta.whole(), dq.whole(), dk.whole(),  dv.whole()};
  const fl::BwdParams p{q.data(),     k.data(),  v.data(),  out.data(), dout.data(), lse.data(),
                        delta.data(), dq.data(), dk.data(), dv.data(),  shape(c)};
  fl::backward_with<Dq, Dkdv>(p, nullptr);
  return {dq.payload(), dk.payload(), dv.payload(),
          dq.guards_intact() && dk.guards_intact() && dv.guards_intact() && delta.guards_intact()};
}

template <int D>
using Production = fl::ProductionTiles<D>;

// Partial query and key tiles of every configuration (37 rows, 100 keys), GQA, causal with
// Tq < Tk (queries at the end of the keys), several query and key blocks (70 > 64), D = 128 with
// its 32-row dk/dv query tiles, decode-sized Tq = 1.
const Case kCases[] = {
    {1, 4, 2, 37, 100, 64, 64, true, Mask::none},
    {2, 2, 2, 70, 70, 64, 64, false, Mask::none},
    {1, 2, 1, 33, 80, 128, 128, true, Mask::none},
    {1, 2, 2, 1, 40, 128, 128, true, Mask::none},
};

// The forward of configuration Fwd against the reference; with copies landing at issue and each
// warp running alone to its barrier, the same bits.
template <class Fwd>
void check_forward(const Case& c, const Inputs& in, const Reference& ref) {
  const Forward f = forward<Fwd>(c, in);
  EXPECT_TRUE(close_norm_and_max(from_bf16(f.out), ref.out, kBf16OutTol)) << "out";
  EXPECT_LT(lse_err(f.lse, ref.lse), kBf16OutTol) << "lse";
  EXPECT_TRUE(f.guards_intact) << "written outside out or lse";
  const simt::Timing eager(/*lazy_copies=*/false, /*warp_serial=*/true);
  const Forward again = forward<Fwd>(c, in);
  EXPECT_EQ(again.out, f.out) << "out depends on the timing";
  EXPECT_EQ(std::memcmp(again.lse.data(), f.lse.data(), f.lse.size() * 4), 0) << "lse depends on the timing";
}

template <int D>
void check_production(const Case& c) {
  const Inputs in = inputs(c, uint64_t(c.Tq * 131 + c.Tk + c.D));
  const std::vector<float> qf = from_bf16(in.q), kf = from_bf16(in.k), vf = from_bf16(in.v), dof = from_bf16(in.dout);
  const Reference ref = reference(c, default_scale(c), qf, kf, vf, nullptr, &dof);
  const Forward f = forward<typename Production<D>::Fwd>(c, in);
  EXPECT_TRUE(close_norm_and_max(from_bf16(f.out), ref.out, kBf16OutTol)) << "out";
  EXPECT_LT(lse_err(f.lse, ref.lse), kBf16OutTol) << "lse";
  const Grads g = backward<typename Production<D>::Dq, typename Production<D>::Dkdv>(c, in, f);
  EXPECT_TRUE(close_norm_and_max(from_bf16(g.dq), ref.dq, kBf16GradTol)) << "dq";
  EXPECT_TRUE(close_norm_and_max(from_bf16(g.dk), ref.dk, kBf16GradTol)) << "dk";
  EXPECT_TRUE(close_norm_and_max(from_bf16(g.dv), ref.dv, kBf16GradTol)) << "dv";
  EXPECT_TRUE(f.guards_intact && g.guards_intact) << "written outside an output";
  // Copies landing at issue with each warp running alone to its barrier: the same bits.
  const simt::Timing eager(/*lazy_copies=*/false, /*warp_serial=*/true);
  const Grads again = backward<typename Production<D>::Dq, typename Production<D>::Dkdv>(c, in, f);
  EXPECT_EQ(again.dq, g.dq) << "dq depends on the timing";
  EXPECT_EQ(again.dk, g.dk) << "dk depends on the timing";
  EXPECT_EQ(again.dv, g.dv) << "dv depends on the timing";
}

TEST(EmulatedFlashBackward, ProductionTilesMatchTheDoubleReference) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << c);
    if (c.D == 64)
      check_production<64>(c);
    else
      check_production<128>(c);
  }
}

// The public entry point: its checks, its delta scratch from the allocator, and with no query
// (Tq = 0) every key's dk and dv exactly zero.
TEST(EmulatedFlashBackward, EntryPointWithNoQueryGivesZeroKeyGradients) {
  const Case c{2, 2, 1, 0, 40, 64, 64, false, Mask::none};
  const Inputs in = inputs(c, 5);
  Guarded<uint16_t> q(size_t(8), 0), k(in.k), v(in.v), out(size_t(8), 0), dout(size_t(8), 0);
  Guarded<uint16_t> dq(size_t(8), kUnwritten), dk(in.k.size(), kUnwritten), dv(in.v.size(), kUnwritten);
  Guarded<float> lse(size_t(8), NAN);
  const Registered reg{q.whole(),  k.whole(),  v.whole(),  out.whole(), dout.whole(),
                       dq.whole(), dk.whole(), dv.whole(), lse.whole()};
  kc::flash_attention_bf16_backward(q.data(), k.data(), v.data(), out.data(), dout.data(), lse.data(), dq.data(),
                                    dk.data(), dv.data(), c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, float(default_scale(c)),
                                    c.causal, 0);
  for (uint16_t x : dk.payload()) ASSERT_EQ(x, 0);
  for (uint16_t x : dv.payload()) ASSERT_EQ(x, 0);
  for (uint16_t x : dq.payload()) ASSERT_EQ(x, kUnwritten) << "dq has no element to write";
  EXPECT_TRUE(dk.guards_intact() && dv.guards_intact());
}

// The lab's candidates (bench/cuda/attention_lab.cu variants 7, 11 and 9) at partial tiles: the
// 2-m-tile forward with 32-key tiles, with 3 stages, and the 2-m-tile dq kernel, against the same
// reference and under both timings; dk and dv, from the same dk/dv kernel, must keep their bits
// (the dq kernel must leave delta and the inputs as it found them).
template <int D>
void check_lab_candidates(const Case& c) {
  const Inputs in = inputs(c, 17);
  const std::vector<float> qf = from_bf16(in.q), kf = from_bf16(in.k), vf = from_bf16(in.v), dof = from_bf16(in.dout);
  const Reference ref = reference(c, default_scale(c), qf, kf, vf, nullptr, &dof);
  check_forward<fl::FwdMtConfig<D, 4, 2, 32, 2>>(c, in, ref);
  check_forward<fl::FwdMtConfig<D, 4, 2, 32, 2, 3>>(c, in, ref);
  using P = Production<D>;
  using DqMt = fl::DqMtConfig<D, 4, 2, 32, 2>;
  const Forward f = forward<typename P::Fwd>(c, in);
  const Grads mt = backward<DqMt, typename P::Dkdv>(c, in, f),
              prod = backward<typename P::Dq, typename P::Dkdv>(c, in, f);
  EXPECT_TRUE(close_norm_and_max(from_bf16(mt.dq), ref.dq, kBf16GradTol)) << "dq";
  EXPECT_EQ(mt.dk, prod.dk);
  EXPECT_EQ(mt.dv, prod.dv);
  EXPECT_TRUE(mt.guards_intact);
  const simt::Timing eager(/*lazy_copies=*/false, /*warp_serial=*/true);
  EXPECT_EQ((backward<DqMt, typename P::Dkdv>(c, in, f).dq), mt.dq) << "dq depends on the timing";
}

TEST(EmulatedFlashBackward, LabCandidatesMatchTheDoubleReference) {
  for (const Case& c : {kCases[0], kCases[2]}) {
    SCOPED_TRACE(::testing::Message() << c);
    if (c.D == 64)
      check_lab_candidates<64>(c);
    else
      check_lab_candidates<128>(c);
  }
}

}  // namespace
