// The bf16 flash-attention forward (kernels/cuda/flash_attention_bf16.cu, its own source) run on
// the host emulator (simt.h): on a machine without a GPU, every CI run checks that the production
// tile configurations compute attention (against a double-precision reference), that the strided
// entry point reads and writes exactly the elements its strides name (the bits of the dense
// layout, nothing written outside the logical tensor), and that copies landing early or late give
// the same result (no missing wait or barrier). The GPU tests (tests/cuda) remain the judges of
// the hardware's behaviour; this tier catches logic errors before a GPU is at hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/flash_attention_bf16.cu"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
namespace kc = rscapret::kernels::cuda;

using emu_test::from_bf16;
using emu_test::to_bf16;
constexpr uint16_t kUnwritten = 0x7fc1;  // a NaN the kernels never produce

struct Case {
  int B, H, Hkv, Tq, Tk, D;
  bool causal;
};
// Where operand elements (b, h, t, d) live: off + b * sb + h * sh + t * st + d, in a buffer of `size`.
struct Layout {
  int64_t off, sb, sh, st, size;
};
Layout dense(const Case& c, int heads, int T) {
  return {0, int64_t(heads) * T * c.D, int64_t(T) * c.D, c.D, int64_t(c.B) * heads * T * c.D};
}
// [B, T, heads, D] rows of `row` elements (the projections' own layout), viewed as [B, heads, T, D].
Layout rows_of(const Case& c, int T, int64_t row, int64_t off) { return {off, T * row, c.D, row, c.B * T * row}; }

struct Result {
  std::vector<uint16_t> out;  // logical [B, H, Tq, D]
  std::vector<float> lse;     // [B, H, Tq]
  size_t stray = 0;           // elements written outside the logical output
};

// A bf16 buffer registered with the emulator, every element kUnwritten at first.
struct Buffer {
  explicit Buffer(int64_t n) : data(size_t(n) + 8, kUnwritten) {}
  uint16_t* at(int64_t off) { return data.data() + off; }
  std::vector<uint16_t> data;
};

Result run(const Case& c, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
           Layout ql, Layout kl, Layout vl, Layout ol, bool one_qkv_buffer = false) {
  simt::clear_buffers();
  Buffer qb(ql.size), kb(kl.size), vb(vl.size), ob(ol.size);
  Buffer& kbuf = one_qkv_buffer ? qb : kb;
  Buffer& vbuf = one_qkv_buffer ? qb : vb;
  auto put = [&](Buffer& buf, const Layout& L, const std::vector<float>& x, int heads, int T) {
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < heads; ++h)
        for (int t = 0; t < T; ++t)
          for (int d = 0; d < c.D; ++d)
            buf.data[size_t(L.off + b * L.sb + h * L.sh + t * L.st + d)] =
                to_bf16(x[((size_t(b) * heads + h) * T + t) * c.D + d]);
  };
  put(qb, ql, q, c.H, c.Tq);
  put(kbuf, kl, k, c.Hkv, c.Tk);
  put(vbuf, vl, v, c.Hkv, c.Tk);
  for (Buffer* b : {&qb, &kb, &vb, &ob}) simt::register_buffer(b->data.data(), b->data.size() * 2);
  Result r;
  std::vector<float> lse(size_t(c.B) * c.H * c.Tq + 2, NAN);
  kc::flash_attention_bf16_forward_strided(qb.at(ql.off), {ql.sb, ql.sh, ql.st}, kbuf.at(kl.off), {kl.sb, kl.sh, kl.st},
                                           vbuf.at(vl.off), {vl.sb, vl.sh, vl.st}, ob.at(ol.off), {ol.sb, ol.sh, ol.st},
                                           lse.data() + 1, c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D,
                                           1.0f / std::sqrt(float(c.D)), c.causal, 0);
  EXPECT_TRUE(std::isnan(lse.front()) && std::isnan(lse.back())) << "lse written outside [B, H, Tq]";
  r.lse.assign(lse.begin() + 1, lse.end() - 1);
  std::vector<bool> logical(ob.data.size(), false);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.H; ++h)
      for (int t = 0; t < c.Tq; ++t)
        for (int d = 0; d < c.D; ++d) {
          const size_t e = size_t(ol.off + b * ol.sb + h * ol.sh + t * ol.st + d);
          logical[e] = true;
          r.out.push_back(ob.data[e]);
        }
  for (size_t i = 0; i < ob.data.size(); ++i) r.stray += !logical[i] && ob.data[i] != kUnwritten;
  simt::clear_buffers();
  return r;
}

std::vector<float> normal_bf16(size_t n, std::mt19937& g) {
  std::normal_distribution<float> N(0.f, 1.f);
  std::vector<float> x(n);
  for (float& e : x) e = from_bf16(to_bf16(N(g)));
  return x;
}

struct Inputs {
  std::vector<float> q, k, v;
};
Inputs inputs(const Case& c, unsigned seed) {
  std::mt19937 g(seed);
  Inputs in;
  in.q = normal_bf16(size_t(c.B) * c.H * c.Tq * c.D, g);
  in.k = normal_bf16(size_t(c.B) * c.Hkv * c.Tk * c.D, g);
  in.v = normal_bf16(size_t(c.B) * c.Hkv * c.Tk * c.D, g);
  return in;
}

// The largest |out - reference| and |lse - reference| (double precision, the causal rule placing
// query i at Tk - Tq + i, kv head h / (H / Hkv)).
std::pair<double, double> errors(const Case& c, const Inputs& in, const Result& r) {
  double eo = 0, el = 0;
  const int group = c.H / c.Hkv;
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.H; ++h)
      for (int i = 0; i < c.Tq; ++i) {
        const int hk = h / group;
        std::vector<double> s(size_t(c.Tk), -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < c.Tk; ++j) {
          if (c.causal && j > c.Tk - c.Tq + i) continue;
          double acc = 0;
          for (int d = 0; d < c.D; ++d)
            acc += double(in.q[((size_t(b) * c.H + h) * c.Tq + i) * c.D + d]) *
                   in.k[((size_t(b) * c.Hkv + hk) * c.Tk + j) * c.D + d];
          s[size_t(j)] = acc / std::sqrt(double(c.D));
          mx = std::max(mx, s[size_t(j)]);
        }
        double l = 0;
        std::vector<double> o(size_t(c.D), 0.0);
        for (int j = 0; j < c.Tk; ++j) {
          if (s[size_t(j)] == -INFINITY) continue;
          const double p = std::exp(s[size_t(j)] - mx);
          l += p;
          for (int d = 0; d < c.D; ++d) o[size_t(d)] += p * in.v[((size_t(b) * c.Hkv + hk) * c.Tk + j) * c.D + d];
        }
        for (int d = 0; d < c.D; ++d) {
          const double got = from_bf16(r.out[((size_t(b) * c.H + h) * c.Tq + i) * c.D + d]);
          eo = std::max(eo, std::isnan(got) ? INFINITY : std::fabs(got - o[size_t(d)] / l));
        }
        const double lse = r.lse[(size_t(b) * c.H + h) * c.Tq + i];
        el = std::max(el, std::isnan(lse) ? INFINITY : std::fabs(lse - (mx + std::log(l))));
      }
  return {eo, el};
}

// Both production tile configurations (D = 64: 1 m-tile per warp; D = 128: 2), GQA, Tq != Tk
// (decode-like and chunked), causal and not, partial query and key tiles.
const std::vector<Case> kCases = {
    {2, 4, 2, 37, 100, 64, true},
    {1, 2, 1, 1, 70, 64, true},
    {2, 4, 2, 37, 100, 128, true},
    {1, 2, 2, 65, 65, 128, false},
};

TEST(EmulatedFlashForward, ProductionTilesMatchADoubleReference) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << "B" << c.B << " H" << c.H << "/" << c.Hkv << " Tq" << c.Tq << " Tk" << c.Tk
                                      << " D" << c.D << (c.causal ? " causal" : ""));
    const Inputs in = inputs(c, 7);
    const Result r = run(c, in.q, in.k, in.v, dense(c, c.H, c.Tq), dense(c, c.Hkv, c.Tk), dense(c, c.Hkv, c.Tk),
                         dense(c, c.H, c.Tq));
    const auto [eo, el] = errors(c, in, r);
    // Outputs of magnitude <= ~1 rounded to bf16 (2^-8 relative) from P rounded to bf16 before the
    // PV product: ~7e-3 seen; lse is f32 (~1e-6). The GPU test's bounds (tests/cuda) are the same.
    EXPECT_LT(eo, 2e-2);
    EXPECT_LT(el, 1e-3);
    EXPECT_EQ(r.stray, 0u);
  }
}

// The projections' layouts read in place and out written as [B, T, H, D] (how inference calls it),
// q, k and v as views of one fused projection row, a KV cache with spare rows, a padded out: every
// one gives the dense layout's bits and writes nothing outside its logical tensor.
TEST(EmulatedFlashForward, StridedLayoutsGiveTheDenseBits) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << "D" << c.D << " Tq" << c.Tq << " Tk" << c.Tk);
    const Inputs in = inputs(c, 11);
    const Result base = run(c, in.q, in.k, in.v, dense(c, c.H, c.Tq), dense(c, c.Hkv, c.Tk), dense(c, c.Hkv, c.Tk),
                            dense(c, c.H, c.Tq));
    const int64_t HD = int64_t(c.H) * c.D, KD = int64_t(c.Hkv) * c.D;
    const int cap = (c.Tk + 13 + 7) / 8 * 8;
    const Layout cache{0, int64_t(c.Hkv) * cap * c.D, int64_t(cap) * c.D, c.D, int64_t(c.B) * c.Hkv * cap * c.D};
    std::vector<Result> runs;
    runs.push_back(run(c, in.q, in.k, in.v, rows_of(c, c.Tq, HD, 0), rows_of(c, c.Tk, KD, 0), rows_of(c, c.Tk, KD, 0),
                       Layout{0, c.Tq * HD, c.D, HD, c.B * c.Tq * HD}));
    runs.push_back(run(c, in.q, in.k, in.v, rows_of(c, c.Tq, HD, 0), cache, cache,
                       Layout{8, c.Tq * (HD + 16), c.D, HD + 16, c.B * c.Tq * (HD + 16) + 8}));
    if (c.Tq == c.Tk) {
      const int64_t row = HD + 2 * KD;  // one fused q|k|v projection row per token
      runs.push_back(run(c, in.q, in.k, in.v, rows_of(c, c.Tq, row, 0), rows_of(c, c.Tk, row, HD),
                         rows_of(c, c.Tk, row, HD + KD), dense(c, c.H, c.Tq), /*one_qkv_buffer=*/true));
    }
    for (size_t i = 0; i < runs.size(); ++i) {
      EXPECT_EQ(runs[i].out, base.out) << "layout " << i;
      EXPECT_EQ(std::memcmp(runs[i].lse.data(), base.lse.data(), base.lse.size() * 4), 0) << "layout " << i;
      EXPECT_EQ(runs[i].stray, 0u) << "layout " << i;
    }
  }
}

// The two adversarial timings (simt.h) give the same bits: copies landing at their wait with the
// warps in lockstep, and landing at once with one warp running ahead to its barrier. A missing wait
// or barrier around a shared-memory stage changes one of them.
TEST(EmulatedFlashForward, AdversarialTimingsGiveTheSameBits) {
  for (const Case& c : {kCases[0], kCases[2]}) {
    const Inputs in = inputs(c, 13);
    const Layout q = dense(c, c.H, c.Tq), kv = dense(c, c.Hkv, c.Tk);
    const Result lockstep = run(c, in.q, in.k, in.v, q, kv, kv, q);
    const simt::Timing serial_timing(/*lazy_copies=*/false, /*warp_serial=*/true);
    const Result serial = run(c, in.q, in.k, in.v, q, kv, kv, q);
    EXPECT_EQ(serial.out, lockstep.out) << "D" << c.D;
  }
}

// Output rows that would overlap are refused before any launch; odd strides too.
TEST(EmulatedFlashForward, OverlappingOrMisalignedStridesAreRefused) {
  const Case c{1, 4, 4, 8, 8, 64, false};
  const Inputs in = inputs(c, 17);
  const Layout d = rows_of(c, 8, 256, 0);
  const long long before = simt::state().launches;
  EXPECT_THROW(run(c, in.q, in.k, in.v, d, d, d, Layout{0, 0, 2, 256, 8 * 256}),
               rscapret::DeviceError);  // heads 2 apart
  EXPECT_THROW(run(c, in.q, in.k, in.v, d, d, d, Layout{0, 0, 64, 64, 8 * 64 + 256}),
               rscapret::DeviceError);  // heads = rows
  EXPECT_THROW(run(c, in.q, in.k, in.v, d, d, d, Layout{0, 0, 64, 257, 8 * 257}),
               rscapret::DeviceError);  // odd row stride
  EXPECT_THROW(run(c, in.q, in.k, in.v, Layout{0, 0, 64, 260, 8 * 260 + 64}, d, d, d),
               rscapret::DeviceError);  // q not 8-aligned
  EXPECT_EQ(simt::state().launches, before);
  const Result r = run(c, in.q, in.k, in.v, d, d, d, Layout{0, 0, 64, 258, 8 * 258});  // even, padded: allowed
  EXPECT_EQ(r.stray, 0u);
}

}  // namespace
