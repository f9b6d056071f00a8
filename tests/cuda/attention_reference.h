// The attention tests' double-precision reference (forward and backward, full score matrix),
// their cases and tolerances: shared by the GPU tests (test_cuda_attention.cpp) and the emulated
// kernel tests (tests/cuda_emu), so both judge the kernels by the same measure. Host code only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <vector>

#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing::attention {

// f32 path: every sum runs in f32 over at most a few hundred terms (a D-long dot product, then
// Tk-long sums of p v), each step rounding at 6e-8 relative, and the backward's
// ds = p (dp - delta) cancels at most a few bits: ~1e-6 worst seen in an emulation of these
// exact kernels (typical 3e-7), so 1e-5 leaves a 10x margin and still catches any indexing slip.
inline constexpr double kF32Tol = 1e-5;
// bf16 path, against references computed from the same bf16-rounded inputs in double: out is
// rounded to bf16 (2^-9 relative per element, ~1e-3 RMS) after P was rounded to bf16 for P V
// (another ~1e-3); the gradients also pass through bf16 dS and the bf16 out and dout in
// delta = rowsum(dout * out), ~2.5e-3 in emulation. 1e-2 / 2e-2 leave 4-8x margin.
inline constexpr double kBf16OutTol = 1e-2;
inline constexpr double kBf16GradTol = 2e-2;

enum class Mask { none, random, empty_row };  // empty_row: random, and batch row 0 sees no key

struct Case {
  int64_t B, H, Hkv, Tq, Tk, D, Dv;
  bool causal;
  Mask mask;
};
inline std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << "B" << c.B << " H" << c.H << "/" << c.Hkv << " Tq" << c.Tq << " Tk" << c.Tk << " D" << c.D << " Dv"
            << c.Dv << (c.causal ? " causal" : "") << (c.mask == Mask::none ? "" : " key_keep")
            << (c.mask == Mask::empty_row ? " (row 0 empty)" : "");
}

// ---- the reference ----

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

// Softmax attention in double with the full [Tq, Tk] score matrix per head, and its backward:
//   p = softmax(scale q k^T) over the visible keys, out = p v, lse = log sum exp(scale q k^T);
//   dv_j += p_ij dout_i, dp_ij = dout_i . v_j, ds_ij = p_ij (dp_ij - sum_j p_ij dp_ij),
//   dq_i += scale ds_ij k_j, dk_j += scale ds_ij q_i (dk, dv summed over the GQA group).
// A query that sees no key: out 0, lse -inf, no gradient. dout may be null (forward only).
inline Reference reference(const Case& c, double scale, const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v, const bool* keep, const std::vector<float>* dout) {
  Reference r;
  r.out.assign(size_t(c.B * c.H * c.Tq * c.Dv), 0.0);
  r.lse.assign(size_t(c.B * c.H * c.Tq), 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  const int64_t group = c.H / c.Hkv;
  std::vector<double> p(size_t(c.Tq * c.Tk)), dp(size_t(c.Tk));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h) {
      const int64_t qb = (b * c.H + h) * c.Tq, kb = (b * c.Hkv + h / group) * c.Tk;
      for (int64_t i = 0; i < c.Tq; ++i) {
        double* pi = p.data() + i * c.Tk;
        double m = -INFINITY;
        for (int64_t j = 0; j < c.Tk; ++j) {
          const bool vis = (!c.causal || j <= c.Tk - c.Tq + i) && (!keep || keep[b * c.Tk + j]);
          double dot = 0;
          for (int64_t d = 0; d < c.D; ++d)
            dot += double(q[size_t((qb + i) * c.D + d)]) * k[size_t((kb + j) * c.D + d)];
          pi[j] = vis ? dot * scale : -INFINITY;
          m = std::max(m, pi[j]);
        }
        if (m == -INFINITY) {  // no visible key
          for (int64_t j = 0; j < c.Tk; ++j) pi[j] = 0;
          r.lse[size_t(qb + i)] = -INFINITY;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < c.Tk; ++j) sum += pi[j] = std::exp(pi[j] - m);
        for (int64_t j = 0; j < c.Tk; ++j) pi[j] /= sum;
        r.lse[size_t(qb + i)] = m + std::log(sum);
        for (int64_t d = 0; d < c.Dv; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < c.Tk; ++j) acc += pi[j] * v[size_t((kb + j) * c.Dv + d)];
          r.out[size_t((qb + i) * c.Dv + d)] = acc;
        }
        if (!dout) continue;
        const float* go = dout->data() + (qb + i) * c.Dv;
        double delta = 0;
        for (int64_t j = 0; j < c.Tk; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < c.Dv; ++d) acc += double(go[d]) * v[size_t((kb + j) * c.Dv + d)];
          dp[size_t(j)] = acc;
          delta += pi[j] * acc;
        }
        for (int64_t j = 0; j < c.Tk; ++j) {
          if (pi[j] == 0) continue;
          const double ds = scale * pi[j] * (dp[size_t(j)] - delta);
          for (int64_t d = 0; d < c.D; ++d) {
            r.dq[size_t((qb + i) * c.D + d)] += ds * k[size_t((kb + j) * c.D + d)];
            r.dk[size_t((kb + j) * c.D + d)] += ds * q[size_t((qb + i) * c.D + d)];
          }
          for (int64_t d = 0; d < c.Dv; ++d) r.dv[size_t((kb + j) * c.Dv + d)] += pi[j] * double(go[d]);
        }
      }
    }
  return r;
}

// rel_err over the finite reference entries; an entry whose reference is -inf (a query that sees
// no key) must be exactly -inf, else +inf.
inline double lse_err(const std::vector<float>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  std::vector<float> g;
  std::vector<double> r;
  for (size_t i = 0; i < got.size(); ++i) {
    if (ref[i] == -INFINITY) {
      if (got[i] != -INFINITY) return INFINITY;
      continue;
    }
    g.push_back(got[i]);
    r.push_back(ref[i]);
  }
  return rel_err(g, r);
}

// key_keep [B, Tk] as bytes (a std::vector<bool> has no data()): about a third of the keys
// masked; Mask::empty_row masks all of batch row 0.
inline std::vector<unsigned char> make_keep(const Case& c, uint64_t seed) {
  std::vector<unsigned char> keep(size_t(c.B * c.Tk), 1);
  std::mt19937_64 rng(seed);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t j = 0; j < c.Tk; ++j)
      keep[size_t(b * c.Tk + j)] = (c.mask == Mask::empty_row && b == 0) ? 0 : (rng() % 3 != 0);
  return keep;
}

inline double default_scale(const Case& c) { return 1.0 / std::sqrt(double(c.D)); }

}  // namespace rscapret::testing::attention
